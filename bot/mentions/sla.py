"""SLA: how long a mention may wait for its first response, and the reminders after.

`SlaPolicy` turns the config (minutes per priority, working hours, time zone) into two
deadlines: the nudge at the delay, the escalation at twice the delay, both counted in
working time. `SlaReminders` holds the scheduler jobs: one nudge and one escalation per
mention, with stable ids (`sla-nudge-42`, `sla-escalate-42`) so rescheduling replaces
rather than duplicates, and a periodic sweep that catches up anything a lost or
misfired job missed. Every reminder is claimed by an atomic `UPDATE … WHERE sla_state =
…` before Slack is called, so a job, the sweep and a second replica can never send the
same reminder twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config, Sla, WorkingHours
from bot.mentions.models import Mention, RelayState, Status
from bot.mentions.qualify_models import MentionTriage, SlaState
from bot.metrics import SLA_BREACHES
from bot.scheduler import Scheduler
from bot.slack import SlackError, SlackGateway, SlackOutcomeUnknown

if TYPE_CHECKING:
    from bot.mentions.qualify import Qualifier

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTIVE = (Status.OPEN, Status.ASSIGNED)  # still waiting for a first response
SWEEP_EVERY = timedelta(minutes=1)
SWEEP_BATCH = 200
NUDGE_JOB, ESCALATE_JOB, SWEEP_JOB = "sla.nudge", "sla.escalate", "sla.sweep"


def add_working_time(start: datetime, delay: timedelta, hours: WorkingHours | None,
                     zone: ZoneInfo) -> datetime:
    """`start` plus `delay`, counting only the working hours (all hours when None)."""
    if hours is None:
        return start + delay
    days = {WEEKDAYS.index(d) for d in hours.days}
    opens, closes = time.fromisoformat(hours.start), time.fromisoformat(hours.end)
    local = start.astimezone(zone)
    remaining = delay
    for _ in range(3700):  # ten years of days: a config without working days is refused
        day = local.date()
        opening = datetime.combine(day, opens, zone)
        closing = datetime.combine(day, closes, zone)
        if day.weekday() in days and local < closing:
            begin = max(local, opening)
            available = closing - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        local = datetime.combine(day + timedelta(days=1), time(0), zone)
    raise ValueError("no working time found")


@dataclass(frozen=True)
class Deadlines:
    nudge_at: datetime
    escalate_at: datetime


class SlaPolicy:
    def __init__(self, config: Config) -> None:
        self._sla: Sla = config.qualify.sla
        self._zone = ZoneInfo(self._sla.timezone or config.newsroom.timezone)

    @property
    def on_call(self) -> list[str]:
        return list(self._sla.on_call)

    def delay(self, priority: str) -> timedelta:
        return timedelta(minutes=self._sla.minutes(priority))

    def deadlines(self, received_at: datetime, priority: str) -> Deadlines:
        delay = self.delay(priority)
        hours = self._sla.working_hours
        return Deadlines(
            nudge_at=add_working_time(received_at, delay, hours, self._zone),
            escalate_at=add_working_time(received_at, 2 * delay, hours, self._zone),
        )


class SlaReminders:
    """The nudge, escalation and sweep jobs, and their scheduling."""

    def __init__(self, *, engine: Engine, clock: Clock, policy: SlaPolicy,
                 scheduler: Scheduler, slack: SlackGateway, qualifier: Qualifier) -> None:
        self._engine = engine
        self._clock = clock
        self._policy = policy
        self._scheduler = scheduler
        self._slack = slack
        self._qualifier = qualifier

    def register(self) -> None:
        self._scheduler.register(NUDGE_JOB, self._nudge_job)
        self._scheduler.register(ESCALATE_JOB, self._escalate_job)
        self._scheduler.register(SWEEP_JOB, self.sweep)

    def start(self) -> None:
        """Schedule the sweep (stable id: a restart replaces it, never adds one)."""
        self._scheduler.every(SWEEP_JOB, SWEEP_JOB, SWEEP_EVERY)

    # -- scheduling ---------------------------------------------------------------------
    def schedule(self, mention_id: int) -> None:
        """(Re)schedule the jobs of a mention from its stored deadlines, or cancel them."""
        with Session(self._engine) as session:
            triage = session.get(MentionTriage, mention_id)
        nudge_id, escalate_id = _job_ids(mention_id)
        if triage is None or triage.sla_state == SlaState.DONE:
            self._scheduler.cancel(nudge_id)
            self._scheduler.cancel(escalate_id)
            return
        if triage.sla_state == SlaState.PENDING and triage.nudge_at:
            self._scheduler.at(NUDGE_JOB, nudge_id, triage.nudge_at, mention_id)
        else:
            self._scheduler.cancel(nudge_id)
        if triage.sla_state in (SlaState.PENDING, SlaState.NUDGED) and triage.escalate_at:
            self._scheduler.at(ESCALATE_JOB, escalate_id, triage.escalate_at, mention_id)
        else:
            self._scheduler.cancel(escalate_id)

    # -- jobs ---------------------------------------------------------------------------
    def _nudge_job(self, mention_id: int) -> None:
        self.nudge(mention_id)

    def _escalate_job(self, mention_id: int) -> None:
        self.escalate(mention_id)

    def nudge(self, mention_id: int) -> bool:
        """Post the one nudge in the card's thread, if it is due and not sent yet."""
        now = self._clock.now()
        if not self._claim(mention_id, now, frm=(SlaState.PENDING,), to=SlaState.NUDGED,
                           due=col(MentionTriage.nudge_at), stamp="nudged_at"):
            return False
        mention = self._active(mention_id)
        if mention is None or not (mention.slack_channel and mention.slack_ts):
            self._release(mention_id, SlaState.NUDGED, SlaState.PENDING, "nudged_at")
            return False
        message = self._qualifier.nudge_message(mention, self._policy.delay(mention.priority))
        try:
            self._slack.post_message(mention.slack_channel, message, thread_ts=mention.slack_ts,
                                     broadcast=mention.assignee_id is None)
        except SlackOutcomeUnknown:
            log.warning("nudge of mention %s may not have reached Slack", mention_id)
        except SlackError as exc:
            log.warning("nudge of mention %s failed (%s); the sweep will retry", mention_id, exc)
            self._release(mention_id, SlaState.NUDGED, SlaState.PENDING, "nudged_at")
            return False
        SLA_BREACHES.labels("nudge").inc()
        log.info("SLA nudge sent for mention %s", mention_id)
        return True

    def escalate(self, mention_id: int) -> bool:
        """Tell the on-call people, once, and mark the mention escalated."""
        now = self._clock.now()
        if not self._claim(mention_id, now, frm=(SlaState.PENDING, SlaState.NUDGED),
                           to=SlaState.ESCALATED, due=col(MentionTriage.escalate_at),
                           stamp="escalated_at"):
            return False
        mention = self._active(mention_id)
        if mention is None or not (mention.slack_channel and mention.slack_ts):
            self._release(mention_id, SlaState.ESCALATED, SlaState.NUDGED, "escalated_at")
            return False
        self._scheduler.cancel(_job_ids(mention_id)[0])
        self._qualifier.escalate_for_sla(mention, self._policy.on_call,
                                         self._policy.delay(mention.priority))
        SLA_BREACHES.labels("escalation").inc()
        log.info("SLA escalation sent for mention %s", mention_id)
        return True

    def sweep(self) -> None:
        """Catch up every reminder that is due: a job lost, misfired or never scheduled."""
        now = self._clock.now()
        with Session(self._engine) as session:
            nudges = session.exec(
                select(MentionTriage.mention_id)
                .where(MentionTriage.sla_state == SlaState.PENDING)
                .where(col(MentionTriage.nudge_at) <= now)
                .order_by(col(MentionTriage.nudge_at)).limit(SWEEP_BATCH)
            ).all()
            escalations = session.exec(
                select(MentionTriage.mention_id)
                .where(col(MentionTriage.sla_state).in_([SlaState.PENDING, SlaState.NUDGED]))
                .where(col(MentionTriage.escalate_at) <= now)
                .order_by(col(MentionTriage.escalate_at)).limit(SWEEP_BATCH)
            ).all()
        for job, mention_ids in ((self.nudge, nudges), (self.escalate, escalations)):
            for mention_id in mention_ids:
                try:
                    job(mention_id)
                except Exception:
                    log.exception("SLA sweep failed on mention %s; the next one retries",
                                  mention_id)

    # -- atomic guards --------------------------------------------------------------------
    def _claim(self, mention_id: int, now: datetime, *, frm: tuple[SlaState, ...],
               to: SlaState, due: Any, stamp: str) -> bool:
        with Session(self._engine) as session:
            result = session.execute(
                update(MentionTriage)
                .where(col(MentionTriage.mention_id) == mention_id)
                .where(col(MentionTriage.sla_state).in_(frm))
                .where(due <= now)
                .values(sla_state=to, **{stamp: now})
            )
            session.commit()
            return int(result.rowcount) == 1  # type: ignore[attr-defined]

    def _release(self, mention_id: int, held: SlaState, back: SlaState, stamp: str) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(MentionTriage)
                .where(col(MentionTriage.mention_id) == mention_id)
                .where(col(MentionTriage.sla_state) == held)
                .values(sla_state=back, **{stamp: None})
            )
            session.commit()

    def _active(self, mention_id: int) -> Mention | None:
        """The mention if it still awaits a first response; otherwise close its SLA."""
        with Session(self._engine, expire_on_commit=False) as session:
            mention = session.get(Mention, mention_id)
            if mention is not None and mention.status in ACTIVE \
                    and mention.first_response_at is None \
                    and mention.relay_state != RelayState.HELD:  # no card of its own
                return mention
            session.execute(update(MentionTriage)
                            .where(col(MentionTriage.mention_id) == mention_id)
                            .values(sla_state=SlaState.DONE))
            session.commit()
        return None


def _job_ids(mention_id: int) -> tuple[str, str]:
    return f"sla-nudge-{mention_id}", f"sla-escalate-{mention_id}"
