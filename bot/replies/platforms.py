"""Where an answer goes: back to the mention's own platform when Vigie can speak there
(its `Replier`, `bot.platforms`), otherwise "by hand" with the text ready to copy.

Errors are sorted by what happens next: `SendFailed` (certainly not sent; the reason
says why, retrying may work) or `SendUnconfirmed` (it may be on the platform: a server
error, or no answer after sending). `find` then tells whether it is there, and `doubt`
how long the platform may still create it (`bot.connectors.doubt`, the rule shared with
scheduled posts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from bot.config import Config
from bot.connectors.doubt import Doubt
from bot.mentions.models import Mention
from bot.platforms import label, platform
from bot.reasons import Reason
from bot.replies.models import Reply, ReplyKind
from bot.text import grapheme_length

if TYPE_CHECKING:
    from bot.platforms.base import Replier, TextRules

log = logging.getLogger(__name__)

# Platforms Vigie cannot answer on, but whose limit is worth showing to whoever copies.
BY_HAND_LIMITS = {"x": 280, "twitter": 280, "threads": 500, "instagram": 2200,
                  "linkedin": 1250, "youtube": 10_000}
# A reply of a kind no platform answers any more (e.g. one removed from the registry):
# never sent again by itself.
UNKNOWN = Doubt("unknown", window=timedelta(minutes=15), resend_when_absent=False)


class Sent(NamedTuple):
    remote_id: str
    url: str | None


class SendFailed(Exception):
    """Nothing was posted. `reason` is for staff (no secret in it), in their language
    (`bot.reasons`); `str()` is its English text, for logs. With `retry_at`, the reply
    waits (queued, the card says why) and is sent by itself from then on."""

    def __init__(self, reason: Reason, *, retryable: bool = True,
                 retry_at: datetime | None = None) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.retryable = retryable
        self.retry_at = retry_at  # the platform takes it then (a quota reset): it waits


class SendUnconfirmed(Exception):
    """The reply may be on the platform: look for it before anything else. `answered`:
    the platform answered (a server error), so the request is over."""

    def __init__(self, reason: Reason, *, answered: bool = False) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.answered = answered


@dataclass(frozen=True)
class Target:
    """How a mention can be answered, and what counts against which limit. `kind` is
    the name of the platform that sends it (`ReplyKind.BY_HAND`: a person copies it);
    its text rules (`Platform.reply_rules`) say how the text counts."""

    kind: str  # a `ReplyKind`, or the name of a platform added since
    platform: str  # display name
    limit: int | None
    prefix: str = ""  # what Vigie puts in front of the text (Mastodon: "@author ")
    by_hand_reason: str | None = None  # text key: why Vigie cannot send it itself
    visibility: str | None = None
    cost: str | None = None  # what the platform bills for sending it ("$0.015"), if it does
    cost_with_link: str | None = None  # …when the text carries a link

    def final_text(self, text: str) -> str:
        """The text exactly as it goes out."""
        text = text.strip()
        if self.prefix and self.prefix.strip().lower() not in text.lower():
            return f"{self.prefix}{text}"
        return text

    def length(self, text: str) -> int:
        """The final text's length as the platform counts it."""
        return self._count(self.final_text(text))

    def remaining(self) -> int | None:
        """Characters left for the text once Vigie's prefix is counted."""
        if self.limit is None:
            return None
        if not self.prefix:
            return self.limit
        rules = self._rules()
        if rules is not None and rules.count_prefix is not None:
            return self.limit - rules.count_prefix(self.prefix)
        return self.limit - self._count(self.prefix)

    def _rules(self) -> TextRules | None:
        speaker = platform(str(self.kind))
        return speaker.reply_rules() if speaker is not None else None

    def _count(self, text: str) -> int:
        rules = self._rules()
        return rules.count(text) if rules is not None else grapheme_length(text)

    def too_long(self, text: str) -> bool:
        if self.limit is None:
            return False
        rules = self._rules()
        if rules is not None and rules.max_bytes is not None and \
                len(self.final_text(text).encode()) > rules.max_bytes:
            return True
        return self.length(text) > self.limit


def by_hand(mention: Mention, reason: str) -> Target:
    """A person sends it: the text is ready to copy, with the platform's usual limit."""
    name = mention.platform
    return Target(ReplyKind.BY_HAND, label(name), BY_HAND_LIMITS.get(name),
                  by_hand_reason=reason)


class Platforms:
    """Resolves each mention's `Target` and sends replies through the platform's
    `Replier` (`bot.platforms`): those that cannot reply have none."""

    def __init__(self, *, config: Config, repliers: Mapping[str, Replier]) -> None:
        self._config = config
        self._repliers = dict(repliers)

    def target(self, mention: Mention) -> Target:
        replier = self._repliers.get(mention.platform)
        return replier.target(mention) if replier else by_hand(mention, "platform")

    def send(self, reply: Reply, mention: Mention) -> Sent:
        """Send `reply.text` as an answer to `mention`. Raises `SendFailed` or
        `SendUnconfirmed`."""
        return self._replier(reply).send(reply, mention)

    def doubt(self, reply: Reply) -> Doubt:
        """How an unknown outcome of this reply's platform is settled."""
        replier = self._repliers.get(str(reply.kind))
        return replier.doubt.for_account(reply.account_id) if replier else UNKNOWN

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        """The reply on its platform if it is there; None if it certainly is not. Raises
        `SendFailed` when the platform cannot be asked, and `Unproven` when the answer
        cannot prove absence."""
        return self._replier(reply).find(reply, mention)

    def _replier(self, reply: Reply) -> Replier:
        replier = self._repliers.get(str(reply.kind))
        if replier is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        return replier
