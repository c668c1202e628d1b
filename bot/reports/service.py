"""Reports: figures and charts for a period, posted on request or every week; exports.

`build` reads the figures (see `queries`), renders the charts, asks each plugged-in
section (posts, replies, exposure…) for its part, and returns the message and the PNGs.
`publish` posts the figures, then the charts in one `files_upload_v2` share.

The weekly report is claimed in `report_run` before Slack is called, and each step
(summary posted, charts shared) is recorded, so the scheduler firing twice, a restart or
a second replica never posts it twice; after a failure a retry posts only what is
missing, looking in the channel first when the last answer from Slack was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock, as_utc
from bot.config import Config
from bot.mentions.staff import StaffPolicy
from bot.people import Directory
from bot.reports import export, formats
from bot.reports import messages as texts
from bot.reports.models import ReportRun, RunState
from bot.reports.queries import (
    SENTIMENTS,
    Scope,
    answered,
    count_received,
    first_response,
    local_midnight,
    open_queue,
    volume,
    week_start,
    workload,
)
from bot.reports.scope import Request, ScopeError, last_days, last_week, parse
from bot.reports.sections import Chart, ReplyLinks, ReportContext, ReportSection
from bot.scheduler import Scheduler
from bot.slack import SlackError, SlackGateway, SlackOutcomeUnknown, SlackRejected, Upload
from bot.slack_format import Message, escape

log = logging.getLogger(__name__)

WEEKLY_JOB, WEEKLY_RETRY = "reports.weekly", "reports-weekly-retry"
TREND_WEEKS = 8  # the first-response chart shows at least this many weeks
RETRY_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 6
STALE_RUN = timedelta(minutes=30)
EVENT_TYPE = "vigie_report"
# Slack answers these when the bot cannot post in a channel: the report goes to a DM.
NOT_HERE = ("not_in_channel", "channel_not_found", "is_archived", "restricted_action",
            "cannot_dm_bot", "method_not_supported_for_channel_type")


@dataclass
class BuiltReport:
    message: Message
    charts: list[Chart] = field(default_factory=list)
    title: str = ""


class Reports:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock, slack: SlackGateway,
                 people: Directory, staff: StaffPolicy, locale: str,
                 scheduler: Scheduler | None = None) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._slack = slack
        self._people = people
        self._staff = staff
        self.locale = locale
        self._scheduler = scheduler
        self.zone = config.newsroom.timezone
        self.accounts = {a.id: a.name for a in config.accounts}
        # Other subjects plug in here (see bot.reports.sections).
        self.sections: list[ReportSection] = []
        self.reply_links: ReplyLinks | None = None
        self.known_channels: Callable[[], set[str]] = self._config_channels
        self._channel_names: dict[str, str] = {}
        self._workspace: str | None = None

    # -- what is asked ----------------------------------------------------------------------
    def request(self, args: list[str], *, here: str | None, default_days: int = 7) -> Request:
        """Parse `/vigie report` or `/vigie export` arguments; raises `ScopeError`."""
        return parse(args, accounts=self.accounts, here=here, channel_named=self.channel_named,
                     default_days=default_days)

    def scope(self, request: Request) -> Scope:
        return last_days(request, self._clock.now(), self.zone)

    def may_see(self, user_id: str, scope: Scope) -> bool:
        """Staff of the scope's channel (or of the mentions channel) and editors."""
        channel = scope.channel or self._config.channels.mentions
        return self._people.is_editor(user_id) or self._staff.may_qualify(user_id, channel)

    def channel_named(self, name: str) -> str | None:
        """The id of a channel Vigie routes to, from its name (`#desk` → C…)."""
        for channel in sorted(self.known_channels()):
            if channel not in self._channel_names:
                try:
                    found = self._slack.channel_name(channel)
                except SlackError as exc:
                    log.info("no name for channel %s: %s", channel, exc)
                    continue
                if found:
                    self._channel_names[channel] = found.lower()
            if self._channel_names.get(channel) == name:
                return channel
        return None

    def _config_channels(self) -> set[str]:
        config = self._config
        found = {config.channels.mentions, *(r.channel for r in config.routes),
                 *(a.channel for a in config.accounts if a.channel)}
        if config.reports.channel:
            found.add(config.reports.channel)
        return found

    # -- building ---------------------------------------------------------------------------
    def name(self, user_id: str) -> str:
        return self._people.person(user_id).name

    def figures(self, scope: Scope) -> texts.ReportFigures:
        last_day = (scope.end - timedelta(microseconds=1)).astimezone(ZoneInfo(self.zone)).date()
        weeks_from = min(scope.start, local_midnight(
            week_start(last_day) - timedelta(weeks=TREND_WEEKS - 1), self.zone))
        length = scope.end - scope.start
        with Session(self._engine) as session:
            counts = volume(session, scope, self.zone)
            previous = count_received(session, scope.shifted(-length))
            rows = answered(session, Scope(weeks_from, scope.end, scope.account, scope.channel),
                            zone=self.zone, period_start=scope.start)
            loads = workload(session, scope, rows)
            queue = open_queue(session, self._clock.now(), scope)
        response = first_response(rows, scope, zone=self.zone, weeks_from=weeks_from)
        return texts.ReportFigures(volume=counts, previous_total=previous, response=response,
                                   loads=loads, queue=queue)

    def scope_label(self, scope: Scope, locale: str) -> str:
        parts = []
        if scope.account:
            parts.append(texts.reply(locale, "scope_account", account=escape(
                self.accounts.get(scope.account, scope.account))))
        if scope.channel:
            parts.append(texts.reply(locale, "scope_channel", channel=f"<#{scope.channel}>"))
        return " · ".join(parts) or texts.reply(locale, "scope_all")

    def build(self, scope: Scope, *, title: str, locale: str | None = None,
              slug: str = "report") -> BuiltReport:
        locale = locale or self.locale
        figures = self.figures(scope)
        tz = ZoneInfo(self.zone)
        first = scope.start.astimezone(tz).date()
        last = (scope.end - timedelta(microseconds=1)).astimezone(tz).date()
        names = self._names()
        context = ReportContext(scope=scope, locale=locale, zone=self.zone, names=names)
        extra: list[dict[str, Any]] = []
        extra_charts: list[Chart] = []
        for section in self.sections:
            try:
                output = section(context)
            except Exception:
                log.exception("report section %r failed; the report goes out without it",
                              section)
                continue
            if output is not None:
                extra.extend(output.blocks)
                extra_charts.extend(output.charts)
        message = texts.report_message(figures, title=title,
                                       scope_label=self.scope_label(scope, locale),
                                       first=first, last=last, names=names,
                                       accounts=self.accounts, locale=locale, extra=extra)
        volume_ = figures.volume
        prefix = f"vigie-{slug}-{last.isoformat()}"

        def chart_title(key: str) -> str:
            return texts.reply(locale, f"chart_{key}")

        from bot.reports import charts  # matplotlib: loaded by the first report

        rendered = [
            charts.stacked_by_day(
                filename=f"{prefix}-sentiment.png", title=chart_title("sentiment"),
                days=volume_.days,
                series={s: volume_.by_sentiment[s] for s in SENTIMENTS},
                labels=lambda s: texts.label(locale, "sentiment", s),
                colours=charts.SENTIMENT_COLOURS, locale=locale),
            charts.stacked_by_day(
                filename=f"{prefix}-source.png", title=chart_title("source"),
                days=volume_.days, series=volume_.by_source, labels=lambda s: s,
                colours=None, locale=locale),
            charts.stacked_by_day(
                filename=f"{prefix}-category.png", title=chart_title("category"),
                days=volume_.days, series=volume_.by_category,
                labels=lambda c: texts.label(locale, "category", c),
                colours=charts.CATEGORY_COLOURS, locale=locale),
            charts.first_response_chart(filename=f"{prefix}-first-response.png",
                                        weeks=figures.response.weeks,
                                        people=figures.response.people, names=names,
                                        locale=locale),
            charts.workload_chart(filename=f"{prefix}-workload.png", loads=figures.loads,
                                  names=names, locale=locale),
        ]
        return BuiltReport(message=message, charts=[*rendered, *extra_charts], title=title)

    def _names(self) -> Callable[[str], str]:
        cache: dict[str, str] = {}

        def names(user_id: str) -> str:
            if user_id not in cache:
                cache[user_id] = self.name(user_id)
            return cache[user_id]

        return names

    # -- posting ----------------------------------------------------------------------------
    def _uploads(self, built: BuiltReport) -> list[Upload]:
        return [Upload(filename=c.filename, content=c.png, title=c.title, alt_text=c.alt_text)
                for c in built.charts]

    def publish(self, built: BuiltReport, channel: str) -> str:
        """Post the figures, then share the charts; the summary's ts."""
        posted = self._slack.post_message(channel, built.message)
        if built.charts:
            self._slack.upload_files(channel, self._uploads(built),
                                     comment=texts.charts_comment(built.title, self.locale))
        return posted.ts

    def on_demand(self, *, user_id: str, channel_id: str, scope: Scope, days: int,
                  tell: Callable[[str], None], user_locale: str) -> None:
        """`/vigie report …`, after the ack: build, post where asked; what Slack will not
        let the bot post there (not a member) goes to the person's DM instead."""
        title = texts.reply(self.locale, "title_days", days=days)
        try:
            built = self.build(scope, title=title)
        except Exception:
            log.exception("could not build the report for %s", user_id)
            tell(texts.reply(user_locale, "failed"))
            return
        target, moved = channel_id, False
        if built.charts and not self._may_share_files(channel_id):
            # Posting alone would work there (chat:write.public), sharing the charts would
            # not: the whole report goes to the DM rather than half of it in the channel.
            try:
                target, moved = self._slack.open_dm(user_id), True
            except SlackError as exc:
                log.warning("could not DM the report to %s: %s", user_id, exc)
                tell(texts.reply(user_locale, "failed"))
                return
        for step in ("summary", "charts"):
            if step == "charts" and not built.charts:
                break
            try:
                self._publish_step(step, built, target)
                continue
            except SlackRejected as exc:
                if exc.error not in NOT_HERE or moved:
                    log.warning("report refused by Slack in %s: %s", target, exc)
                    tell(texts.reply(user_locale, "failed"))
                    return
            except SlackError as exc:
                log.warning("could not post the report in %s: %s", target, exc)
                tell(texts.reply(user_locale, "failed"))
                return
            try:  # not allowed there: the rest goes to the person's DM
                target, moved = self._slack.open_dm(user_id), True
                self._publish_step(step, built, target)
            except SlackError as exc:
                log.warning("could not DM the report to %s: %s", user_id, exc)
                tell(texts.reply(user_locale, "failed"))
                return
        if moved:
            tell(texts.reply(user_locale, "sent_in_dm"))

    def _may_share_files(self, channel: str) -> bool:
        """False when Slack says the bot is not in `channel`; unknown counts as yes (the
        refusal, if any, then moves the rest to the DM)."""
        try:
            return self._slack.is_member(channel)
        except SlackError:
            return True

    def _publish_step(self, step: str, built: BuiltReport, channel: str) -> None:
        if step == "summary":
            self._slack.post_message(channel, built.message)
        else:
            self._slack.upload_files(channel, self._uploads(built),
                                     comment=texts.charts_comment(built.title, self.locale))

    # -- the weekly report -------------------------------------------------------------------
    def schedule(self) -> None:
        """The cron job, in the newsroom's time zone (stable id: a restart replaces it)."""
        reports = self._config.reports
        if self._scheduler is None:
            return
        if not reports.channel:  # a weekly report configured before is not posted any more
            self._scheduler.cancel(WEEKLY_JOB)
            return
        hour, minute = (int(part) for part in reports.time.split(":"))
        self._scheduler.cron(WEEKLY_JOB, WEEKLY_JOB, grace=timedelta(hours=6),
                             day_of_week=reports.day, hour=hour, minute=minute)

    def weekly(self, end: str | None = None) -> bool:
        """The job: post the report of the last seven days once; True if it is done."""
        channel = self._config.reports.channel
        if not channel:
            return False
        now = self._clock.now()
        scope = last_week(now, self.zone) if end is None else _week_ending(end, self.zone)
        key = f"weekly:{scope.end.isoformat()}"
        run = self._claim(key, channel, now)
        if run is None:
            return False
        tz = ZoneInfo(self.zone)
        last = (scope.end - timedelta(microseconds=1)).astimezone(tz).date()
        title = texts.reply(self.locale, "title_weekly",
                            week=formats.date_range(scope.start.astimezone(tz).date(), last,
                                                    self.locale))
        try:
            built = self.build(scope, title=title, slug="weekly")
            message = Message(built.message.text, built.message.blocks,
                              {"event_type": EVENT_TYPE, "event_payload": {"key": key}})
            if run.summary_ts is None and run.summary_uncertain:
                run.summary_ts = self._find_summary(channel, key, run.started_at)
            if run.summary_ts is None:
                self._mark(run, summary_uncertain=True)
                ts = self._slack.post_message(channel, message).ts
                self._mark(run, summary_ts=ts, summary_uncertain=False)
            if not run.charts_done:
                first_file = built.charts[0].filename if built.charts else ""
                if run.charts_uncertain and self._find_charts(channel, first_file,
                                                              run.started_at):
                    self._mark(run, charts_done=True)
                else:
                    self._mark(run, charts_uncertain=True)
                    self._slack.upload_files(channel, self._uploads(built),
                                             comment=texts.charts_comment(title, self.locale))
                    self._mark(run, charts_done=True, charts_uncertain=False)
        except SlackError as exc:
            uncertain = isinstance(exc, SlackOutcomeUnknown)
            self._fail(run, str(exc), keep_uncertain=uncertain)
            self._retry(run, scope.end)
            return False
        except Exception as exc:
            log.exception("weekly report %s failed", key)
            self._fail(run, f"{type(exc).__name__}: {exc}", keep_uncertain=False)
            self._retry(run, scope.end)
            return False
        self._mark(run, state=RunState.DONE, finished_at=self._clock.now(), error=None)
        log.info("weekly report %s posted in %s", key, channel)
        return True

    def _find_summary(self, channel: str, key: str, since: datetime) -> str | None:
        def carries(message: dict[str, Any]) -> bool:
            metadata = message.get("metadata") or {}
            return bool(metadata.get("event_type") == EVENT_TYPE and
                        (metadata.get("event_payload") or {}).get("key") == key)

        return self._slack.find_message(channel, since=since - timedelta(minutes=1),
                                        matches=carries)

    def _find_charts(self, channel: str, filename: str, since: datetime) -> bool:
        def carries(message: dict[str, Any]) -> bool:
            return any(f.get("name") == filename for f in message.get("files") or [])

        return self._slack.find_message(channel, since=since - timedelta(minutes=1),
                                        matches=carries) is not None

    def _claim(self, key: str, channel: str, now: datetime) -> ReportRun | None:
        """This runner's hold on the report `key`, or None if it is done or held."""
        with Session(self._engine, expire_on_commit=False) as session:
            session.add(ReportRun(key=key, channel=channel, started_at=now))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
            else:
                return session.exec(select(ReportRun).where(ReportRun.key == key)).one()
            taken = session.execute(
                update(ReportRun).where(col(ReportRun.key) == key)
                .where(col(ReportRun.attempts) < MAX_ATTEMPTS)
                .where(or_(col(ReportRun.state) == RunState.FAILED,
                           (col(ReportRun.state) == RunState.RUNNING)
                           & (col(ReportRun.started_at) < now - STALE_RUN)))
                .values(state=RunState.RUNNING, started_at=now,
                        attempts=col(ReportRun.attempts) + 1)
            )
            session.commit()
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return session.exec(select(ReportRun).where(ReportRun.key == key)).one()

    def _mark(self, run: ReportRun, **values: Any) -> None:
        for name, value in values.items():
            setattr(run, name, value)
        with Session(self._engine) as session:
            session.execute(update(ReportRun).where(col(ReportRun.id) == run.id).values(**values))
            session.commit()

    def _fail(self, run: ReportRun, error: str, *, keep_uncertain: bool) -> None:
        log.warning("weekly report %s failed (attempt %s): %s", run.key, run.attempts, error)
        values: dict[str, Any] = {"state": RunState.FAILED, "error": error[:512]}
        if not keep_uncertain:
            # Slack certainly refused or never got the last call: nothing to look for.
            values.update(summary_uncertain=False, charts_uncertain=False)
        self._mark(run, **values)

    def _retry(self, run: ReportRun, end: datetime) -> None:
        if self._scheduler is None or run.attempts >= MAX_ATTEMPTS:
            return
        self._scheduler.at(WEEKLY_JOB, WEEKLY_RETRY, self._clock.now() + RETRY_AFTER,
                           end.isoformat())

    # -- exports ----------------------------------------------------------------------------
    def workspace_url(self) -> str | None:
        if self._workspace is None:
            try:
                self._workspace = str(self._slack.auth_test().get("url") or "") or None
            except SlackError as exc:
                log.warning("no workspace URL for card links: %s", exc)
        return self._workspace

    def export(self, scope: Scope, *, locale: str) -> Upload:
        content = export.mentions_csv(self._engine, scope, locale=locale, names=self._names(),
                                      workspace_url=self.workspace_url(),
                                      reply_links=self.reply_links)
        tz = ZoneInfo(self.zone)
        first = scope.start.astimezone(tz).date().isoformat()
        last = (scope.end - timedelta(microseconds=1)).astimezone(tz).date().isoformat()
        name = f"vigie-mentions-{first}_{last}.csv"
        return Upload(filename=name, content=content, title=name)

    def send_export(self, *, user_id: str, scope: Scope, locale: str,
                    tell: Callable[[str], None]) -> None:
        """`/vigie export mentions …`, after the ack: the CSV goes to the person's DM."""
        try:
            upload = self.export(scope, locale=locale)
        except Exception:
            log.exception("could not export mentions for %s", user_id)
            tell(texts.reply(locale, "export_failed"))
            return
        try:
            self._slack.upload_files(self._slack.open_dm(user_id), [upload],
                                     comment=texts.reply(locale, "export_comment",
                                                         label=self.scope_label(scope, locale)))
        except SlackError as exc:
            log.warning("could not send the export to %s: %s", user_id, exc)
            tell(texts.reply(locale, "export_failed"))
            return
        tell(texts.reply(locale, "export_sent"))


def _week_ending(end: str, zone: str) -> Scope:
    stop = as_utc(datetime.fromisoformat(end))
    return Scope(start=local_midnight(stop.astimezone(ZoneInfo(zone)).date()
                                      - timedelta(days=7), zone), end=stop)


__all__ = ["BuiltReport", "Reports", "ScopeError"]
