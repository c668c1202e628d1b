"""Meta's webhooks (Pages, Instagram, Threads): the subscription handshake, the
signature, and deliveries turned into `MetaItem`s.

The signature is checked on the raw body, before anything is parsed
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started): Meta sends
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the app secret>`. A
delivery whose signature does not match is refused whole: nothing of it is read.

Deliveries:
- Pages, `object=page`, field `feed`: `value.item` comment / post / status, `value.verb`
  add / edited / remove / hide / unhide, ids, `from{id,name}`, `message`,
  `created_time` (https://developers.facebook.com/docs/graph-api/webhooks/reference/page).
  Reactions, likes and shares are ignored. Field `mention`: the Page was mentioned.
- Instagram, `object=instagram`, fields `comments` (id, from, text, media, parent_id) and
  `mentions` (comment_id and/or media_id only: the text is read with
  `bot.platforms.meta.readers.read_instagram_mention`)
  (https://developers.facebook.com/docs/instagram-platform/webhooks/examples).
- Threads: `{"app_id", "topic", "target_id", "time", "values": {"field", "value"}}`,
  fields `replies` and `mentions` (https://developers.facebook.com/docs/threads/webhooks).

Anything else (other objects, fields, items) is skipped; a body that is not a delivery
at all (not JSON, nested too deeply) raises `WebhookRefused` with status 400. Strings are
read as they can be stored: without NUL (PostgreSQL refuses it) and with any lone
surrogate (`"\\ud800"`, valid JSON but not UTF-8) replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

from bot.platforms.meta.models import EventKind, MetaItem, obj, parse_time

SIGNATURE_HEADER = "X-Hub-Signature-256"
_VERBS: dict[str, EventKind] = {"add": "new", "edited": "edited", "edit": "edited",
                                "update": "edited", "remove": "removed",
                                "delete": "removed", "hide": "hidden", "unhide": "unhidden"}


class WebhookRefused(Exception):
    """A request that is not a genuine, readable delivery. `status` is what to answer
    (403: not from Meta; 400: unreadable). The message is for logs."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def signature(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `header` is the body's signature with the app secret (constant time)."""
    if not header or not app_secret or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature(body, app_secret).encode(), header.strip().encode())


def handshake(params: Mapping[str, str], verify_token: str) -> str:
    """The answer to Meta's GET verification: `hub.challenge`, echoed, when
    `hub.mode=subscribe` and `hub.verify_token` is ours."""
    if not verify_token:
        raise WebhookRefused("no verify token is configured", status=403)
    if params.get("hub.mode") != "subscribe":
        raise WebhookRefused("hub.mode is not subscribe", status=400)
    given = str(params.get("hub.verify_token") or "")
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        raise WebhookRefused("hub.verify_token does not match", status=403)
    challenge = params.get("hub.challenge")
    if not challenge:
        raise WebhookRefused("hub.challenge is missing", status=400)
    return str(challenge)


def read_delivery(body: bytes, header: str | None, app_secret: str) -> list[MetaItem]:
    """A signed delivery's items; `WebhookRefused` if unsigned, forged or unreadable."""
    if not verify_signature(body, header, app_secret):
        raise WebhookRefused("X-Hub-Signature-256 does not match the body", status=403)
    return parse_delivery(read_json(body))


def read_json(body: bytes) -> Any:
    """A verified body as JSON with storable strings; `WebhookRefused(400)` when it is
    not JSON or nests deeper than the parser can go (a 500 otherwise)."""
    try:
        return _storable(json.loads(body))
    except RecursionError:
        raise WebhookRefused("the body is nested too deeply", status=400) from None
    except ValueError:  # not JSON, not UTF-8, a number of over 4,300 digits
        raise WebhookRefused("the body is not JSON", status=400) from None


def _storable_text(text: str) -> str:
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _storable(value: Any) -> Any:
    """Every string (keys too) of a parsed document, storable; iterative, as the
    document may be as deep as the parser allows."""
    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = _storable_text(item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            fresh = {_storable_text(k): v for k, v in item.items()}
            container[key] = fresh
            stack.extend((fresh, k) for k in fresh)
    return root[0]


def parse_delivery(payload: Any) -> list[MetaItem]:
    """The items of an already verified delivery, in order."""
    if not isinstance(payload, dict):
        raise WebhookRefused("the delivery is not a JSON object", status=400)
    if "values" in payload and "entry" not in payload:
        return list(_threads(payload))
    kind = payload.get("object")
    entries = payload.get("entry")
    if not isinstance(kind, str) or not isinstance(entries, list):
        raise WebhookRefused("the delivery has no object and entry list", status=400)
    items: list[MetaItem] = []
    for entry in entries:
        if not isinstance(entry, dict) or "id" not in entry:
            raise WebhookRefused("an entry has no id", status=400)
        changes = entry.get("changes") or []
        if not isinstance(changes, list):
            raise WebhookRefused("an entry's changes is not a list", status=400)
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            if kind == "page":
                items.extend(_page(str(entry["id"]), entry, change))
            elif kind == "instagram":
                items.extend(_instagram(str(entry["id"]), entry, change))
    return items


def _page(page_id: str, entry: Mapping[str, Any], change: Mapping[str, Any]
          ) -> Iterator[MetaItem]:
    value: Mapping[str, Any] = change["value"]
    field = change.get("field")
    author = obj(value.get("from"))
    verb = _VERBS.get(str(value.get("verb")))
    if verb is None:
        return
    created = parse_time(value.get("created_time")) or parse_time(entry.get("time"))
    post = obj(value.get("post"))
    if field == "feed" and value.get("item") == "comment" and value.get("comment_id"):
        post_id = _text(value.get("post_id"))
        parent = _text(value.get("parent_id"))
        yield MetaItem(
            platform="facebook", account_id=page_id, kind=verb, item="comment",
            item_id=str(value["comment_id"]), post_id=post_id,
            parent_id=parent if parent and parent != post_id else None,
            author_id=_text(author.get("id")), author_name=_text(author.get("name")),
            text=_text(value.get("message")), created_at=created,
            permalink=_text(post.get("permalink_url")) if not parent or parent == post_id
            else None,
            hidden=True if verb == "hidden" else False if verb == "unhidden" else None,
            by_account=_text(author.get("id")) == page_id)
    elif field == "feed" and value.get("item") in ("post", "status") and value.get("post_id"):
        yield MetaItem(
            platform="facebook", account_id=page_id, kind=verb, item="post",
            item_id=str(value["post_id"]), post_id=str(value["post_id"]),
            author_id=_text(author.get("id")), author_name=_text(author.get("name")),
            text=_text(value.get("message")), created_at=created,
            permalink=_text(value.get("link")) if str(value.get("link") or "").startswith(
                "https://www.facebook.com/") else None,
            by_account=_text(author.get("id")) == page_id)
    elif field == "mention" and value.get("post_id"):
        target = _text(value.get("comment_id")) or str(value["post_id"])
        yield MetaItem(
            platform="facebook", account_id=page_id, kind=verb, item="mention",
            item_id=target, post_id=str(value["post_id"]),
            author_id=_text(value.get("sender_id")),
            author_name=_text(value.get("sender_name")), text=_text(value.get("message")),
            created_at=created)


def _instagram(ig_user_id: str, entry: Mapping[str, Any], change: Mapping[str, Any]
               ) -> Iterator[MetaItem]:
    value: Mapping[str, Any] = change["value"]
    field = change.get("field")
    created = parse_time(value.get("timestamp")) or parse_time(entry.get("time"))
    if field == "comments" and value.get("id"):
        author = obj(value.get("from"))
        media = obj(value.get("media"))
        yield MetaItem(
            platform="instagram", account_id=ig_user_id, kind="new", item="comment",
            item_id=str(value["id"]), post_id=_text(media.get("id")),
            parent_id=_text(value.get("parent_id")), author_id=_text(author.get("id")),
            author_name=_text(author.get("username")), text=_text(value.get("text")),
            created_at=created,
            by_account=_own_instagram(ig_user_id, author))
    elif field == "mentions" and (value.get("comment_id") or value.get("media_id")):
        comment = _text(value.get("comment_id"))
        yield MetaItem(
            platform="instagram", account_id=ig_user_id, kind="new", item="mention",
            item_id=comment or str(value["media_id"]), post_id=_text(value.get("media_id")),
            created_at=created)


def _own_instagram(ig_user_id: str, author: Mapping[str, Any]) -> bool:
    """Written by the account itself: its id, or (Instagram Login) the id Instagram
    scopes to it, `self_ig_scoped_id`, given next to the author's."""
    author_id = _text(author.get("id"))
    own_scoped = _text(author.get("self_ig_scoped_id"))
    return author_id is not None and author_id in (ig_user_id, own_scoped)


def _threads(payload: Mapping[str, Any]) -> Iterator[MetaItem]:
    values = payload.get("values")
    for change in values if isinstance(values, list) else [values]:
        if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
            continue
        field = change.get("field")
        value: Mapping[str, Any] = change["value"]
        if field not in ("replies", "mentions") or not value.get("id"):
            continue
        root = obj(value.get("root_post"))
        replied = obj(value.get("replied_to"))
        # For replies the account is the root post's owner; a mention names only the
        # subscription's target, which is the mentioned profile.
        account = _text(root.get("owner_id")) if field == "replies" else None
        account = account or _text(payload.get("target_id")) or ""
        root_id = _text(root.get("id"))
        parent = _text(replied.get("id"))
        author = _text(value.get("username"))
        # A reply by the profile itself under its own post: the root's owner wrote it.
        own = field == "replies" and author is not None and \
            author == _text(root.get("username"))
        yield MetaItem(
            platform="threads", account_id=account, kind="new",
            item="comment" if field == "replies" else "mention",
            item_id=str(value["id"]), post_id=root_id,
            parent_id=parent if parent and parent != root_id else None,
            author_id=None, author_name=author, text=_text(value.get("text")),
            created_at=parse_time(value.get("timestamp")) or parse_time(payload.get("time")),
            permalink=_text(value.get("permalink")), by_account=own)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if text else None
