"""One error handler for every listener: log with a reference, tell the user politely."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from slack_bolt import App

from bot.i18n import catalogue
from bot.slack import SlackError
from bot.slack_format import Message

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def register(app: App, vigie: Vigie) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        reference = uuid.uuid4().hex[:8]
        log.error("listener failed (ref %s): %s", reference, error, exc_info=error)
        user = body.get("user_id") or (body.get("user") or {}).get("id")
        channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
        if not (user and channel):
            return
        text = catalogue().text(vigie.locale, "errors.generic", ref=reference)
        try:
            vigie.slack.post_ephemeral(channel, user, Message(text=text, blocks=[]))
        except SlackError:
            log.warning("could not tell %s about error %s", user, reference)
