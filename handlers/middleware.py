"""Global middleware: Slack retries are answered without running anything twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltResponse

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def register(app: App, vigie: Vigie) -> None:
    def skip_repeated_events(body: dict[str, Any], next: Callable[[], None]
                             ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not vigie.events.first_delivery(str(event_id), vigie.clock.now()):
            log.info("event %s already handled; acknowledging the retry only", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    app.use(skip_repeated_events)
