"""Reading Facebook Pages, Instagram and Threads by polling: for an account whose webhook
is not set up, and after downtime so nothing said meanwhile is lost. Every reader returns
the same `MetaItem`s the webhook gives, with the same ids, so the two meet in one dedupe.

Each poll reads the account's most recent posts and what was said under them since the
cursor (the newest time already seen, less `OVERLAP` for Meta's late arrivals: the
dedupe absorbs the repeats). A comment under an older post than the `posts` most recent
is left to the webhook.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.platforms.meta.graph import GraphClient
from bot.platforms.meta.models import MetaItem, obj, parse_time

OVERLAP = timedelta(minutes=2)
RECENT_POSTS = 10
PAGE_SIZE = 50
MAX_PAGES = 5

FB_COMMENT_FIELDS = ("id,from{id,name},message,created_time,parent{id},permalink_url,"
                     "is_hidden")
IG_COMMENT_FIELDS = "id,text,timestamp,username,from{id,username},parent_id,hidden"
IG_COMMENT_WITH_REPLIES = f"{IG_COMMENT_FIELDS},replies{{{IG_COMMENT_FIELDS}}}"
THREADS_FIELDS = ("id,text,username,permalink,timestamp,replied_to,root_post,is_reply,"
                  "hide_status")


@dataclass(frozen=True)
class Polled:
    """What one poll found, oldest first, and the cursor to give the next poll."""

    items: list[MetaItem] = field(default_factory=list)
    cursor: str | None = None


def since_cursor(cursor: str | None) -> datetime | None:
    """The time a poll reads from: the cursor, less the overlap."""
    moment = parse_time(cursor) if cursor else None
    return moment - OVERLAP if moment else None


def _polled(items: Iterable[MetaItem], cursor: str | None) -> Polled:
    seen = sorted(items, key=lambda i: (i.created_at is None, i.created_at, i.item_id))
    unique = list({item.item_id: item for item in seen}.values())
    newest = max((i.created_at for i in unique if i.created_at), default=None)
    old = parse_time(cursor) if cursor else None
    if newest is not None and (old is None or newest > old):
        cursor = newest.isoformat()
    return Polled(unique, cursor)


# -- Facebook Pages -------------------------------------------------------------------------------
def read_page_comments(client: GraphClient, page_id: str, *, cursor: str | None,
                       posts: int = RECENT_POSTS) -> Polled:
    """Comments and replies (`filter=stream`) under the Page's recent posts since the
    cursor. Needs `pages_read_engagement` (and `pages_read_user_content` for visitors'
    names)."""
    since = since_cursor(cursor)
    recent = list(client.pages(f"{page_id}/published_posts",
                               {"fields": "id,created_time,permalink_url", "limit": posts},
                               max_pages=1, needs="pages_read_engagement"))
    items: list[MetaItem] = []
    for post in recent[:posts]:
        params: dict[str, Any] = {"filter": "stream", "order": "reverse_chronological",
                                  "fields": FB_COMMENT_FIELDS, "limit": PAGE_SIZE}
        if since is not None:
            params["since"] = int(since.timestamp())
        for comment in client.pages(f"{post['id']}/comments", params, max_pages=MAX_PAGES,
                                    needs="pages_read_engagement"):
            item = facebook_comment(comment, page_id=page_id, post_id=str(post["id"]))
            if item is not None and (since is None or not item.created_at
                                     or item.created_at >= since):
                items.append(item)
    return _polled(items, cursor)


def facebook_comment(comment: dict[str, Any], *, page_id: str, post_id: str
                     ) -> MetaItem | None:
    """A Graph API Comment as a `MetaItem` (the webhook's shape)."""
    if not comment.get("id"):
        return None
    author = obj(comment.get("from"))
    parent = obj(comment.get("parent"))
    return MetaItem(
        platform="facebook", account_id=page_id, kind="new", item="comment",
        item_id=str(comment["id"]), post_id=post_id,
        parent_id=str(parent["id"]) if parent.get("id") else None,
        author_id=str(author["id"]) if author.get("id") else None,
        author_name=str(author["name"]) if author.get("name") else None,
        text=str(comment.get("message") or ""),
        created_at=parse_time(comment.get("created_time")),
        permalink=str(comment["permalink_url"]) if comment.get("permalink_url") else None,
        hidden=bool(comment["is_hidden"]) if "is_hidden" in comment else None,
        by_account=str(author.get("id") or "") == page_id)


# -- Instagram ------------------------------------------------------------------------------------
def read_instagram_comments(client: GraphClient, ig_user_id: str, *, cursor: str | None,
                            media: int = RECENT_POSTS) -> Polled:
    """Comments and their replies on the account's recent media since the cursor.
    Instagram has no `since` on comments: they are read newest first and filtered.
    Needs `instagram_basic` and `instagram_manage_comments`."""
    since = since_cursor(cursor)
    recent = list(client.pages(f"{ig_user_id}/media",
                               {"fields": "id,timestamp,permalink,comments_count",
                                "limit": media}, max_pages=1, needs="instagram_basic"))
    items: list[MetaItem] = []
    for medium in recent[:media]:
        if medium.get("comments_count") == 0:
            continue
        for comment in client.pages(f"{medium['id']}/comments",
                                    {"fields": IG_COMMENT_WITH_REPLIES, "limit": PAGE_SIZE},
                                    max_pages=MAX_PAGES, needs="instagram_manage_comments"):
            replies = obj(comment.get("replies")).get("data") or []
            for raw in [comment, *replies]:
                item = instagram_comment(raw, ig_user_id=ig_user_id,
                                         media_id=str(medium["id"]),
                                         parent_id=None if raw is comment else str(comment["id"]),
                                         permalink=medium.get("permalink"))
                if item is not None and (since is None or not item.created_at
                                         or item.created_at >= since):
                    items.append(item)
    return _polled(items, cursor)


def instagram_comment(comment: dict[str, Any], *, ig_user_id: str, media_id: str | None,
                      parent_id: str | None = None, permalink: str | None = None
                      ) -> MetaItem | None:
    """A Graph API IG Comment as a `MetaItem`; `permalink` is its media's (Instagram
    gives comments none)."""
    if not comment.get("id"):
        return None
    author = obj(comment.get("from"))
    author_id = str(author["id"]) if author.get("id") else None
    return MetaItem(
        platform="instagram", account_id=ig_user_id, kind="new", item="comment",
        item_id=str(comment["id"]), post_id=media_id,
        parent_id=str(comment.get("parent_id") or parent_id or "") or None,
        author_id=author_id,
        author_name=str(comment.get("username") or author.get("username") or "") or None,
        text=str(comment.get("text") or ""), created_at=parse_time(comment.get("timestamp")),
        permalink=str(permalink) if permalink else None,
        hidden=bool(comment["hidden"]) if "hidden" in comment else None,
        by_account=author_id == ig_user_id)


def read_instagram_mention(client: GraphClient, ig_user_id: str, item: MetaItem) -> MetaItem:
    """A mention from the webhook, completed with its text and author: the comment
    through `mentioned_comment`, or the caption through `mentioned_media` (the only way
    Instagram lets an account read where it was mentioned)."""
    if item.post_id and item.item_id != item.post_id:
        answer = client.get(ig_user_id, {
            "fields": f"mentioned_comment.comment_id({item.item_id})"
                      "{id,text,timestamp,username,from{id,username},media{id,permalink}}"},
            needs="instagram_manage_comments")
        found = answer.get("mentioned_comment") or {}
        text = found.get("text")
    else:
        answer = client.get(ig_user_id, {
            "fields": f"mentioned_media.media_id({item.post_id or item.item_id})"
                      "{id,caption,timestamp,username,permalink}"},
            needs="instagram_manage_comments")
        found = answer.get("mentioned_media") or {}
        text = found.get("caption")
    author = obj(found.get("from"))
    media = obj(found.get("media"))
    return replace(
        item, text=str(text or ""),
        author_id=str(author["id"]) if author.get("id") else item.author_id,
        author_name=str(found.get("username") or author.get("username") or "") or None,
        created_at=parse_time(found.get("timestamp")) or item.created_at,
        permalink=str(found.get("permalink") or media.get("permalink") or "") or None)


# -- Threads --------------------------------------------------------------------------------------
def read_threads_replies(client: GraphClient, user_id: str, *, cursor: str | None,
                         posts: int = RECENT_POSTS) -> Polled:
    """Replies at any depth (`/conversation`) under the profile's recent posts since the
    cursor, the profile's own replies marked `by_account`. Needs `threads_read_replies`."""
    since = since_cursor(cursor)
    me = client.get("me", {"fields": "id,username"})
    username = str(me.get("username") or "")
    recent = list(client.pages(f"{user_id}/threads", {"fields": "id,timestamp",
                                                      "limit": posts}, max_pages=1))
    items: list[MetaItem] = []
    for post in recent[:posts]:
        for reply in client.pages(f"{post['id']}/conversation",
                                  {"fields": THREADS_FIELDS, "reverse": "true",
                                   "limit": PAGE_SIZE}, max_pages=MAX_PAGES,
                                  needs="threads_read_replies"):
            item = threads_media(reply, user_id=user_id, username=username,
                                 root_id=str(post["id"]))
            if item is not None and (since is None or not item.created_at
                                     or item.created_at >= since):
                items.append(item)
    return _polled(items, cursor)


def read_threads_mentions(client: GraphClient, user_id: str, *, cursor: str | None
                          ) -> Polled:
    """Public posts mentioning the profile since the cursor (cursor paging without
    `next`, as Threads documents it). Needs `threads_manage_mentions`."""
    since = since_cursor(cursor)
    items: list[MetaItem] = []
    for media in client.pages(f"{user_id}/mentions", {"fields": THREADS_FIELDS,
                                                      "limit": PAGE_SIZE},
                              max_pages=MAX_PAGES, cursor_only=True,
                              needs="threads_manage_mentions"):
        item = threads_media(media, user_id=user_id, username="", root_id=None,
                             mention=True)
        if item is None:
            continue
        if since is not None and item.created_at and item.created_at < since:
            break  # newest first: the rest is older
        items.append(item)
    return _polled(items, cursor)


def threads_media(media: dict[str, Any], *, user_id: str, username: str,
                  root_id: str | None, mention: bool = False) -> MetaItem | None:
    if not media.get("id"):
        return None
    replied = obj(media.get("replied_to"))
    root = obj(media.get("root_post"))
    root_id = str(root.get("id") or root_id or "") or None
    parent = str(replied.get("id") or "") or None
    author = str(media.get("username") or "") or None
    return MetaItem(
        platform="threads", account_id=user_id, kind="new",
        item="mention" if mention else "comment", item_id=str(media["id"]),
        post_id=root_id, parent_id=parent if parent and parent != root_id else None,
        author_name=author, text=str(media.get("text") or ""),
        created_at=parse_time(media.get("timestamp")),
        permalink=str(media.get("permalink") or "") or None,
        hidden=media.get("hide_status") == "HIDDEN" if media.get("hide_status") else None,
        by_account=bool(username) and author == username)
