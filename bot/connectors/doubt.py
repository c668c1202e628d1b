"""After a send whose outcome is unknown: when to look for the message, and what a look
decides. One rule for scheduled posts and replies (`bot.posts.jobs`, `bot.replies.service`)
on every platform; each platform only says how long it may still create a message and
whether sending again could ever make a second one.

The rule:

- An answer that proves the send was refused before anything happened (4xx, 503, a
  connection never made) is not a doubt: it fails, or is retried, as before.
- The platform *answered* with a server error (500…): the request is over, but it may
  have created the message before failing. Vigie looks at once. Found → published. Not
  there → the platform can no longer create it: sent again, by itself.
- *No answer* (timeout after sending, dropped connection, gateway error 502/504): the
  platform may still be working on the request and create the message later. Vigie
  looks at once, then again `LOOKS` after the send (10 s, 30 s, 1 min, 2 min, 5 min…)
  until the platform's `window` has passed (it may depend on the account's server,
  `Doubt.window_for`: a Mastodon that locks the Idempotency-Key has none). Found at any
  look → published with its link. Still not there at the first look after the window →
  sent again, by itself.
- Sent again only where that cannot make a second message even if a look was wrong
  (`resend_when_absent`): Mastodon gets the same `Idempotency-Key`, Bluesky the same
  record key (each platform's `DOUBT`, in its folder under `bot/platforms/`). Where it
  could (Slack), not there after the window → *unconfirmed*, and a person decides.
- A look that cannot be made (the platform is down) is made again at the next time in
  `LOOKS`; a look that cannot prove absence (more messages since than it can read) waits
  for the window, then leaves it to a person. When the times run out → a person.

Every look and its outcome is stored on the row (state, looks done, next look, until
when the platform may still create it), and each look is claimed like a send, so
restarts and replicas keep to this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

# When to look again, counted from the send. The last ones only matter when a look
# could not be made: after the last, a person decides.
LOOKS: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (10, 30, 60, 120, 300, 600, 900, 1800, 3600))
LOOK_LEASE = timedelta(minutes=5)  # a look in flight longer than this was cut short: redo


class Unproven(Exception):
    """A look was made but cannot prove the message is absent (e.g. more messages were
    posted since than one look reads)."""


class Look(StrEnum):
    FOUND = "found"
    ABSENT = "absent"  # every message since the send was read: it is not there
    UNPROVEN = "unproven"  # asked, but absence cannot be proven
    UNREACHABLE = "unreachable"  # the platform could not be asked


class Step(StrEnum):
    PUBLISHED = "published"  # found: record it with its link
    LOOK = "look"  # look again at `Next.at`
    RESEND = "resend"  # certainly not there, and the platform can no longer create it
    HUMAN = "human"  # unconfirmed: a person checks and decides


@dataclass(frozen=True)
class Next:
    step: Step
    at: datetime | None = None  # for LOOK


@dataclass(frozen=True)
class Doubt:
    """How a platform settles an unknown outcome.

    `window`: after a lost answer, how long the platform may still create the message
    (counted from the send). `resend_when_absent`: sending again cannot make a second
    message, even if the original landed after all (an idempotency key or a fixed record
    key the platform enforces)."""

    platform: str
    window: timedelta
    resend_when_absent: bool
    looks: tuple[timedelta, ...] = LOOKS
    # Where the window depends on the account's server (Mastodon: its version), the
    # window for one account, or None when not known (then `window` holds).
    window_for: Callable[[str], timedelta | None] | None = field(
        default=None, compare=False, repr=False)

    def for_account(self, account: str | None) -> Doubt:
        """The rule for the sends of one account (the platform's own when it does not
        depend on the account, or the account is not known)."""
        if self.window_for is None or not account:
            return self
        window = self.window_for(account)
        return self if window is None else replace(self, window=window, window_for=None)

    def creatable_until(self, sent_at: datetime, *, answered: bool) -> datetime:
        """Until when the platform may create the message of a send made at `sent_at`:
        a server error is the end of the request; a lost answer is not."""
        return sent_at if answered else sent_at + self.window

    def next(self, look: Look, *, sent_at: datetime, creatable_until: datetime,
             now: datetime) -> Next:
        """What to do after a look made at `now`."""
        if look is Look.FOUND:
            return Next(Step.PUBLISHED)
        over = now >= creatable_until
        if look is Look.ABSENT and over:
            return Next(Step.RESEND if self.resend_when_absent else Step.HUMAN)
        if look is Look.UNPROVEN and over:
            return Next(Step.HUMAN)
        later = [sent_at + offset for offset in self.looks if sent_at + offset > now]
        if look is not Look.UNREACHABLE and creatable_until > now:
            later.append(creatable_until)  # one look right when the window closes
        if not later:
            return Next(Step.HUMAN)
        return Next(Step.LOOK, min(later))


# chat.postMessage has no idempotency key: Vigie looks for the message (by its metadata)
# while Slack may still post it, and never sends it again by itself.
SLACK = Doubt("slack", window=timedelta(minutes=2), resend_when_absent=False,
              looks=LOOKS[:6])
