"""The App Home: each person's dashboard, published when they open it and whenever
something changes for them (a mention assigned to or taken from them, a status they or
their mentions changed).

Refreshes go through a `Refresher`: a person whose mentions change fifty times in a burst
(round-robin during a spike) gets their Home republished once, then at most every
`min_interval` seconds, never once per change; `views.publish` stays far below Slack's
limits. The page of their queue a person chose is kept in `home_state`, so a refresh
(from any replica) shows the same page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import Clock
from bot.config import Config
from bot.moderation.masking import masked
from bot.people import Directory
from bot.reports.export import card_link
from bot.reports.home_view import PER_PAGE, Queue, home_view, section_budget
from bot.reports.models import HomeState
from bot.reports.queries import (
    Glance,
    QueueItem,
    Scope,
    answered_spread,
    glance,
    open_queue,
    person_queue,
)
from bot.reports.sections import Block, HomeSection, Viewer
from bot.slack import SlackError, SlackGateway

if TYPE_CHECKING:
    from bot.mentions.models import Mention
    from bot.mentions.qualify import Applied

log = logging.getLogger(__name__)

GLANCE_DAYS = 7
GLANCE_TTL = 60.0  # seconds the newsroom-wide figures are reused between refreshes
MIN_INTERVAL = 2.0


class Refresher:
    """Coalesces refresh requests per person and publishes them from one thread."""

    def __init__(self, publish: Callable[[str], None], *, min_interval: float = MIN_INTERVAL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._publish = publish
        self._interval = min_interval
        self._monotonic = monotonic
        self._due: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    def touch(self, user_id: str) -> None:
        now = self._monotonic()
        with self._wake:
            due = max(now, self._last.get(user_id, -1e9) + self._interval)
            self._due[user_id] = min(self._due.get(user_id, due), due)
            self._wake.notify()

    def pending(self) -> set[str]:
        with self._wake:
            return set(self._due)

    def run_due(self, *, everything: bool = False) -> list[str]:
        """Publish the Homes that are due (all waiting ones with `everything`)."""
        now = self._monotonic()
        with self._wake:
            users = [u for u, due in self._due.items() if everything or due <= now]
            for user in users:
                del self._due[user]
                self._last[user] = now
        for user in users:
            try:
                self._publish(user)
            except Exception:
                log.exception("could not refresh the Home of %s", user)
        return users

    def start(self) -> None:
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="vigie-home", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
                wait = min((due for due in self._due.values()), default=None)
                delay = None if wait is None else max(0.0, wait - self._monotonic())
                if delay is None or delay > 0:
                    self._wake.wait(delay)
                    continue
            self.run_due()


class Dashboard:
    def __init__(self, *, engine: Engine, clock: Clock, config: Config, slack: SlackGateway,
                 people: Directory, workspace_url: Callable[[], str | None],
                 min_interval: float = MIN_INTERVAL) -> None:
        self._engine = engine
        self._clock = clock
        self._config = config
        self._slack = slack
        self._people = people
        self._workspace_url = workspace_url
        self.zone = config.newsroom.timezone
        # Other subjects plug in here (see bot.reports.sections): posts, exposure…
        self.sections: list[HomeSection] = []
        self.refresher = Refresher(self.publish, min_interval=min_interval)
        self._glance: tuple[float, Glance] | None = None
        self._glance_lock = threading.Lock()

    # -- what a person sees -------------------------------------------------------------------
    def view(self, user_id: str, page: int | None = None) -> dict[str, Any]:
        now = self._clock.now()
        person = self._people.person(user_id)
        viewer = Viewer(user_id=user_id, locale=person.locale,
                        is_editor=self._people.is_editor(user_id), now=now, zone=self.zone)
        with Session(self._engine, expire_on_commit=False) as session:
            if page is None:
                state = session.get(HomeState, user_id)
                page = state.page if state else 0
            total, items = person_queue(session, user_id, now, offset=page * PER_PAGE,
                                        limit=PER_PAGE)
            pages = max(1, -(-total // PER_PAGE))
            if page >= pages:  # the queue shrank under the page: show its last page
                page = pages - 1
                total, items = person_queue(session, user_id, now, offset=page * PER_PAGE,
                                            limit=PER_PAGE)
            channels = open_queue(session, now)
            shown = masked(session, [item.mention for item in items], person.locale)
            items = [QueueItem(mention, item.breached) for mention, item in zip(shown, items,
                                                                                strict=True)]
        figures = self._figures(user_id, now)
        budget = section_budget(len(self.sections))
        extra: list[list[Block]] = []
        for section in self.sections:
            try:
                extra.append(list(section(viewer, budget))[:budget])
            except Exception:
                log.exception("home section %r failed for %s", section, user_id)
        workspace = self._workspace_url()

        def card(mention: Mention) -> str | None:
            return card_link(workspace, mention.slack_channel, mention.slack_ts) or None

        return home_view(viewer=viewer, queue=Queue(total, items, page, pages),
                         channels=channels, glance=figures, extra=extra, card_link=card)

    def _figures(self, user_id: str, now: datetime) -> Glance:
        """The last seven days: newsroom-wide figures shared for a minute, plus yours."""
        scope = Scope(start=now - timedelta(days=GLANCE_DAYS), end=now)
        with self._glance_lock:
            cached = self._glance
        with Session(self._engine) as session:
            if cached is not None and time.monotonic() - cached[0] < GLANCE_TTL:
                shared = cached[1]
            else:
                shared = glance(session, scope)
                with self._glance_lock:
                    self._glance = (time.monotonic(), shared)
            mine = answered_spread(session, scope, user_id)
        return Glance(total=shared.total, sentiments=shared.sentiments,
                      response=shared.response, yours=mine)

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, user_id: str, page: int | None = None) -> None:
        try:
            self._slack.publish_home(user_id, self.view(user_id, page))
        except SlackError as exc:
            log.warning("could not publish the Home of %s: %s", user_id, exc)

    def show_page(self, user_id: str, page: int) -> None:
        """A Previous / Next button: remember the page, then show it."""
        page = max(0, page)
        with Session(self._engine) as session:
            state = session.get(HomeState, user_id)
            if state is None:
                session.add(HomeState(user_id=user_id, page=page, updated_at=self._clock.now()))
            else:
                state.page, state.updated_at = page, self._clock.now()
                session.add(state)
            session.commit()
        self.publish(user_id, page)

    def opened(self, user_id: str) -> None:
        """`app_home_opened`: show it now."""
        self.publish(user_id)

    # -- what changes a Home -------------------------------------------------------------------
    def touch(self, users: Iterable[str | None]) -> None:
        for user in {u for u in users if u and u[:1] in ("U", "W")}:
            self.refresher.touch(user)

    def on_change(self, applied: Applied) -> None:
        """A qualifier change listener: the assignee (old and new) and whoever acted."""
        users: set[str | None] = {applied.mention.assignee_id}
        for entry in applied.entries:
            users.add(entry.actor_id)
            if entry.field == "assignee":
                users.update((entry.old_value, entry.new_value))
        self.touch(users)

    def start(self) -> None:
        self.refresher.start()

    def stop(self) -> None:
        self.refresher.stop()
