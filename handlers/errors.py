"""One error handler for every listener: log with a reference, tell the user politely."""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.response import BoltResponse

from bot.i18n import catalogue
from bot.logs import database_trouble
from bot.slack import SlackError, SlackRejected
from bot.slack_format import Message

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def register(app: App, vigie: Vigie) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any],
                 response: BoltResponse | None) -> BoltResponse | None:
        reference = uuid.uuid4().hex[:8]
        trouble = database_trouble(error)
        if isinstance(error, SlackRejected):
            # Slack said no (an expired trigger_id, a channel gone…): one line, no
            # traceback; nothing in Vigie is broken.
            log.warning("listener failed (ref %s): Slack refused %s", reference, error)
        elif trouble is not None:  # the operator's business, said once: no SQL, no traceback
            log.warning("listener failed (ref %s): database unavailable (%s)", reference,
                        trouble)
        else:
            log.error("listener failed (ref %s): %s", reference, error, exc_info=error)
        user = body.get("user_id") or (body.get("user") or {}).get("id")
        channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
        text = catalogue().text(vigie.locale, "errors.generic", ref=reference)
        if response is not None and body.get("command"):
            # A slash command not yet acknowledged: the answer itself tells the person,
            # instead of Bolt's 500 ("/draft failed with the error…" in Slack).
            return BoltResponse(status=200, body=json.dumps(
                {"response_type": "ephemeral", "text": text}),
                headers={"content-type": "application/json;charset=utf-8"})
        _tell(vigie, user, channel, text, reference)
        if trouble is not None and response is not None:
            # The database is away (restarting, disk full): 503 with Retry-After rather
            # than Bolt's 500. Slack shows the modal's "try again"; an event is sent again.
            return BoltResponse(status=503, body="", headers={"Retry-After": "5"})
        return None


def _tell(vigie: Vigie, user: str | None, channel: str | None, text: str,
          reference: str) -> None:
    """The person's private note with the error's reference, when Slack says where."""
    if not (user and channel):
        return
    try:
        vigie.slack.post_ephemeral(channel, user, Message(text=text, blocks=[]))
    except SlackError:
        log.warning("could not tell %s about error %s", user, reference)
