"""Everything the posts subject needs, built once by the app factory (`bot.app.build`).

Connectors for other platforms plug in with `feature.publishers.register(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.config import Config
from bot.connectors.publishers import Publishers
from bot.connectors.slack_channel import SlackChannelPublisher
from bot.i18n import Locale
from bot.people import Directory
from bot.posts.jobs import Publishing
from bot.posts.notify import SlackNotices
from bot.posts.service import JOB, SWEEP_JOB, PostDesk
from bot.posts.templates import PostTemplates
from bot.replicas import Heartbeat
from bot.scheduler import Scheduler
from bot.slack import PacedSlack, SlackGateway


@dataclass
class PostsFeature:
    desk: PostDesk
    publishing: Publishing
    notices: SlackNotices
    publishers: Publishers
    clock: Clock
    templates: PostTemplates = field(default_factory=PostTemplates)

    def start(self, scheduler: Scheduler) -> None:
        """Run notices, and the sweep: every `posts.sweep_seconds`, and once right now so
        that what a downtime left behind is handled as soon as this replica leads."""
        self.notices.start()
        every = timedelta(seconds=self.desk.settings.sweep_seconds)
        scheduler.every(SWEEP_JOB, SWEEP_JOB, every, grace=every)
        scheduler.at(SWEEP_JOB, f"{SWEEP_JOB}.startup", self.clock.now(),
                     grace=timedelta(hours=1))

    def stop(self) -> None:
        self.notices.stop()


def build_posts(*, engine: Engine, config: Config, clock: Clock, locale: Locale,
                publish_slack: SlackGateway, ui_slack: SlackGateway, people: Directory,
                scheduler: Scheduler, heartbeat: Heartbeat | None = None) -> PostsFeature:
    """`publish_slack` must not retry on its own (posting is decided by the job);
    `ui_slack` may wait out rate limits (previews, DMs); `heartbeat`: this process's, which
    owns its claims (`bot.replicas`)."""
    publishers = Publishers()
    publishers.register(SlackChannelPublisher(publish_slack))
    notices = SlackNotices(engine=engine, config=config, clock=clock, slack=ui_slack,
                           locale=locale, locale_for=people.locale_for, heartbeat=heartbeat)
    desk = PostDesk(engine=engine, config=config, clock=clock, publishers=publishers,
                    timer=scheduler, notices=notices, roles=people)
    publishing = Publishing(engine=engine, config=config, clock=clock, publishers=publishers,
                            timer=scheduler, notices=notices, heartbeat=heartbeat)
    notices.yield_to = publishing.busy
    if isinstance(publish_slack, PacedSlack):  # waiting for a slot is not being busy
        publish_slack.resting = publishing.resting
    scheduler.register(JOB, publishing.run_due)
    scheduler.register(SWEEP_JOB, publishing.sweep)
    return PostsFeature(desk=desk, publishing=publishing, notices=notices,
                        publishers=publishers, clock=clock)
