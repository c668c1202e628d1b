"""Hearing a Threads profile: replies under its posts and posts mentioning it, pushed by
Meta's webhook (`/webhooks/threads`) and read by polling (the fallback, and catch-up
after downtime). Both give `MetaItem`s with the same ids, turned into the same
`MentionIn` (`external_id` = `threads:<media id>`), so they meet in intake's dedupe:
one card however often a reply is delivered or read. The profile's own replies are not
relayed."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError

from bot.clock import Clock
from bot.config import Source
from bot.connectors import Fetched, PollState
from bot.mentions.models import Author, MentionIn, PlatformRef
from bot.mentions.service import Intake, UnknownAccount
from bot.platforms.base import WebRequest, WebResponse, WebRoute
from bot.platforms.meta.graph import GraphFailure
from bot.platforms.meta.models import MetaItem
from bot.platforms.meta.readers import read_threads_mentions, read_threads_replies
from bot.platforms.meta.webhook import (
    SIGNATURE_HEADER,
    WebhookRefused,
    handshake,
    parse_delivery,
    read_json,
    verify_signature,
)
from bot.platforms.threads.accounts import ThreadsAccounts, source_failure

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/threads"
MAX_BODY = 256 * 1024


def mention_in(item: MetaItem, source: Source, *, now: datetime) -> MentionIn | None:
    """The mention a reply or a mention of the profile becomes; None for what is not
    relayed (the profile's own replies, edits and removals, an item with nothing to
    show)."""
    if item.by_account or item.kind != "new":
        return None
    text = (item.text or "").strip() or (item.permalink or "")
    if not text:
        return None
    handle = f"@{item.author_name}" if item.author_name else (item.author_id or "threads")
    try:
        return MentionIn(
            external_id=item.external_id, text=text,
            author=Author(handle=handle, name=item.author_name), url=item.permalink,
            created_at=item.created_at or now, account=source.account, platform="threads",
            ref=PlatformRef(id=item.item_id, root_id=item.post_id))
    except ValidationError as exc:
        log.warning("Threads item %.80s skipped: %s", item.item_id,
                    exc.errors(include_url=False, include_input=False)[:1])
        return None


class ThreadsPoller:
    """`(Source, PollState) -> Fetched`: replies under the profile's recent posts and
    mentions since the cursors (one each, kept together as JSON)."""

    def __init__(self, accounts: ThreadsAccounts) -> None:
        self._accounts = accounts

    def __call__(self, source: Source, state: PollState) -> Fetched:
        client = self._accounts.client(source)
        user_id = self._accounts.user_id(source)
        cursors = _cursors(state.cursor)
        try:
            replies = read_threads_replies(client, user_id, cursor=cursors.get("replies"))
        except GraphFailure as failure:
            raise source_failure(failure) from None
        items = list(replies.items)
        cursors["replies"] = replies.cursor
        try:
            mentions = read_threads_mentions(client, user_id, cursor=cursors.get("mentions"))
        except GraphFailure as failure:
            if failure.kind != "permission":
                raise source_failure(failure) from None
            # Replies still come; `vigie check` names the missing permission.
            log.warning("Threads source %s: mentions not read (%s)", source.id, failure)
        else:
            items.extend(mentions.items)
            cursors["mentions"] = mentions.cursor
        found = [m for item in items
                 if (m := mention_in(item, source, now=state.now)) is not None]
        return Fetched(mentions=found, cursor=json.dumps(
            {k: v for k, v in cursors.items() if v}, sort_keys=True))


def _cursors(cursor: str | None) -> dict[str, str | None]:
    try:
        found = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items() if v} if isinstance(found, dict) else {}


class ThreadsWebhook:
    """Meta's calls to `/webhooks/threads`: the GET handshake when the callback URL is
    saved, and signed deliveries. The signature (`X-Hub-Signature-256`, HMAC-SHA256 of
    the raw body with the app secret) is checked with each enabled source's secret
    before anything is read; a forged or unsigned delivery is refused whole (403) and
    nothing is stored. Items go to the source whose `account_id` they are for."""

    def __init__(self, accounts: ThreadsAccounts, intake: Intake, clock: Clock) -> None:
        self._accounts = accounts
        self._intake = intake
        self._clock = clock

    def routes(self) -> Sequence[WebRoute]:
        return [WebRoute(WEBHOOK_PATH, ("GET", "POST"), self.handle, MAX_BODY)]

    def handle(self, request: WebRequest) -> WebResponse:
        if request.method == "GET":
            return self._handshake(request)
        if len(request.body) > MAX_BODY:
            return WebResponse(413, json={"error": "too large"})
        header = request.headers.get(SIGNATURE_HEADER.lower())
        signed = [s for s in self._accounts.sources()
                  if verify_signature(request.body, header,
                                      self._accounts.secret(s, "app_secret_env"))]
        if not signed:
            log.warning("Threads webhook: refused a delivery whose signature matches no "
                        "source's app secret")
            return WebResponse(403, json={"error": "bad signature"})
        try:
            items = parse_delivery(read_json(request.body))
        except WebhookRefused as refused:
            return WebResponse(refused.status, json={"error": str(refused)})
        stored = duplicates = 0
        for item in items:
            source = next((s for s in signed
                           if self._accounts.user_id(s) == item.account_id), None)
            if source is None:
                log.info("Threads webhook: item %s is for profile %s, which no source with "
                         "this app secret listens to", item.item_id, item.account_id)
                continue
            mention = mention_in(item, source, now=self._clock.now())
            if mention is None:
                continue
            try:
                result = self._intake.ingest(source.id, mention)
            except UnknownAccount as exc:
                log.warning("Threads webhook: %s", exc)
                continue
            duplicates += 1 if result.duplicate else 0
            stored += 0 if result.duplicate else 1
        return WebResponse(200, json={"stored": stored, "duplicates": duplicates})

    def _handshake(self, request: WebRequest) -> WebResponse:
        tokens = [t for s in self._accounts.sources()
                  if (t := self._accounts.secret(s, "verify_token_env"))]
        refused = WebhookRefused("no verify token is configured", status=403)
        for token in tokens:
            try:
                return WebResponse(200, text=handshake(request.query, token))
            except WebhookRefused as exc:
                refused = exc
        return WebResponse(refused.status, json={"error": str(refused)})
