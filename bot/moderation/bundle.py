"""The moderate flow's services, built together by `bot.app.build` and used by
`handlers.moderation` (and by the report / App Home of issue 7: `exposure.handled`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.moderation.actions import ModerationActions
from bot.moderation.cards import ModerationCards
from bot.moderation.contests import Contests
from bot.moderation.curation import Curation
from bot.moderation.desks import Desks
from bot.moderation.exposure import Exposure
from bot.moderation.service import Moderation


@dataclass
class Moderate:
    moderation: Moderation
    cards: ModerationCards
    actions: ModerationActions
    desks: Desks
    contests: Contests
    curation: Curation

    @property
    def exposure(self) -> Exposure:
        return self.moderation.exposure
