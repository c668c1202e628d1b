"""A Meta platform's webhook route (`/webhooks/facebook`, `/webhooks/instagram`): the
GET verification handshake, and signed deliveries turned into mentions.

The signature (`X-Hub-Signature-256`) is checked on the raw body with each configured
app secret before anything is parsed; a delivery no secret signs is refused (403) and
nothing of it is stored. Each item goes to the enabled source of its Page / account;
Meta's retries and the polling meet in intake's dedupe (`MetaItem.external_id`). The
route answers as soon as the items are stored: Meta disables endpoints that answer
slowly, so nothing here waits on Slack.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.platforms.base import WebRequest, WebResponse, WebRoute
from bot.platforms.meta.accounts import MetaAccounts, mention_of
from bot.platforms.meta.models import MetaItem
from bot.platforms.meta.webhook import (
    WebhookRefused,
    handshake,
    parse_delivery,
    read_json,
    verify_signature,
)

if TYPE_CHECKING:
    from bot.config import Source
    from bot.mentions.service import Intake

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024  # Meta batches up to 1,000 changes in one delivery
# Turns an item the delivery does not fully carry (an Instagram mention) into one that
# does; None to skip it.
Complete = Callable[[MetaItem, "Source"], MetaItem | None]


def webhook_routes(accounts: MetaAccounts, intake: Intake, *,
                   complete: Complete | None = None) -> Sequence[WebRoute]:
    path = f"/webhooks/{accounts.platform}"

    def handle(request: WebRequest) -> WebResponse:
        try:
            if request.method == "GET":
                return WebResponse(200, text=_handshake(accounts, request))
            return WebResponse(200, text=_receive(accounts, intake, request, complete))
        except WebhookRefused as refused:
            log.warning("%s webhook refused (%s): %s", accounts.label, refused.status, refused)
            return WebResponse(refused.status, json={"ok": False, "error": str(refused)})

    return [WebRoute(path, ("GET", "POST"), handle, MAX_BODY)]


def _handshake(accounts: MetaAccounts, request: WebRequest) -> str:
    given = str(request.query.get("hub.verify_token") or "")
    tokens = {accounts.secret(s, "verify_token_env") for s in accounts.sources()} - {""}
    if not tokens:
        raise WebhookRefused(f"no {accounts.label} source has a verify token configured",
                             status=403)
    # Each configured token is compared in constant time; the matching one answers.
    token = next((t for t in tokens if hmac.compare_digest(t.encode(), given.encode())),
                 next(iter(tokens)))
    return handshake(request.query, token)


def _receive(accounts: MetaAccounts, intake: Intake, request: WebRequest,
             complete: Complete | None) -> str:
    if len(request.body) > MAX_BODY:
        raise WebhookRefused("the body is too large", status=413)
    header = request.headers.get("x-hub-signature-256")
    sources = accounts.sources()
    signed = [s for s in sources
              if verify_signature(request.body, header, accounts.secret(s, "app_secret_env"))]
    if not signed:
        raise WebhookRefused("X-Hub-Signature-256 does not match the body with any "
                             f"configured {accounts.label} app secret", status=403)
    payload = read_json(request.body)
    stored = duplicates = skipped = 0
    for item in parse_delivery(payload):
        source = next((s for s in signed if s.setting("account_id") == item.account_id), None)
        if source is None or item.platform != accounts.platform:
            skipped += 1
            continue
        outcome = deliver(item, source, intake, complete)
        stored += outcome == "stored"
        duplicates += outcome == "duplicate"
    log.debug("%s webhook: %d stored, %d duplicates, %d skipped", accounts.label, stored,
              duplicates, skipped)
    return "EVENT_RECEIVED"


def deliver(item: MetaItem, source: Source, intake: Intake,
            complete: Complete | None = None) -> str:
    """One item of a delivery into Vigie: a new comment stored (once), a change told on
    its card. "stored", "duplicate", "amended" or "skipped"."""
    if item.by_account:
        return "skipped"  # the account's own replies are not mentions
    if item.kind != "new":
        found = intake.amend(source.id, item.external_id, state=item.kind, text=item.text)
        if found is not None or item.kind != "edited" or not item.text:
            return "amended" if found is not None else "skipped"
        # an edit of a comment Vigie never stored: stored as it now reads
    if complete is not None:
        completed = complete(item, source)
        if completed is None:
            return "skipped"
        item = completed
    if item.text is None and item.item != "comment":
        return "skipped"
    try:
        mention = mention_of(item, source)
    except ValidationError as exc:  # an id over 256 characters, a text over 40,000…
        log.warning("%s item %.80s skipped: %s", source.type, item.item_id,
                    exc.errors(include_url=False, include_input=False)[:1])
        return "skipped"
    result = intake.ingest(source.id, mention)
    return "duplicate" if result.duplicate else "stored"
