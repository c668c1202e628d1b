"""Publishers: how an approved post reaches one target (a Slack channel, or a platform
of `bot.platforms` that publishes: Mastodon, Bluesky…).

Every platform sits behind the same small interface, so the publishing job never knows
which one it talks to, and a platform's publisher (`Connection.publisher`) plugs in by
registering itself for its target kind. Failures are sorted by what they mean for a job
that must never publish twice:

- `PublishRateLimited`: refused before anything happened; try again after `retry_after`
  (`paced`: Vigie's own pacing of a Slack channel, not the platform, held it back).
- `PublishUnavailable`: certainly not published (connection refused, transient error).
- `PublishRejected`: the platform said no; `permanent` when retrying cannot help.
- `PublishOutcomeUnknown`: it may have gone out (a server error, or no answer after
  sending). The job looks for it with `find` on the schedule of the publisher's `doubt`
  (`bot.connectors.doubt`): found → published; certainly absent once the platform can
  no longer create it → sent again where that cannot make a second post, else left
  *unconfirmed* for a human.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.config import PostTarget
from bot.connectors.doubt import Doubt
from bot.platforms import PLATFORMS
from bot.reasons import Reason

# Text limits of each kind, used to check a draft even before its connector is installed.
DEFAULT_LIMITS: dict[str, int] = {"slack": 3000, **{
    p.name: p.text.limit for p in PLATFORMS if p.publishes and p.text is not None}}
KIND_NAMES: dict[str, str] = {"slack": "Slack",
                              **{p.name: p.label for p in PLATFORMS if p.publishes}}


class PublishError(Exception):
    """A publication that did not (certainly) succeed. `reason` is shown to staff in their
    language (`bot.reasons`); `str()` is its English text, for logs."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class PublishRateLimited(PublishError):
    """`paced`: held back by Vigie's own pacing before the platform was called: the
    target simply waits its turn, `retry_after` seconds."""

    def __init__(self, reason: Reason, retry_after: float, *, paced: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.paced = paced


class PublishUnavailable(PublishError):
    """Certainly not published; safe to try again later."""


class PublishRejected(PublishError):
    def __init__(self, reason: Reason, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class PublishOutcomeUnknown(PublishError):
    """May or may not have been published. `answered`: the platform answered (a server
    error), so the request is over; otherwise the answer was lost and the platform may
    still be working on it."""

    def __init__(self, reason: Reason, *, answered: bool = False) -> None:
        super().__init__(reason)
        self.answered = answered


@dataclass(frozen=True)
class Outgoing:
    """What to publish. `key` is unique per post and target: platforms that accept an
    idempotency key get it, and publishers that can search their own output tag with it.
    `attempt_started`: when this attempt began (looks search from there);
    `first_started`: when the first attempt at this target began, the same for every
    attempt (what a fixed record key is derived from)."""

    post_id: int
    target: PostTarget
    text: str
    key: str
    attempt_started: datetime
    first_started: datetime | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    url: str | None = None


class Publisher(Protocol):
    kind: str
    max_length: int  # the platform's usual limit
    doubt: Doubt  # how an unknown outcome is settled (looks, window, resend)

    def limit(self, target: PostTarget) -> int:
        """The longest text `target` accepts (a Mastodon instance may allow more than
        the usual 500). Must answer quickly: drafts are checked within Slack's 3 s."""
        ...

    def length(self, text: str) -> int:
        """The text's length as the platform counts it against `max_length`
        (characters on Slack, grapheme clusters on Bluesky, links as 23 on Mastodon)."""
        ...

    def serves(self, target: PostTarget) -> bool:
        """Can this target be published to as configured now (a channel, an enabled
        account with its credentials)? Checked when a draft is submitted."""
        ...

    def publish(self, outgoing: Outgoing) -> Published:
        """Publish once, or raise one of the `PublishError`s above."""
        ...

    def find(self, outgoing: Outgoing) -> Published | None:
        """After an unknown outcome: the attempt's post if it is there, None if it is
        certainly not there (everything posted since the attempt was read).

        Raise `PublishError` when the platform cannot be asked (try again later), and
        `bot.connectors.doubt.Unproven` when the answer cannot prove absence.
        """
        ...


def outgoing_account(outgoing: Outgoing) -> str:
    """The account a social target speaks for; a target without one is refused for good."""
    account = outgoing.target.account
    if not account:
        raise PublishRejected(Reason("publish.no_account", target=outgoing.target.id),
                              permanent=True)
    return account


class NoPublisher(PublishRejected):
    def __init__(self, kind: str) -> None:
        super().__init__(Reason("publish.no_publisher", platform=KIND_NAMES.get(kind, kind)),
                         permanent=True)


class Publishers:
    """The publisher of each target kind, filled in by the app factory."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Publisher] = {}

    def register(self, publisher: Publisher) -> None:
        self._by_kind[publisher.kind] = publisher

    def get(self, kind: str) -> Publisher:
        publisher = self._by_kind.get(kind)
        if publisher is None:
            raise NoPublisher(kind)
        return publisher

    def has(self, kind: str) -> bool:
        return kind in self._by_kind

    def serves(self, target: PostTarget) -> bool:
        publisher = self._by_kind.get(target.kind)
        return publisher is not None and publisher.serves(target)

    def limit(self, target: PostTarget) -> int:
        publisher = self._by_kind.get(target.kind)
        return publisher.limit(target) if publisher else DEFAULT_LIMITS.get(target.kind, 500)

    def length(self, kind: str, text: str) -> int:
        """`text` measured as the publisher of `kind` counts it (characters if none)."""
        publisher = self._by_kind.get(kind)
        return publisher.length(text) if publisher else len(text)
