"""The App Home tab: published when someone opens it; Previous / Next page its queue."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.reports.home_view import PAGE_ACTIONS

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def register(app: App, vigie: Vigie) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        vigie.dashboard.opened(event["user"])

    @app.action(re.compile(f"^({'|'.join(PAGE_ACTIONS)})$"))
    def home_page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        try:
            page = int(action.get("value") or 0)
        except ValueError:
            log.warning("home page button with value %r", action.get("value"))
            return
        vigie.dashboard.show_page(body["user"]["id"], page)
