"""Speaking on Facebook Pages, Instagram and Threads: reply, hide / unhide, delete,
publish — each returning the id Meta created — and, for the send whose answer was lost,
the look-up that tells whether it happened (`find_*`).

Meta takes no idempotency key. So the rule of `bot.connectors.doubt` applies with
`resend_when_absent=False` for a direct write (a Page reply, an Instagram reply): after
a lost answer the caller looks (`find_*`, matching the exact text by the account since
the send), and a person decides if it is still absent once Meta can no longer create
it. The two-step writes (Instagram and Threads publishing, Threads replies) are safer:
the container is made first, its id kept by the caller, and `publish_container` on a
container Meta already published refuses to publish it twice (`GraphFailure` of kind
`already_published`: the caller then finds the media with `find_*`).

Where a platform cannot do a thing, `*_refusal` says so before anything is sent, as a
reason the card can show: Instagram takes no reply to a hidden comment, and a reply to a
reply goes under the first-level comment; Threads counts 500 characters (emojis as
their UTF-8 bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.connectors.doubt import Unproven
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.meta.models import MetaItem, obj, parse_time
from bot.reasons import Reason

THREADS_MAX_CHARACTERS = 500
INSTAGRAM_MAX_CHARACTERS = 2200
FIND_PAGES = 5
FIND_PAGE = 50
CONTAINER_POLLS = 10
CONTAINER_PAUSE = 3.0  # seconds between container status checks (Meta: up to a minute)
FIND_MARGIN = timedelta(minutes=5)  # Meta's clock may differ from ours


@dataclass(frozen=True)
class Quota:
    """Posts published in the last `window_seconds` and the allowance."""

    used: int
    total: int
    window_seconds: int

    @property
    def left(self) -> int:
        return max(self.total - self.used, 0)


# -- limits and refusals --------------------------------------------------------------------------
def threads_length(text: str) -> int:
    """Threads' count (https://developers.facebook.com/docs/threads/posts): characters,
    with emojis counted as the number of their UTF-8 bytes."""
    return sum(len(c.encode()) if _emoji(c) else 1 for c in text)


def _emoji(char: str) -> bool:
    code = ord(char)
    return code >= 0x1F000 or 0x2600 <= code < 0x2800


def threads_refusal(text: str) -> Reason | None:
    length = threads_length(text)
    if not text.strip():
        return Reason("meta.empty")
    if length > THREADS_MAX_CHARACTERS:
        return Reason("meta.threads_too_long", limit=THREADS_MAX_CHARACTERS, length=length,
                      excess=length - THREADS_MAX_CHARACTERS)
    return None


def instagram_reply_refusal(comment: MetaItem, text: str) -> Reason | None:
    """Why Instagram would not take this reply as meant, before sending it."""
    if not text.strip():
        return Reason("meta.empty")
    if comment.hidden:
        return Reason("meta.instagram_reply_hidden")
    if comment.parent_id:
        return Reason("meta.instagram_reply_to_reply")
    if len(text) > INSTAGRAM_MAX_CHARACTERS:
        return Reason("meta.too_long", platform="Instagram", limit=INSTAGRAM_MAX_CHARACTERS,
                      length=len(text), excess=len(text) - INSTAGRAM_MAX_CHARACTERS)
    return None


# -- Facebook Pages -------------------------------------------------------------------------------
def reply_facebook(client: GraphClient, comment_id: str, text: str) -> str:
    """The Page's reply under a comment (`POST /{comment-id}/comments`); its id."""
    answer = client.post(f"{comment_id}/comments", {"message": text},
                         needs="pages_manage_engagement")
    return str(answer["id"])


def hide_facebook(client: GraphClient, comment_id: str, hidden: bool = True) -> None:
    """Hide (or show again) a comment: hidden from everyone but its author and friends."""
    client.post(comment_id, {"is_hidden": hidden}, needs="pages_manage_engagement")


def delete_facebook(client: GraphClient, object_id: str) -> None:
    client.delete(object_id, needs="pages_manage_engagement")


def publish_facebook(client: GraphClient, page_id: str, text: str, *,
                     link: str | None = None) -> str:
    """A post on the Page (`POST /{page-id}/feed`); its id (`{page-id}_{post-id}`)."""
    answer = client.post(f"{page_id}/feed", {"message": text, "link": link},
                         needs="pages_manage_posts")
    return str(answer["id"])


def find_facebook_reply(client: GraphClient, comment_id: str, *, page_id: str, text: str,
                        since: datetime) -> str | None:
    """The id of the Page's reply with exactly `text` under the comment since `since`,
    or None when every reply since then was read and none is it (`Unproven` if more
    than can be read)."""
    return _find(client.pages(f"{comment_id}/comments", {
        "filter": "stream", "order": "reverse_chronological", "limit": FIND_PAGE,
        "fields": "id,from{id},message,created_time"}, max_pages=FIND_PAGES,
        needs="pages_read_engagement"),
        author=lambda c: str((c.get("from") or {}).get("id") or "") == page_id,
        text=text, since=since, text_field="message", time_field="created_time",
        newest_first=True)


def find_facebook_post(client: GraphClient, page_id: str, *, text: str, since: datetime
                       ) -> str | None:
    """The id of the Page's post with exactly `text` published since `since`."""
    return _find(client.pages(f"{page_id}/published_posts", {
        "fields": "id,message,created_time", "limit": FIND_PAGE}, max_pages=FIND_PAGES,
        needs="pages_read_engagement"),
        author=lambda _: True, text=text, since=since, text_field="message",
        time_field="created_time", newest_first=True)


# -- Instagram ------------------------------------------------------------------------------------
def reply_instagram(client: GraphClient, comment_id: str, text: str) -> str:
    """A reply to a first-level comment (`POST /{ig-comment-id}/replies`); its id."""
    answer = client.post(f"{comment_id}/replies", {"message": text},
                         needs="instagram_manage_comments")
    return str(answer["id"])


def reply_instagram_mention(client: GraphClient, ig_user_id: str, *, media_id: str,
                            comment_id: str | None, text: str) -> str:
    """A reply where the account was mentioned: under the comment, or on the media when
    the mention was in its caption (`POST /{ig-user-id}/mentions`)."""
    answer = client.post(f"{ig_user_id}/mentions", {
        "media_id": media_id, "comment_id": comment_id, "message": text},
        needs="instagram_manage_comments")
    return str(answer["id"])


def hide_instagram(client: GraphClient, comment_id: str, hidden: bool = True) -> None:
    client.post(comment_id, {"hide": hidden}, needs="instagram_manage_comments")


def delete_instagram(client: GraphClient, comment_id: str) -> None:
    client.delete(comment_id, needs="instagram_manage_comments")


def instagram_quota(client: GraphClient, ig_user_id: str) -> Quota:
    """Posts published through the API in the last 24 hours, of 50."""
    answer = client.get(f"{ig_user_id}/content_publishing_limit",
                        {"fields": "quota_usage,config"}, needs="instagram_content_publish")
    return _quota(answer, default_total=50)


def instagram_container(client: GraphClient, ig_user_id: str, *, image_url: str,
                        caption: str) -> str:
    """Step one of publishing: the container Instagram fetches the image into."""
    with _nothing_published():
        answer = client.post(f"{ig_user_id}/media", {"image_url": image_url,
                                                     "caption": caption},
                             needs="instagram_content_publish")
    return str(answer["id"])


@contextmanager
def _nothing_published() -> Iterator[None]:
    """Step one of publishing only makes a container, which no one sees and which expires
    unpublished: whatever became of a call that failed (a 5xx after it was made, no
    answer), nothing was published, so it is safe to start again — not a doubt to look
    into, and never a post marked unconfirmed that never went out."""
    try:
        yield
    except GraphFailure as failure:
        failure.outcome = "not_sent"
        raise


def find_instagram_reply(client: GraphClient, comment_id: str, *, username: str, text: str,
                         since: datetime) -> str | None:
    return _find(client.pages(f"{comment_id}/replies", {
        "fields": "id,text,username,timestamp", "limit": FIND_PAGE}, max_pages=FIND_PAGES,
        needs="instagram_manage_comments"),
        author=lambda c: c.get("username") == username, text=text, since=since,
        text_field="text", time_field="timestamp", newest_first=False)


def find_instagram_post(client: GraphClient, ig_user_id: str, *, caption: str,
                        since: datetime) -> str | None:
    return _find(client.pages(f"{ig_user_id}/media", {
        "fields": "id,caption,timestamp", "limit": FIND_PAGE}, max_pages=FIND_PAGES,
        needs="instagram_basic"),
        author=lambda _: True, text=caption, since=since, text_field="caption",
        time_field="timestamp", newest_first=True)


# -- Threads --------------------------------------------------------------------------------------
def threads_container(client: GraphClient, user_id: str, text: str, *,
                      reply_to: str | None = None) -> str:
    """Step one of a Threads post or reply: a TEXT container. Refused here when the
    text is over Threads' limit, with the count."""
    refusal = threads_refusal(text)
    if refusal is not None:
        raise GraphFailure(refusal, kind="invalid")
    with _nothing_published():
        answer = client.post(f"{user_id}/threads", {"media_type": "TEXT", "text": text,
                                                    "reply_to_id": reply_to},
                             needs="threads_content_publish")
    return str(answer["id"])


def reply_threads(client: GraphClient, user_id: str, reply_to: str, text: str, *,
                  sleep: Callable[[float], None] | None = None) -> str:
    container = threads_container(client, user_id, text, reply_to=reply_to)
    return publish_container(client, user_id, container, platform="threads", sleep=sleep)


def publish_threads(client: GraphClient, user_id: str, text: str, *,
                    sleep: Callable[[float], None] | None = None) -> str:
    container = threads_container(client, user_id, text)
    return publish_container(client, user_id, container, platform="threads", sleep=sleep)


def hide_threads(client: GraphClient, reply_id: str, hidden: bool = True) -> None:
    """Hide (or show again) a reply under one of the profile's posts."""
    client.post(f"{reply_id}/manage_reply", {"hide": hidden}, needs="threads_manage_replies")


def threads_quota(client: GraphClient, user_id: str) -> Quota:
    """Posts published through the API in the last 24 hours, of 250."""
    answer = client.get(f"{user_id}/threads_publishing_limit",
                        {"fields": "quota_usage,config"})
    return _quota(answer, default_total=250)


def find_threads_reply(client: GraphClient, user_id: str, *, reply_to: str, text: str,
                       since: datetime) -> str | None:
    return _find(client.pages(f"{user_id}/replies", {
        "fields": "id,text,timestamp,replied_to", "limit": FIND_PAGE}, max_pages=FIND_PAGES),
        author=lambda c: str((c.get("replied_to") or {}).get("id") or "") == reply_to,
        text=text, since=since, text_field="text", time_field="timestamp",
        newest_first=True)


def find_threads_post(client: GraphClient, user_id: str, *, text: str, since: datetime
                      ) -> str | None:
    return _find(client.pages(f"{user_id}/threads", {
        "fields": "id,text,timestamp", "limit": FIND_PAGE}, max_pages=FIND_PAGES),
        author=lambda _: True, text=text, since=since, text_field="text",
        time_field="timestamp", newest_first=True)


# -- containers (Instagram and Threads publishing) ------------------------------------------------
def container_status(client: GraphClient, container_id: str, *, platform: str) -> str:
    """FINISHED (ready), IN_PROGRESS, PUBLISHED, ERROR or EXPIRED."""
    key = "status" if platform == "threads" else "status_code"
    answer = client.get(container_id, {"fields": key})
    return str(answer.get(key) or "")


def publish_container(client: GraphClient, user_id: str, container_id: str, *,
                      platform: str, sleep: Callable[[float], None] | None = None) -> str:
    """Publish a container once it is ready; its media id. A container already
    published (a lost answer, then this again) is not published twice: `GraphFailure`
    of kind `already_published`, and the caller finds the media with `find_*`."""
    pause = sleep or client.sleep
    status = container_status(client, container_id, platform=platform)
    for _ in range(CONTAINER_POLLS):
        if status != "IN_PROGRESS":
            break
        pause(CONTAINER_PAUSE)
        status = container_status(client, container_id, platform=platform)
    name = "Threads" if platform == "threads" else "Instagram"
    if status == "PUBLISHED":
        raise GraphFailure(Reason("meta.already_published", platform=name),
                           kind="already_published", outcome="answered")
    if status in ("ERROR", "EXPIRED"):
        raise GraphFailure(Reason("meta.container_failed", platform=name, status=status),
                           kind="invalid")
    edge = "threads_publish" if platform == "threads" else "media_publish"
    answer = client.post(f"{user_id}/{edge}", {"creation_id": container_id},
                         needs="threads_content_publish" if platform == "threads"
                         else "instagram_content_publish")
    return str(answer["id"])


# -- inside ---------------------------------------------------------------------------------------
def _quota(answer: dict[str, Any], *, default_total: int) -> Quota:
    data = answer.get("data") if isinstance(answer.get("data"), list) else []
    first = data[0] if data and isinstance(data[0], dict) else {}
    config = obj(first.get("config"))
    return Quota(used=int(first.get("quota_usage") or 0),
                 total=int(config.get("quota_total") or default_total),
                 window_seconds=int(config.get("quota_duration") or 86_400))


def _find(items: Any, *, author: Callable[[dict[str, Any]], bool], text: str,
          since: datetime, text_field: str, time_field: str, newest_first: bool
          ) -> str | None:
    """The first item by `author` with exactly `text` created since `since` (less a
    margin for Meta's clock). Lists read newest first stop at the first older item;
    otherwise all are read. `Unproven` when the pages ran out before the list did."""
    wanted = text.strip()
    start = since - FIND_MARGIN
    read = 0
    for item in items:
        read += 1
        created = parse_time(item.get(time_field))
        if created is not None and created < start:
            if newest_first:
                return None
            continue
        if author(item) and str(item.get(text_field) or "").strip() == wanted:
            return str(item["id"])
    if read >= FIND_PAGES * FIND_PAGE:
        raise Unproven(f"more than {read} items since the attempt")
    return None


__all__ = [
    "INSTAGRAM_MAX_CHARACTERS", "THREADS_MAX_CHARACTERS", "Quota",
    "container_status", "delete_facebook", "delete_instagram", "find_facebook_post",
    "find_facebook_reply", "find_instagram_post", "find_instagram_reply",
    "find_threads_post", "find_threads_reply", "hide_facebook", "hide_instagram",
    "hide_threads", "instagram_container", "instagram_quota", "instagram_reply_refusal",
    "publish_container", "publish_facebook", "publish_threads", "reply_facebook",
    "reply_instagram", "reply_instagram_mention", "reply_threads", "threads_container",
    "threads_length", "threads_quota", "threads_refusal",
]
