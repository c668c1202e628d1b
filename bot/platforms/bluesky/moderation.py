"""Moderation on Bluesky, as the newsroom account the mention was for (atproto, through
`BlueskyClients.call`): the author's DID is the authority of the post's AT URI;
app.bsky.graph.muteActor / unmuteActor; a block is an `app.bsky.graph.block` record in
our repo (createRecord; deleteRecord to undo); com.atproto.moderation.createReport on
the post, proxied to Bluesky's moderation service like the app does; a reply under one
of our own posts is hidden by adding it to the thread's `app.bsky.feed.threadgate`
record (`hiddenReplies`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

from bot.clock import Clock
from bot.config import Source
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import ActionFailed, Done, NotPossible
from bot.platforms.bluesky.client import BlueskyClients, BlueskyFailure
from bot.reasons import Reason

if TYPE_CHECKING:  # the SDK is imported when an account is first used (start-up cost)
    from atproto import Client

BLUESKY_MODERATION = "did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler"
BLOCK = "app.bsky.graph.block"
THREADGATE = "app.bsky.feed.threadgate"
T = TypeVar("T")


class BlueskyModerator:
    def __init__(self, clients: BlueskyClients, clock: Clock) -> None:
        self._clients = clients
        self._clock = clock

    def actions_for(self, mention: Mention) -> list[str]:
        source = self._source(mention)
        actions: list[str] = [ActionKind.MUTE, ActionKind.BLOCK, ActionKind.REPORT]
        if self._our_thread(mention, source):
            actions.append(ActionKind.HIDE)
        return actions

    def undo(self, row: ModerationAction) -> None:
        source = self._clients.for_account(row.account_id)
        if source is None:
            raise NotPossible("no_account")
        from atproto import models

        if row.action == ActionKind.MUTE:
            self._call(source, lambda client, did: client.unmute(str(row.target)))
        elif row.action == ActionKind.BLOCK and row.remote_ref:
            rkey = row.remote_ref.rsplit("/", 1)[-1]
            self._call(source, lambda client, did: client.com.atproto.repo.delete_record(
                models.ComAtprotoRepoDeleteRecord.Data(repo=did, collection=BLOCK, rkey=rkey)))

    def _source(self, mention: Mention) -> Source:
        source = self._clients.for_account(mention.account_id or "") \
            if mention.account_id else None
        if source is None:
            raise NotPossible("no_account")
        return source

    def _our_thread(self, mention: Mention, source: Source) -> bool:
        """Is the mention a reply in a thread that one of our posts starts?"""
        root = mention.root_ref or ""
        if not root.startswith("at://") or root == mention.platform_ref:
            return False
        ours = {did for s, did in self._clients.known_accounts() if s.id == source.id and did}
        handle = (source.handle or "").removeprefix("@").lower()
        authority = root.removeprefix("at://").split("/", 1)[0].lower()
        return authority in ours or authority == handle

    def _call(self, source: Source, action: Callable[[Client, str], T]) -> T:
        try:
            return self._clients.call(source, action)
        except BlueskyFailure as failure:
            raise ActionFailed(failure.reason) from None

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        from atproto import models

        source = self._source(mention)
        uri = mention.platform_ref or ""
        if not uri.startswith("at://"):
            raise ActionFailed(Reason("moderation.no_at_uri"))
        target = uri.removeprefix("at://").split("/", 1)[0]
        now = self._clock.now().astimezone(UTC).isoformat(timespec="milliseconds")
        now = now.replace("+00:00", "Z")
        if action == ActionKind.MUTE:
            self._call(source, lambda client, did: client.mute(target))
            return Done(target, None)
        if action == ActionKind.BLOCK:
            made = self._call(source, lambda client, did: client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=did, collection=BLOCK,
                    record=models.AppBskyGraphBlock.Record(subject=target, created_at=now))))
            return Done(target, str(made.uri))
        if action == ActionKind.REPORT:
            if not mention.platform_cid:
                raise ActionFailed(Reason("moderation.no_cid"))
            subject = models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=mention.platform_cid)
            report = self._call(source, lambda client, did: client.com.atproto.moderation
                                .create_report(models.ComAtprotoModerationCreateReport.Data(
                                    reason_type="com.atproto.moderation.defs#reasonRude",
                                    subject=subject, reason=(comment or "")[:2000] or None),
                                    headers={"atproto-proxy": BLUESKY_MODERATION}))
            return Done(target, str(report.id))
        return Done(target, self._call(source, lambda client, did: _hide(
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
