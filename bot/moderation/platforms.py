"""Moderation actions on the platforms, as the newsroom account the mention was for.

Mastodon (Mastodon.py, through `MastodonClients.for_account`): the author's account id
is read from the status as our instance sees it (`GET /api/v1/statuses/:id`), then
`account_mute` / `account_block` / `report` (with the status, forwarded to the author's
instance), and `account_unmute` / `account_unblock` to undo. Mastodon cannot hide a reply.

Bluesky (atproto, through `BlueskyClients.call`): the author's DID is the authority of
the post's AT URI; app.bsky.graph.muteActor / unmuteActor; a block is an
`app.bsky.graph.block` record in our repo (createRecord; deleteRecord to undo);
com.atproto.moderation.createReport on the post, proxied to Bluesky's moderation
service like the app does; a reply under one of our own posts is hidden by adding it to
the thread's `app.bsky.feed.threadgate` record (`hiddenReplies`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

from bot.clock import Clock
from bot.config import Source
from bot.connectors import SourceFailure
from bot.connectors.bluesky import BlueskyClients, BlueskyFailure
from bot.connectors.mastodon import MastodonClients, translated_errors
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.reasons import Reason

if TYPE_CHECKING:  # the SDKs are imported when an account is first used (start-up cost)
    from atproto import Client
    from mastodon import Mastodon

log = logging.getLogger(__name__)

BLUESKY_MODERATION = "did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler"
BLOCK = "app.bsky.graph.block"
THREADGATE = "app.bsky.feed.threadgate"
T = TypeVar("T")


class ActionFailed(Exception):
    """The platform refused or could not be reached; nothing is known to have changed.
    `reason` is shown to staff in their language (`bot.reasons`); `str()` is English."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class NotPossible(Exception):
    """This action cannot be done on this mention (the reason is a catalogue key)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Done:
    target: str | None  # the author's account id or DID
    remote_ref: str | None  # block record URI, report id, threadgate URI


class PlatformModerator:
    def __init__(self, *, mastodon: MastodonClients, bluesky: BlueskyClients,
                 clock: Clock) -> None:
        self._mastodon = mastodon
        self._bluesky = bluesky
        self._clock = clock

    # -- what can be done ---------------------------------------------------------------------
    def actions_for(self, mention: Mention) -> list[str]:
        """The actions possible on this mention; raises `NotPossible` when none is."""
        if mention.platform == "mastodon":
            self._mastodon_source(mention)
            return [ActionKind.MUTE, ActionKind.BLOCK, ActionKind.REPORT]
        if mention.platform == "bluesky":
            source = self._bluesky_source(mention)
            actions: list[str] = [ActionKind.MUTE, ActionKind.BLOCK, ActionKind.REPORT]
            if self._our_thread(mention, source):
                actions.append(ActionKind.HIDE)
            return actions
        raise NotPossible("no_platform")

    def can_act(self, mention: Mention) -> bool:
        try:
            return bool(self.actions_for(mention))
        except NotPossible:
            return False

    # -- doing and undoing ---------------------------------------------------------------------
    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        if action not in self.actions_for(mention):
            raise NotPossible("no_platform")
        if mention.platform == "mastodon":
            return self._mastodon_do(mention, action, comment)
        return self._bluesky_do(mention, action, comment)

    def undo(self, row: ModerationAction) -> None:
        """Lift a mute or a block."""
        if row.platform == "mastodon":
            _, client = self._mastodon_client(row.account_id)
            with _mastodon_failures():
                if row.action == ActionKind.MUTE:
                    client.account_unmute(row.target)
                elif row.action == ActionKind.BLOCK:
                    client.account_unblock(row.target)
            return
        source = self._bluesky.for_account(row.account_id)
        if source is None:
            raise NotPossible("no_account")
        from atproto import models

        if row.action == ActionKind.MUTE:
            self._bsky(source, lambda client, did: client.unmute(str(row.target)))
        elif row.action == ActionKind.BLOCK and row.remote_ref:
            rkey = row.remote_ref.rsplit("/", 1)[-1]
            self._bsky(source, lambda client, did: client.com.atproto.repo.delete_record(
                models.ComAtprotoRepoDeleteRecord.Data(repo=did, collection=BLOCK, rkey=rkey)))

    # -- Mastodon ---------------------------------------------------------------------------------
    def _mastodon_source(self, mention: Mention) -> tuple[Source, Mastodon]:
        try:
            found = self._mastodon.for_account(mention.account_id or "")
        except SourceFailure:
            found = None
        if found is None or not mention.account_id:
            raise NotPossible("no_account")
        return found

    def _mastodon_client(self, account_id: str) -> tuple[Source, Mastodon]:
        try:
            found = self._mastodon.for_account(account_id)
        except SourceFailure as failure:
            raise ActionFailed(failure.reason) from None
        if found is None:
            raise NotPossible("no_account")
        return found

    def _mastodon_do(self, mention: Mention, action: str, comment: str | None) -> Done:
        _, client = self._mastodon_source(mention)
        if not mention.platform_ref:
            raise ActionFailed(Reason("moderation.no_post_id"))
        with _mastodon_failures():
            status = client.status(mention.platform_ref)
            target = str(status["account"]["id"])
            if action == ActionKind.MUTE:
                client.account_mute(target)
                return Done(target, None)
            if action == ActionKind.BLOCK:
                client.account_block(target)
                return Done(target, None)
            report = client.report(target, status_ids=[mention.platform_ref],
                                   comment=(comment or "")[:1000] or None, forward=True,
                                   category="other")
            return Done(target, str(report["id"]))

    # -- Bluesky ----------------------------------------------------------------------------------
    def _bluesky_source(self, mention: Mention) -> Source:
        source = self._bluesky.for_account(mention.account_id or "") \
            if mention.account_id else None
        if source is None:
            raise NotPossible("no_account")
        return source

    def _our_thread(self, mention: Mention, source: Source) -> bool:
        """Is the mention a reply in a thread that one of our posts starts?"""
        root = mention.root_ref or ""
        if not root.startswith("at://") or root == mention.platform_ref:
            return False
        ours = {did for s, did in self._bluesky.known_accounts() if s.id == source.id and did}
        handle = (source.handle or "").removeprefix("@").lower()
        authority = root.removeprefix("at://").split("/", 1)[0].lower()
        return authority in ours or authority == handle

    def _bsky(self, source: Source, action: Callable[[Client, str], T]) -> T:
        try:
            return self._bluesky.call(source, action)
        except BlueskyFailure as failure:
            raise ActionFailed(failure.reason) from None

    def _bluesky_do(self, mention: Mention, action: str, comment: str | None) -> Done:
        from atproto import models

        source = self._bluesky_source(mention)
        uri = mention.platform_ref or ""
        if not uri.startswith("at://"):
            raise ActionFailed(Reason("moderation.no_at_uri"))
        target = uri.removeprefix("at://").split("/", 1)[0]
        now = self._clock.now().astimezone(UTC).isoformat(timespec="milliseconds")
        now = now.replace("+00:00", "Z")
        if action == ActionKind.MUTE:
            self._bsky(source, lambda client, did: client.mute(target))
            return Done(target, None)
        if action == ActionKind.BLOCK:
            made = self._bsky(source, lambda client, did: client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=did, collection=BLOCK,
                    record=models.AppBskyGraphBlock.Record(subject=target, created_at=now))))
            return Done(target, str(made.uri))
        if action == ActionKind.REPORT:
            if not mention.platform_cid:
                raise ActionFailed(Reason("moderation.no_cid"))
            subject = models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=mention.platform_cid)
            report = self._bsky(source, lambda client, did: client.com.atproto.moderation
                                .create_report(models.ComAtprotoModerationCreateReport.Data(
                                    reason_type="com.atproto.moderation.defs#reasonRude",
                                    subject=subject, reason=(comment or "")[:2000] or None),
                                    headers={"atproto-proxy": BLUESKY_MODERATION}))
            return Done(target, str(report.id))
        return Done(target, self._bsky(source, lambda client, did: _hide(
            client, did, root=mention.root_ref or "", reply=uri, now=now)))


def _hide(client: Client, did: str, *, root: str, reply: str, now: str) -> str:
    """Add `reply` to the hidden replies of the thread `root` (one of our posts)."""
    from atproto import models
    from atproto_client.exceptions import BadRequestError

    rkey = root.rsplit("/", 1)[-1]
    record: dict[str, Any] = {"$type": THREADGATE, "post": root, "createdAt": now}
    try:
        found = client.com.atproto.repo.get_record(
            params={"repo": did, "collection": THREADGATE, "rkey": rkey})
        value = found.value
        existing = value.model_dump(by_alias=True, exclude_none=True) \
            if hasattr(value, "model_dump") else dict(value)
        record.update({k: v for k, v in existing.items() if k != "py_type"})
        record["$type"] = THREADGATE
    except BadRequestError as exc:
        content = getattr(getattr(exc, "response", None), "content", None)
        if getattr(content, "error", None) != "RecordNotFound":
            raise
    hidden = list(record.get("hiddenReplies") or [])
    if reply not in hidden:
        hidden.append(reply)
    record["hiddenReplies"] = hidden[-300:]
    done = client.com.atproto.repo.put_record(models.ComAtprotoRepoPutRecord.Data(
        repo=did, collection=THREADGATE, rkey=rkey, record=record))
    return str(done.uri)


@contextmanager
def _mastodon_failures() -> Iterator[None]:
    """Mastodon.py's exceptions as `ActionFailed`, with what the instance said."""
    try:
        with translated_errors():
            yield
    except SourceFailure as failure:
        raise ActionFailed(failure.reason) from None
