"""Moderation actions on the platforms: each platform that can moderate has a
`Moderator` (`bot.platforms`), and this sends each mention's actions to its own.
A platform without one offers nothing: the card shows no "Moderate…"."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.mentions.models import Mention
from bot.moderation.models import ModerationAction
from bot.reasons import Reason

if TYPE_CHECKING:
    from bot.platforms.base import Moderator

log = logging.getLogger(__name__)


class ActionFailed(Exception):
    """The platform refused or could not be reached; nothing is known to have changed.
    `reason` is shown to staff in their language (`bot.reasons`); `str()` is English."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class NotPossible(Exception):
    """This action cannot be done on this mention (the reason is a catalogue key)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Done:
    target: str | None  # the author's account id or DID
    remote_ref: str | None  # block record URI, report id, threadgate URI


class PlatformModerator:
    def __init__(self, moderators: Mapping[str, Moderator]) -> None:
        self._moderators = dict(moderators)

    # -- what can be done ---------------------------------------------------------------------
    def actions_for(self, mention: Mention) -> list[str]:
        """The actions possible on this mention; raises `NotPossible` when none is."""
        return self._moderator(mention.platform).actions_for(mention)

    def can_act(self, mention: Mention) -> bool:
        try:
            return bool(self.actions_for(mention))
        except NotPossible:
            return False

    # -- doing and undoing ---------------------------------------------------------------------
    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        if action not in self.actions_for(mention):
            raise NotPossible("no_platform")
        return self._moderator(mention.platform).perform(mention, action, comment)

    def undo(self, row: ModerationAction) -> None:
        """Lift what the action did (a mute, a block)."""
        self._moderator(row.platform).undo(row)

    def _moderator(self, platform: str) -> Moderator:
        moderator = self._moderators.get(platform)
        if moderator is None:
            raise NotPossible("no_platform")
        return moderator
