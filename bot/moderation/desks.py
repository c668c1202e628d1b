"""Forward a mention to a desk (`[[desks]]`: the newsroom, legal, audience relations…).

The delegation row is written first; then the desk's channel gets a message with the
mention (masked if abusive), the note and "We've got it" / "Answered"; the card shows
the forward and its outcome. "Answered" also answers the mention (the qualify flow's
status, so its SLA reminders stop and whoever flagged it is told).

Unanswered delegations follow the SLA reminders: the same delays per priority and the
same working hours (`[qualify.sla]`), counted from the forward: a nudge in the desk
message's thread at the delay, then at twice the delay a note in the card's thread and a
DM to whoever forwarded it. Jobs have stable ids and every reminder is claimed by an
atomic state change first; a sweep every minute posts what Slack refused and catches up
missed reminders.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.i18n import Locale
from bot.mentions.models import Status
from bot.mentions.qualify import Change, Qualifier, QualifyConflict
from bot.mentions.qualify_messages import format_delay
from bot.mentions.qualify_models import ChangeSource
from bot.mentions.sla import SlaPolicy
from bot.moderation import messages
from bot.moderation.masking import author_key, kinds_of
from bot.moderation.models import Delegation, DelegationState, MentionModeration, ReminderState
from bot.moderation.service import Moderation, touch, write_log
from bot.people import Directory
from bot.scheduler import Scheduler
from bot.slack import SlackError, SlackGateway
from bot.slack_format import Message

log = logging.getLogger(__name__)

NUDGE_JOB, ESCALATE_JOB, SWEEP_JOB = "desk.nudge", "desk.escalate", "desk.sweep"
ACTIVE = (Status.OPEN, Status.ASSIGNED, Status.ESCALATED)
MAX_POSTS = 8


class Desks:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock, locale: Locale,
                 slack: SlackGateway, people: Directory, moderation: Moderation,
                 qualifier: Qualifier, scheduler: Scheduler) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._locale = locale
        self._slack = slack
        self._people = people
        self._moderation = moderation
        self._qualifier = qualifier
        self._scheduler = scheduler
        self._policy = SlaPolicy(config)

    def register(self) -> None:
        self._scheduler.register(NUDGE_JOB, self._nudge_job)
        self._scheduler.register(ESCALATE_JOB, self._escalate_job)
        self._scheduler.register(SWEEP_JOB, self.sweep)

    def start(self) -> None:
        self._scheduler.every(SWEEP_JOB, SWEEP_JOB, timedelta(minutes=1))

    # -- forward --------------------------------------------------------------------------------
    def forward(self, mention_id: int, desk_id: str, *, note: str | None, actor: str,
                channel_id: str) -> str:
        """"forwarded" | "refused" | "missing" | "unknown_desk"."""
        mention = self._moderation.get(mention_id)
        if mention is None:
            return "missing"
        desk = self._config.desk(desk_id)
        if desk is None:
            return "unknown_desk"
        if not self._moderation.staff.may_qualify(actor, mention.channel_id):
            self._moderation.tell(channel_id, actor, "refused")
            return "refused"
        now = self._clock.now()
        deadlines = self._policy.deadlines(now, mention.priority)
        with Session(self._engine, expire_on_commit=False) as session:
            delegation = Delegation(
                mention_id=mention_id, desk_id=desk.id, desk_channel=desk.channel,
                note=(note or "").strip()[:2000] or None, by=actor, at=now,
                state=DelegationState.FORWARDED, nudge_at=deadlines.nudge_at,
                escalate_at=deadlines.escalate_at)
            session.add(delegation)
            session.flush()
            write_log(session, at=now, actor=actor, action="forwarded", mention_id=mention_id,
                      author=author_key(mention.author_handle), detail=desk.id)
            touch(session, mention_id)
            session.commit()
        delegation_id = delegation.id or 0
        self._moderation.refresh_card(mention_id)
        if self._post(delegation_id):
            self._moderation.tell(channel_id, actor, "forwarded", desk=desk.name)
        else:
            self._moderation.tell(channel_id, actor, "forward_failed", reason="Slack")
        self._schedule(delegation_id)
        return "forwarded"

    def _render(self, delegation: Delegation) -> Message:
        mention = self._moderation.get(delegation.mention_id)
        assert mention is not None
        with Session(self._engine) as session:
            kinds = kinds_of(session.get(MentionModeration, mention.id))
        desk = self._config.desk(delegation.desk_id)
        account = self._config.account(mention.account_id)
        card_url = None
        if mention.slack_channel and mention.slack_ts:
            try:
                card_url = self._slack.permalink(mention.slack_channel, mention.slack_ts)
            except SlackError:
                card_url = None
        return messages.desk_message(
            mention, delegation, desk=desk.name if desk else delegation.desk_id,
            account=account.name if account else "—", kinds=kinds, card_url=card_url,
            locale=self._locale)

    def _post(self, delegation_id: int) -> bool:
        delegation = self.get(delegation_id)
        if delegation is None or delegation.desk_ts:
            return True
        try:
            posted = self._slack.post_message(delegation.desk_channel, self._render(delegation))
        except SlackError as exc:
            log.warning("could not post delegation %s to %s: %s", delegation_id,
                        delegation.desk_channel, exc)
            self._save(delegation_id, post_attempts=delegation.post_attempts + 1)
            return False
        self._save(delegation_id, desk_ts=posted.ts)
        return True

    # -- the desk's controls -------------------------------------------------------------------
    def taken(self, delegation_id: int, *, actor: str) -> bool:
        return self._advance(delegation_id, actor=actor, to=DelegationState.TAKEN,
                             frm=(DelegationState.FORWARDED,))

    def answered(self, delegation_id: int, *, actor: str) -> bool:
        done = self._advance(delegation_id, actor=actor, to=DelegationState.ANSWERED,
                             frm=(DelegationState.FORWARDED, DelegationState.TAKEN))
        delegation = self.get(delegation_id)
        if done and delegation is not None:
            mention = self._moderation.get(delegation.mention_id)
            if mention is not None and mention.status in ACTIVE:
                try:
                    applied = self._qualifier.apply(
                        mention.id or 0, [Change("status", Status.ANSWERED)], actor=actor,
                        source=ChangeSource.BUTTON)
                except QualifyConflict:
                    applied = None
                if applied is not None:
                    self._qualifier.after_change(applied)
        return done

    def _advance(self, delegation_id: int, *, actor: str, to: DelegationState,
                 frm: tuple[DelegationState, ...]) -> bool:
        now = self._clock.now()
        values: dict[str, object] = {"state": to}
        if to == DelegationState.TAKEN:
            values.update(taken_by=actor, taken_at=now)
        else:
            values.update(answered_by=actor, answered_at=now,
                          reminder_state=ReminderState.DONE)
        with Session(self._engine) as session:
            changed = session.execute(
                update(Delegation).where(col(Delegation.id) == delegation_id)
                .where(col(Delegation.state).in_(frm)).values(**values))
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            delegation = session.get(Delegation, delegation_id)
            assert delegation is not None
            write_log(session, at=now, actor=actor, action=f"desk_{to}",
                      mention_id=delegation.mention_id, detail=delegation.desk_id)
            touch(session, delegation.mention_id)
            session.commit()
            mention_id = delegation.mention_id
        self._redraw_desk_message(delegation_id)
        self._moderation.refresh_card(mention_id)
        if to == DelegationState.ANSWERED:
            self._cancel(delegation_id)
        return True

    def _redraw_desk_message(self, delegation_id: int) -> None:
        delegation = self.get(delegation_id)
        if delegation is None or not delegation.desk_ts:
            return
        try:
            self._slack.update_message(delegation.desk_channel, delegation.desk_ts,
                                       self._render(delegation))
        except SlackError as exc:
            log.warning("could not update the desk message of delegation %s: %s",
                        delegation_id, exc)

    # -- reminders ------------------------------------------------------------------------------
    def _schedule(self, delegation_id: int) -> None:
        delegation = self.get(delegation_id)
        if delegation is None:
            return
        try:
            if delegation.nudge_at:
                self._scheduler.at(NUDGE_JOB, f"desk-nudge-{delegation_id}", delegation.nudge_at,
                                   delegation_id)
            if delegation.escalate_at:
                self._scheduler.at(ESCALATE_JOB, f"desk-escalate-{delegation_id}",
                                   delegation.escalate_at, delegation_id)
        except Exception:  # the sweep catches up
            log.exception("could not schedule the reminders of delegation %s", delegation_id)

    def _cancel(self, delegation_id: int) -> None:
        for job in (f"desk-nudge-{delegation_id}", f"desk-escalate-{delegation_id}"):
            try:
                self._scheduler.cancel(job)
            except Exception:
                log.exception("could not cancel %s", job)

    def _claim(self, delegation_id: int, *, frm: tuple[ReminderState, ...], to: ReminderState,
               due: Any, stamp: str, now: datetime) -> Delegation | None:
        with Session(self._engine, expire_on_commit=False) as session:
            claimed = session.execute(
                update(Delegation).where(col(Delegation.id) == delegation_id)
                .where(col(Delegation.reminder_state).in_(frm))
                .where(col(Delegation.state) != DelegationState.ANSWERED)
                .where(due <= now)
                .values(reminder_state=to, **{stamp: now}))
            session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return session.get(Delegation, delegation_id)

    def _nudge_job(self, delegation_id: int) -> None:
        self.nudge(delegation_id)

    def _escalate_job(self, delegation_id: int) -> None:
        self.escalate(delegation_id)

    def nudge(self, delegation_id: int) -> bool:
        """At the SLA delay: a reminder in the desk message's thread."""
        now = self._clock.now()
        delegation = self._claim(delegation_id, frm=(ReminderState.PENDING,),
                                 to=ReminderState.NUDGED, due=col(Delegation.nudge_at),
                                 stamp="nudged_at", now=now)
        if delegation is None:
            return False
        mention = self._moderation.get(delegation.mention_id)
        delay = self._policy.delay(mention.priority if mention else "normal")
        message = messages.desk_nudge(delegation, delay=format_delay(delay, self._locale),
                                      locale=self._locale)
        try:
            self._slack.post_message(delegation.desk_channel, message,
                                     thread_ts=delegation.desk_ts)
        except SlackError as exc:
            log.warning("desk nudge of delegation %s failed: %s", delegation_id, exc)
        return True

    def escalate(self, delegation_id: int) -> bool:
        """At twice the delay: say so in the card's thread and DM who forwarded it."""
        now = self._clock.now()
        delegation = self._claim(delegation_id,
                                 frm=(ReminderState.PENDING, ReminderState.NUDGED),
                                 to=ReminderState.ESCALATED, due=col(Delegation.escalate_at),
                                 stamp="escalated_at", now=now)
        if delegation is None:
            return False
        mention = self._moderation.get(delegation.mention_id)
        if mention is None:
            return False
        desk = self._config.desk(delegation.desk_id)
        delay = format_delay(2 * self._policy.delay(mention.priority), self._locale)
        card_url = None
        if mention.slack_channel and mention.slack_ts:
            try:
                card_url = self._slack.permalink(mention.slack_channel, mention.slack_ts)
                note = messages.desk_escalation(delegation, desk=desk.name if desk else "?",
                                                delay=delay, card_url=None, locale=self._locale)
                self._slack.post_message(mention.slack_channel, note, thread_ts=mention.slack_ts)
            except SlackError as exc:
                log.warning("desk escalation of delegation %s: %s", delegation_id, exc)
        try:
            locale = self._people.locale_for(delegation.by)
            self._slack.direct_message(delegation.by, messages.desk_escalation(
                delegation, desk=desk.name if desk else "?", delay=delay, card_url=card_url,
                locale=locale))
        except SlackError as exc:
            log.warning("could not DM %s about delegation %s: %s", delegation.by,
                        delegation_id, exc)
        return True

    def sweep(self) -> None:
        """Post what Slack refused, and send reminders that are due."""
        now = self._clock.now()
        with Session(self._engine) as session:
            unposted = session.exec(
                select(Delegation.id).where(col(Delegation.desk_ts).is_(None))
                .where(Delegation.post_attempts < MAX_POSTS).limit(50)).all()
            nudges = session.exec(
                select(Delegation.id).where(Delegation.reminder_state == ReminderState.PENDING)
                .where(col(Delegation.nudge_at) <= now).limit(100)).all()
            escalations = session.exec(
                select(Delegation.id)
                .where(col(Delegation.reminder_state).in_([ReminderState.PENDING,
                                                           ReminderState.NUDGED]))
                .where(col(Delegation.escalate_at) <= now).limit(100)).all()
        for delegation_id in unposted:
            self._post(int(delegation_id or 0))
        for step, ids in ((self.nudge, nudges), (self.escalate, escalations)):
            for delegation_id in ids:
                try:
                    step(int(delegation_id or 0))
                except Exception:
                    log.exception("desk reminder of delegation %s failed", delegation_id)

    # -- helpers --------------------------------------------------------------------------
    def get(self, delegation_id: int) -> Delegation | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Delegation, delegation_id)

    def _save(self, delegation_id: int, **values: object) -> None:
        with Session(self._engine) as session:
            session.execute(update(Delegation).where(col(Delegation.id) == delegation_id)
                            .values(**values))
            session.commit()
