"""One error handler for every listener: log with a reference, tell the user politely."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.response import BoltResponse

from bot.i18n import catalogue
from bot.listen.admin import NotAnEditor
from bot.logs import database_trouble
from bot.slack import SlackRejected
from bot.slack_format import Message

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def _logged(error: Exception) -> str:
    """Log a listener's failure; the reference told to the user."""
    reference = uuid.uuid4().hex[:8]
    trouble = database_trouble(error)
    if isinstance(error, NotAnEditor):
        # Someone not an editor reached an editors' control (an old view, a crafted
        # click): a refusal that says why, not a crash.
        log.warning("refused (ref %s): %s is not an editor", reference, error)
    elif trouble is not None:  # the operator's business, said once: no SQL, no traceback
        log.warning("listener failed (ref %s): database unavailable (%s)", reference, trouble)
    elif isinstance(error, SlackRejected):
        # Slack said no (an expired trigger_id, a channel gone…): one line, no
        # traceback; nothing in Vigie is broken.
        log.warning("listener failed (ref %s): Slack refused %s", reference, error)
    else:
        log.error("listener failed (ref %s): %s", reference, error, exc_info=error)
    return reference


def _told(vigie: Vigie, error: Exception, reference: str) -> str:
    """What the person is told: why, when it is a refusal; else the reference."""
    if isinstance(error, NotAnEditor):
        return catalogue().text(vigie.locale, "listen.ui.editors_only")
    return catalogue().text(vigie.locale, "errors.generic", ref=reference)


def _tell(vigie: Vigie, body: dict[str, Any], text: str, reference: str, *,
          closed: bool = False) -> None:
    """An ephemeral where the person acted; by direct message for a modal already
    `closed` (acknowledged), which has nowhere else to say it. A modal still open shows
    Slack's own error, and a DM there would only slow the answer down."""
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    if not user or not (channel or closed):
        return
    try:
        if channel:
            vigie.slack.post_ephemeral(channel, user, Message(text=text, blocks=[]))
        else:  # a modal, closed by now: a direct message is where the person will see it
            vigie.slack.direct_message(user, Message(text=text, blocks=[]))
    except Exception as error:  # Slack, or the database its pacing books a slot in
        log.warning("could not tell %s about error %s (%s)", user, reference,
                    type(error).__name__)


@contextmanager
def after_ack(vigie: Vigie, body: dict[str, Any]) -> Iterator[None]:
    """Work a listener does once it has acknowledged: a failure is logged and told to
    the person here, never raised to Bolt. Bolt answers Slack for an acknowledged
    request that then fails with a 500 when its waiting thread looks at the wrong
    moment (slack_bolt's thread runner sets the response to 500 before dropping it):
    Slack then shows "/draft failed" although the request was acknowledged."""
    try:
        yield
    except Exception as error:
        reference = _logged(error)
        _tell(vigie, body, _told(vigie, error, reference), reference, closed=True)


def register(app: App, vigie: Vigie) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any],
                 response: BoltResponse | None) -> BoltResponse | None:
        reference = _logged(error)
        text = _told(vigie, error, reference)
        if response is not None and body.get("command"):
            # A slash command not yet acknowledged: the answer itself tells the person,
            # instead of Bolt's 500 ("/draft failed with the error…" in Slack).
            return BoltResponse(status=200, body=json.dumps(
                {"response_type": "ephemeral", "text": text}),
                headers={"content-type": "application/json;charset=utf-8"})
        _tell(vigie, body, text, reference)
        if database_trouble(error) is not None and response is not None:
            # The database is away (restarting, disk full): 503 with Retry-After rather
            # than Bolt's 500. Slack shows the modal's "try again"; an event is sent again.
            return BoltResponse(status=503, body="", headers={"Retry-After": "5"})
        return None

