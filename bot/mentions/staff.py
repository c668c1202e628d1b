"""Who may qualify a mention: configured user ids, a user group, and/or the members of
the channel the card was routed to (`[qualify.staff]` in the config).

Slack is asked (`usergroups.users.list`, `conversations.members`) and the answers are
kept for a few minutes, so a burst of clicks does not become a burst of API calls. When
Slack cannot answer, the last known list is kept; with none known, the answer is "no":
refusing a click politely is better than letting anyone change the triage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.config import Staff
from bot.slack import SlackError, SlackGateway

log = logging.getLogger(__name__)

TTL_SECONDS = 120.0


class StaffPolicy:
    def __init__(self, *, slack: SlackGateway, staff: Staff,
                 monotonic: Callable[[], float] = time.monotonic, ttl: float = TTL_SECONDS
                 ) -> None:
        self._slack = slack
        self._staff = staff
        self._monotonic = monotonic
        self._ttl = ttl
        self._lists: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def may_qualify(self, user_id: str, channel_id: str | None) -> bool:
        staff = self._staff
        if user_id in staff.users:
            return True
        if staff.usergroup and user_id in self._members(
                f"group:{staff.usergroup}", lambda: self._slack.usergroup_members(
                    staff.usergroup or "")):
            return True
        if staff.channel_members and channel_id:
            return user_id in self._members(
                f"channel:{channel_id}", lambda: self._slack.channel_members(channel_id))
        return False

    def _members(self, key: str, fetch: Callable[[], list[str]]) -> frozenset[str]:
        now = self._monotonic()
        with self._lock:
            cached = self._lists.get(key)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            members = frozenset(fetch())
        except SlackError as exc:
            log.warning("could not list %s: %s", key, exc)
            return cached[1] if cached else frozenset()
        with self._lock:
            self._lists[key] = (now, members)
        return members
