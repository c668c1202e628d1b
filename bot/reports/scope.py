"""`/vigie report` and `/vigie export` arguments: a number of days, an account, a channel.

`7d` (or `7j`), `30d`… up to a year; an account id from the config; a channel as Slack
sends it (`<#C123|desk>`), as an id, as `#name`, or `here`/`ici` for the channel the
command was typed in. Anything else is refused with the list of what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import CHANNEL_ID
from bot.reports.queries import Scope, local_midnight

MAX_DAYS = 366
DEFAULT_DAYS = 7
_DAYS = re.compile(r"^(\d{1,3})[dj]$", re.IGNORECASE)
_CHANNEL_LINK = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
_CHANNEL = re.compile(CHANNEL_ID)
HERE = ("here", "ici")


class ScopeError(ValueError):
    """A bad argument: `key` names the catalogue text, `params` fill it."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Request:
    days: int = DEFAULT_DAYS
    account: str | None = None
    channel: str | None = None


def parse(args: Sequence[str], *, accounts: Mapping[str, str], here: str | None,
          channel_named: Callable[[str], str | None], default_days: int = DEFAULT_DAYS
          ) -> Request:
    days: int | None = None
    account: str | None = None
    channel: str | None = None
    for raw in args:
        word = raw.strip()
        lowered = word.lower()
        found_channel: str | None = None
        if match := _DAYS.match(word):
            if days is not None:
                raise ScopeError("twice", what=word)
            days = int(match.group(1))
            if not 1 <= days <= MAX_DAYS:
                raise ScopeError("days_range", max=MAX_DAYS)
            continue
        if lowered in accounts:
            if account is not None:
                raise ScopeError("twice", what=word)
            account = lowered
            continue
        if lowered in HERE:
            if not here:
                raise ScopeError("no_here")
            found_channel = here
        elif match := _CHANNEL_LINK.match(word):
            found_channel = match.group(1)
        elif _CHANNEL.match(word):
            found_channel = word
        elif word.startswith("#") and len(word) > 1:
            found_channel = channel_named(word[1:].lower())
            if found_channel is None:
                raise ScopeError("unknown_channel", name=word)
        else:
            raise ScopeError("unknown", what=word, accounts=", ".join(sorted(accounts)) or "—")
        if channel is not None:
            raise ScopeError("twice", what=word)
        channel = found_channel
    return Request(days=days or default_days, account=account, channel=channel)


def last_days(request: Request, now: datetime, zone: str) -> Scope:
    """The `days` local calendar days up to now, today included."""
    today = now.astimezone(ZoneInfo(zone)).date()
    start = local_midnight(today - timedelta(days=request.days - 1), zone)
    return Scope(start=start, end=now, account=request.account, channel=request.channel)


def last_week(now: datetime, zone: str) -> Scope:
    """The seven full local days before today: Monday to Sunday when posted on Monday."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return Scope(start=local_midnight(today - timedelta(days=7), zone),
                 end=local_midnight(today, zone))
