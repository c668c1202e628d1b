"""Who is who in Slack: each person's language and whether they are an editor.

Slack is asked (`users.info`, `usergroups.users.list`) and the answers are kept for a few
minutes, so a burst of clicks does not become a burst of API calls, and a change in the
editors' user group is picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Config
from bot.i18n import Locale, locale_of
from bot.slack import SlackError, SlackGateway

log = logging.getLogger(__name__)

TTL_SECONDS = 300.0


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    locale: Locale
    tz: str | None
    is_bot: bool = False
    first_name: str = ""  # from the Slack profile when set there


class Directory:
    def __init__(self, *, slack: SlackGateway, config: Config, default_locale: Locale,
                 monotonic: Callable[[], float] = time.monotonic, ttl: float = TTL_SECONDS
                 ) -> None:
        self._slack = slack
        self._config = config
        self._default = default_locale
        self._monotonic = monotonic
        self._ttl = ttl
        self._people: dict[str, tuple[float, Person]] = {}
        self._editors: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def person(self, user_id: str) -> Person:
        """The person behind `user_id`; if Slack cannot say, a stand-in with defaults."""
        now = self._monotonic()
        with self._lock:
            cached = self._people.get(user_id)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            info = self._slack.user_info(user_id)
        except SlackError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc)
            return Person(user_id, user_id, self._default, None)
        profile = info.get("profile") or {}
        person = Person(
            id=user_id,
            name=str(profile.get("display_name") or info.get("real_name") or info.get("name")
                     or user_id),
            locale=locale_of(info.get("locale"), self._default),
            tz=info.get("tz"),
            is_bot=bool(info.get("is_bot")),
            first_name=_first_name(profile, info),
        )
        with self._lock:
            self._people[user_id] = (now, person)
        return person

    def locale_for(self, user_id: str | None) -> Locale:
        return self.person(user_id).locale if user_id else self._default

    def editors(self) -> frozenset[str]:
        """Editors: the configured user ids plus the members of the editors' user group."""
        now = self._monotonic()
        with self._lock:
            cached = self._editors
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        members = set(self._config.editors.users)
        group = self._config.editors.usergroup
        if group:
            try:
                members.update(self._slack.usergroup_members(group))
            except SlackError as exc:
                log.warning("could not list user group %s: %s", group, exc)
                if cached:
                    return cached[1]  # keep the last known list rather than none
        editors = frozenset(members)
        with self._lock:
            self._editors = (now, editors)
        return editors

    def is_editor(self, user_id: str) -> bool:
        return user_id in self.editors()

    def forget(self) -> None:
        with self._lock:
            self._people.clear()
            self._editors = None


def _first_name(profile: dict[str, object], info: dict[str, object]) -> str:
    """The profile's first name, else the first word of the real name (display names are
    often nicknames)."""
    if profile.get("first_name"):
        return str(profile["first_name"])
    real = str(profile.get("real_name") or info.get("real_name") or "").split()
    return real[0] if real else ""
