"""What the bot can run without, and what it cannot.

Slack being unreachable is a degraded state, not a reason to stop: the webhook intake
and `/healthz` keep serving, mentions wait as *pending* (see `bot.mentions.relay`), and
Slack is asked again with growing delays. Only an answer that can never work (a revoked
or invalid token) stops the bot, since waiting would change nothing.

`Health` is what `/healthz` reports beyond the database; `SlackWatch` keeps its `slack`
part up to date by asking `auth.test`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.slack import SlackError, SlackGateway, SlackRejected

log = logging.getLogger(__name__)

# Slack's answers to a token it will never accept: no retry can help, a person must act.
NEVER_WORKS = frozenset({
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
    "no_permission", "org_login_required", "ekm_access_denied", "team_access_not_granted",
    "not_allowed_token_type", "team_disabled",
})
FIRST_RETRY = 2.0  # seconds; doubled after each failure
LAST_RETRY = 300.0
RECHECK = 60.0  # seconds between two checks while Slack answers


Probe = Callable[[], tuple[str, bool]]


class Health:
    """The state of each part the bot can run without (`slack`: reachable/unreachable),
    set by whoever watches it, or read when asked (`track`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, tuple[str, bool]] = {}
        self._probes: dict[str, Probe] = {}

    def set(self, part: str, state: str, *, ok: bool) -> None:
        with self._lock:
            self._parts[part] = (state, ok)

    def track(self, part: str, probe: Probe) -> None:
        """`probe()` → (state, ok), asked at each report."""
        with self._lock:
            self._probes[part] = probe

    def report(self) -> tuple[dict[str, str], list[str]]:
        """Each part's state, and the parts that are degraded."""
        with self._lock:
            parts = dict(self._parts)
            probes = dict(self._probes)
        parts.update({part: probe() for part, probe in probes.items()})
        return ({part: state for part, (state, _) in parts.items()},
                [part for part, (_, ok) in parts.items() if not ok])


class Backoff:
    """Waits that double from `first` up to `last`, cut short by `stop`."""

    def __init__(self, stop: threading.Event, *, first: float = FIRST_RETRY,
                 last: float = LAST_RETRY) -> None:
        self._stop = stop
        self._first = first
        self._last = last
        self.delay = first

    def reset(self) -> None:
        self.delay = self._first

    def wait(self) -> bool:
        """Sleep the current delay and grow it; False once stopped."""
        stopped = self._stop.wait(self.delay)
        self.delay = min(self.delay * 2, self._last)
        return not stopped


class SlackWatch:
    """Asks Slack `auth.test` in the background: at once, then with growing delays while
    it cannot be reached, then every `recheck` seconds while it answers.

    `on_refused(error)` is called once if Slack refuses the token for good (`NEVER_WORKS`);
    the watch then ends. `wait_first` lets start-up wait briefly for the first answer, so
    a bad token stops the bot before anything runs.
    """

    def __init__(self, slack: SlackGateway, health: Health, *,
                 on_refused: Callable[[str], None], part: str = "slack",
                 first: float = FIRST_RETRY, last: float = LAST_RETRY,
                 recheck: float = RECHECK) -> None:
        self._slack = slack
        self._health = health
        self._on_refused = on_refused
        self._part = part
        self._recheck = recheck
        self._stop = threading.Event()
        self._answered = threading.Event()
        self._backoff = Backoff(self._stop, first=first, last=last)
        self._thread: threading.Thread | None = None
        self.refused: str | None = None
        self.identity: dict[str, Any] | None = None
        health.set(part, "checking", ok=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vigie-slack-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def wait_first(self, timeout: float) -> bool:
        """True once Slack answered or was found unreachable at least once."""
        return self._answered.wait(timeout)

    def _loop(self) -> None:
        reachable: bool | None = None
        while not self._stop.is_set():
            try:
                self.identity = self._slack.auth_test()
            except SlackRejected as exc:
                if exc.error in NEVER_WORKS:
                    self.refused = exc.error
                    self._health.set(self._part, f"refused ({exc.error})", ok=False)
                    self._answered.set()
                    self._on_refused(exc.error)
                    return
                reachable = self._unreachable(exc, reachable)
            except SlackError as exc:
                reachable = self._unreachable(exc, reachable)
            else:
                if reachable is False:
                    log.info("Slack can be reached again")
                reachable = True
                self._health.set(self._part, "reachable", ok=True)
                self._backoff.reset()
                self._answered.set()
                if self._stop.wait(self._recheck):
                    return
                continue
            self._answered.set()
            if not self._backoff.wait():
                return

    def _unreachable(self, exc: SlackError, was: bool | None) -> bool:
        if was is not False:
            log.warning("Slack cannot be reached (%s): /ingest and /healthz keep serving and "
                        "mentions stay pending; trying again with growing delays", exc)
        else:
            log.debug("Slack still unreachable (%s); next try in %g s", exc,
                      self._backoff.delay)
        self._health.set(self._part, "unreachable", ok=False)
        return False
