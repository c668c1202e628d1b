"""Everything the respond subject needs, built once by the app factory (`bot.app.build`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.config import Config
from bot.i18n import Locale
from bot.mentions.qualify import Qualifier
from bot.people import Directory
from bot.platforms.base import Replier
from bot.replicas import Heartbeat
from bot.replies.platforms import Platforms
from bot.replies.service import SWEEP_JOB, ReplyCards, ReplyDesk
from bot.replies.templates import TemplateLibrary
from bot.replies.variables import sample_contexts
from bot.scheduler import Scheduler
from bot.slack import SlackGateway

# Often enough that a reply a killed replica left in flight is looked for within the
# minute (`bot.replicas.ABANDONED_AFTER` + this); a pass is a few indexed queries.
SWEEP_EVERY = timedelta(seconds=15)


@dataclass
class RepliesFeature:
    desk: ReplyDesk
    library: TemplateLibrary

    def start(self, scheduler: Scheduler) -> None:
        scheduler.every(SWEEP_JOB, SWEEP_JOB, SWEEP_EVERY)


def reply_cards(*, engine: Engine, config: Config, locale: Locale) -> ReplyCards:
    """The card wrapper, needed before the qualifier exists."""
    return ReplyCards(engine=engine, config=config, locale=locale)


def build_replies(*, engine: Engine, config: Config, clock: Clock, locale: Locale,
                  qualifier: Qualifier, cards: ReplyCards, people: Directory,
                  slack: SlackGateway, repliers: Mapping[str, Replier],
                  scheduler: Scheduler, heartbeat: Heartbeat | None = None) -> RepliesFeature:
    library = TemplateLibrary(engine=engine, clock=clock, timezone=config.newsroom.timezone,
                              samples=lambda template_locale: sample_contexts(
                                  config, template_locale))
    platforms = Platforms(config=config, repliers=repliers)
    desk = ReplyDesk(engine=engine, config=config, clock=clock, locale=locale,
                     qualifier=qualifier, platforms=platforms, library=library, people=people,
                     slack=slack, cards=cards, heartbeat=heartbeat)
    scheduler.register(SWEEP_JOB, desk.sweep)
    return RepliesFeature(desk=desk, library=library)
