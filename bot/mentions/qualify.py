"""Qualify: staff set a mention's sentiment, category, priority, assignee and status.

Every change is one optimistic write: read the mention, compute the new values, then
`UPDATE mention … WHERE id = :id AND version = :v`. If someone else wrote in between,
nothing is written, and the change is applied again to the fresh row, so two people
clicking at once never lose an update. The audit log gets one line per field changed
(actor, time, old → new, source) in the same transaction.

After a change the card is re-rendered from the database and `chat.update`d; the
version is read again afterwards and the card redrawn if it moved meanwhile, so the card
always ends up showing the stored state whatever order Slack applied the updates in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.i18n import Locale
from bot.mentions import qualify_messages as texts
from bot.mentions.messages import CHOICES, CardState, FieldMark, card_renderer
from bot.mentions.models import Mention, Status
from bot.mentions.qualify_models import AuditEntry, ChangeSource, MentionTriage, SlaState
from bot.mentions.sla import ACTIVE, SlaPolicy
from bot.mentions.staff import StaffPolicy
from bot.moderation.masking import masked
from bot.people import Directory
from bot.slack import SlackError, SlackGateway, SlackOutcomeUnknown
from bot.slack_format import Message

log = logging.getLogger(__name__)

FIELDS = ("sentiment", "category", "priority", "status", "assignee")
COLUMNS = {"assignee": "assignee_id"}
DONE = (Status.ANSWERED, Status.CLOSED, Status.IGNORED)
MAX_ATTEMPTS = 8
REDRAWS = 5
CardWrapper = Callable[[Callable[[Mention], Message]], Callable[[Mention], Message]]


class StatusListener(Protocol):
    """Told after each status change; shaped like `Flags.report_outcome`."""

    def __call__(self, mention_id: int, status: str, *, by: str | None = None) -> object: ...


PERMALINK = re.compile(r"/archives/([CGD][A-Z0-9]+)/p(\d{10})(\d{6})")


class QualifyConflict(RuntimeError):
    """The mention kept changing under us; nothing was written."""


@dataclass(frozen=True)
class Change:
    field: str
    value: str | None

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise ValueError(f"unknown field {self.field!r}")
        if self.field in CHOICES and self.value not in (*CHOICES[self.field], None):
            raise ValueError(f"{self.value!r} is not a {self.field}")


@dataclass
class Applied:
    mention: Mention
    entries: list[AuditEntry] = field(default_factory=list)

    def changed(self, name: str) -> bool:
        return any(e.field == name for e in self.entries)


@dataclass(frozen=True)
class Outcome:
    kind: str  # "changed" | "unchanged" | "refused" | "missing" | "conflict"
    applied: Applied | None = None


class Qualifier:
    def __init__(self, *, engine: Engine, clock: Clock, config: Config, locale: Locale,
                 slack: SlackGateway, people: Directory, staff: StaffPolicy,
                 wrap_card: CardWrapper | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._config = config
        self._locale = locale
        self._slack = slack
        self._people = people
        self.staff = staff
        self.sla = SlaPolicy(config)
        # Other subjects may add to the card (e.g. who flagged it): the relay and every
        # redraw here go through the same wrapped renderer, so nothing is lost on update.
        render = card_renderer(config, locale, self.card_state)
        self._render = wrap_card(render) if wrap_card else render
        # Set by the app: the model's hints for a mention (bot.suggestions), if any.
        self.hints: Callable[[int], dict[str, tuple[str, float]]] = lambda mention_id: {}
        # Set by the app: (re)schedules a mention's SLA jobs after a change.
        self.on_sla_change: Callable[[int], None] = lambda mention_id: None
        # Told (mention id, new status, by = Slack user or None) after each status change.
        self.status_listeners: list[StatusListener] = []
        # Told after every stored change, and when a card appears already assigned (the
        # App Home refreshes the people concerned).
        self.change_listeners: list[Callable[[Applied], None]] = []

    # -- from Slack ---------------------------------------------------------------------
    def from_card(self, *, actor: str, mention_id: int, changes: Sequence[Change],
                  channel_id: str | None) -> Outcome:
        """A staff member used a control on the card: check, apply, redraw, notify."""
        mention = self.get(mention_id)
        if mention is None:
            return Outcome("missing")
        if not self.staff.may_qualify(actor, channel_id or mention.channel_id):
            self._ephemeral(channel_id or mention.channel_id, actor, "refused")
            return Outcome("refused")
        try:
            applied = self.apply(mention_id, changes, actor=actor, source=ChangeSource.BUTTON)
        except QualifyConflict:
            self.refresh_card(mention_id)
            self._ephemeral(channel_id or mention.channel_id, actor, "conflict")
            return Outcome("conflict")
        if applied is None:
            return Outcome("missing")
        self.after_change(applied)
        return Outcome("changed" if applied.entries else "unchanged", applied)

    def after_change(self, applied: Applied) -> None:
        """What follows a stored change: the card, the assignee's DM, the SLA jobs."""
        mention_id = applied.mention.id or 0
        self.refresh_card(mention_id)  # first: what the clicker waits for
        if applied.changed("assignee"):
            self.notify_assignee(mention_id)
        self._tell_status_listeners(applied)
        self._tell_change_listeners(applied)
        if applied.changed("priority") or applied.changed("status"):
            try:
                self.on_sla_change(mention_id)
            except Exception:  # the stored deadlines are right; the sweep catches up
                log.exception("could not reschedule the SLA of mention %s", mention_id)
        escalated = next((e for e in applied.entries if e.field == "status"
                          and e.new_value == Status.ESCALATED and e.actor_id), None)
        if escalated is not None and escalated.actor_id:
            self._tell_on_call(applied.mention, escalated.actor_id)

    def show_history(self, *, actor: str, mention_id: int, channel_id: str) -> None:
        """The History button: the audit log, to the clicker only."""
        mention = self.get(mention_id)
        if mention is None:
            return
        locale = self._people.locale_for(actor)
        if not self.staff.may_qualify(actor, channel_id or mention.channel_id):
            self._ephemeral(channel_id, actor, "refused")
            return
        message = texts.history(self.shown(mention), self.history(mention_id), locale=locale)
        try:
            self._slack.post_ephemeral(channel_id, actor, message)
        except SlackError as exc:
            log.warning("could not show history to %s: %s", actor, exc)

    # -- the optimistic write ---------------------------------------------------------------
    def apply(self, mention_id: int, changes: Sequence[Change], *, actor: str | None,
              source: ChangeSource, rule: str | None = None) -> Applied | None:
        """Store `changes` (and what they imply), with their audit lines; None if the
        mention does not exist. Raises `QualifyConflict` after too many collisions."""
        for _ in range(MAX_ATTEMPTS):
            with Session(self._engine, expire_on_commit=False) as session:
                mention = session.get(Mention, mention_id)
                if mention is None:
                    return None
                now = self._clock.now()
                values, entries = self._diff(mention, changes, actor=actor, source=source,
                                             rule=rule, now=now)
                if not entries:
                    return Applied(mention)
                written = session.execute(
                    update(Mention)
                    .where(col(Mention.id) == mention_id)
                    .where(col(Mention.version) == mention.version)
                    .values(**values, version=mention.version + 1)
                )
                if written.rowcount != 1:  # type: ignore[attr-defined]
                    session.rollback()
                    log.info("mention %s changed meanwhile; applying again", mention_id)
                    continue
                session.add_all(entries)
                session.flush()
                session.expire(mention)
                stored = session.get(Mention, mention_id)
                assert stored is not None
                self._follow_sla(session, stored, entries, now)
                session.commit()
                return Applied(stored, entries)
        raise QualifyConflict(f"mention {mention_id} changed {MAX_ATTEMPTS} times meanwhile")

    def _diff(self, mention: Mention, changes: Sequence[Change], *, actor: str | None,
              source: ChangeSource, rule: str | None, now: datetime
              ) -> tuple[dict[str, object], list[AuditEntry]]:
        wanted = {c.field: c.value for c in changes}
        # What a change implies: an assignee on an open mention makes it assigned;
        # "assigned" chosen with nobody assigned assigns the person who chose it.
        status = wanted.get("status", mention.status)
        assignee = wanted.get("assignee", mention.assignee_id)
        if "assignee" in wanted and assignee and status == Status.OPEN:
            wanted["status"] = Status.ASSIGNED
        if wanted.get("status") == Status.ASSIGNED and not assignee and actor:
            wanted["assignee"] = actor
        values: dict[str, object] = {}
        entries: list[AuditEntry] = []
        for name in FIELDS:
            if name not in wanted:
                continue
            column = COLUMNS.get(name, name)
            old, new = getattr(mention, column), wanted[name]
            old = str(old) if old is not None else None
            if old == new or (name == "priority" and new is None) or (
                    name == "status" and new is None):
                continue
            values[column] = new
            entries.append(AuditEntry(mention_id=mention.id or 0, at=now, actor_id=actor,
                                      source=source, rule=rule, field=name,
                                      old_value=old, new_value=new))
        if values.get("status") == Status.ANSWERED and mention.first_response_at is None:
            values["first_response_at"] = now
            values["answered_by"] = actor
        return values, entries

    def _follow_sla(self, session: Session, mention: Mention, entries: list[AuditEntry],
                    now: datetime) -> None:
        """Keep the SLA state in step: new deadlines on a new priority, done once the
        mention is answered, closed or ignored, back on when it is reopened."""
        names = {e.field for e in entries}
        if not names & {"priority", "status"}:
            return
        triage = self.triage_row(session, mention)
        if "priority" in names:
            deadlines = self.sla.deadlines(mention.received_at, mention.priority)
            triage.nudge_at, triage.escalate_at = deadlines.nudge_at, deadlines.escalate_at
        if mention.status in DONE or mention.first_response_at is not None:
            triage.sla_state = SlaState.DONE
        elif mention.status in ACTIVE and triage.sla_state == SlaState.DONE:
            triage.sla_state = (SlaState.ESCALATED if triage.escalated_at else
                                SlaState.NUDGED if triage.nudged_at else SlaState.PENDING)
        session.add(triage)

    def triage_row(self, session: Session, mention: Mention) -> MentionTriage:
        """The mention's triage row, created with its SLA deadlines if missing."""
        triage = session.get(MentionTriage, mention.id)
        if triage is None:
            deadlines = self.sla.deadlines(mention.received_at, mention.priority)
            triage = MentionTriage(mention_id=mention.id or 0, nudge_at=deadlines.nudge_at,
                                   escalate_at=deadlines.escalate_at)
        return triage

    # -- reading ------------------------------------------------------------------------
    def get(self, mention_id: int) -> Mention | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Mention, mention_id)

    def find(self, reference: str) -> Mention | None:
        """A mention from its id (`42`, `#42`) or its card's permalink."""
        reference = reference.strip().strip("<>").split("|")[0]
        if reference.lstrip("#").isdigit():
            return self.get(int(reference.lstrip("#")))
        match = PERMALINK.search(reference)
        if not match:
            return None
        channel, seconds, micros = match.groups()
        with Session(self._engine, expire_on_commit=False) as session:
            return session.exec(
                select(Mention).where(Mention.slack_channel == channel)
                .where(Mention.slack_ts == f"{seconds}.{micros}")
            ).first()

    def history(self, mention_id: int) -> list[AuditEntry]:
        with Session(self._engine, expire_on_commit=False) as session:
            return list(session.exec(
                select(AuditEntry).where(AuditEntry.mention_id == mention_id)
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            ))

    def card_state(self, mention: Mention) -> CardState:
        """Who last set each field, the sentiment suggestion and the SLA deadline."""
        marks: dict[str, FieldMark] = {}
        for entry in self.history(mention.id or 0):
            marks[entry.field] = FieldMark(entry.at, entry.actor_id, entry.source, entry.rule)
        with Session(self._engine) as session:
            triage = session.get(MentionTriage, mention.id)
            suggestion = triage.suggested_sentiment if triage else None
            respond_by = triage.nudge_at if triage else None
        return CardState(marks=marks, suggested_sentiment=suggestion, respond_by=respond_by,
                         hints=self.hints(mention.id or 0))

    def render(self, mention: Mention) -> Message:
        return self._render(mention)

    def shown(self, mention: Mention) -> Mention:
        """The mention as a message may quote it: masked when abusive (bot.moderation)."""
        with Session(self._engine) as session:
            return masked(session, [mention], self._locale)[0]

    # -- Slack side effects ---------------------------------------------------------------
    def refresh_card(self, mention_id: int) -> None:
        """Redraw the card until it shows the stored version (see the module docstring)."""
        for _ in range(REDRAWS):
            mention = self.get(mention_id)
            if mention is None or not (mention.slack_channel and mention.slack_ts):
                return
            try:
                self._slack.update_message(mention.slack_channel, mention.slack_ts,
                                           self._render(mention))
            except SlackError as exc:
                log.warning("could not update the card of mention %s: %s", mention_id, exc)
                return
            again = self.get(mention_id)
            if again is None or again.version == mention.version:
                return

    def notify_assignee(self, mention_id: int) -> None:
        """DM the assignee a link to the card, once per assignment, unless they took it."""
        mention = self.get(mention_id)
        if mention is None or not mention.assignee_id or not mention.slack_ts \
                or not mention.slack_channel:
            return
        assignee = mention.assignee_id
        with Session(self._engine) as session:
            if session.get(MentionTriage, mention_id) is None:
                session.add(self.triage_row(session, mention))
                session.commit()
            claimed = session.execute(
                update(MentionTriage)
                .where(col(MentionTriage.mention_id) == mention_id)
                .where(or_(col(MentionTriage.notified_assignee).is_(None),
                           col(MentionTriage.notified_assignee) != assignee))
                .values(notified_assignee=assignee)
            )
            session.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return
        last = next((e for e in reversed(self.history(mention_id)) if e.field == "assignee"),
                    None)
        if last is not None and last.actor_id == assignee:
            return  # "Take it": they know
        try:
            permalink = self._slack.permalink(mention.slack_channel, mention.slack_ts)
            message = texts.assigned_dm(self.shown(mention),
                                        actor_id=last.actor_id if last else None,
                                        rule=last.rule if last else None, permalink=permalink,
                                        locale=self._people.locale_for(assignee))
            self._slack.direct_message(assignee, message)
        except SlackError as exc:
            log.warning("could not DM %s about mention %s: %s", assignee, mention_id, exc)

    def after_relay(self, mention_id: int) -> None:
        """The card now exists: tell an assignee set by a rule before it was posted."""
        self.notify_assignee(mention_id)
        if self.change_listeners:
            mention = self.get(mention_id)
            if mention is not None and mention.assignee_id:
                self._tell_change_listeners(Applied(mention))

    def nudge_message(self, mention: Mention, delay: timedelta) -> Message:
        return texts.nudge(mention, delay=delay, locale=self._locale)

    def escalate_for_sla(self, mention: Mention, on_call: Sequence[str],
                         delay: timedelta) -> None:
        """Past twice the delay: mark it escalated, say so in the thread, DM on-call."""
        mention_id = mention.id or 0
        try:
            applied = self.apply(mention_id, [Change("status", Status.ESCALATED)], actor=None,
                                 source=ChangeSource.SLA)
        except QualifyConflict:
            applied = None
        if applied is not None:
            self.refresh_card(mention_id)
            self._tell_status_listeners(applied)
            self._tell_change_listeners(applied)
        channel, ts = mention.slack_channel or mention.channel_id, mention.slack_ts
        note = texts.escalation_note(on_call=on_call, delay=delay, locale=self._locale)
        try:
            self._slack.post_message(channel, note, thread_ts=ts, broadcast=not on_call)
        except SlackError as exc:
            log.warning("could not post the escalation of mention %s: %s", mention_id, exc)
        if not on_call or not ts:
            return
        try:
            permalink = self._slack.permalink(channel, ts)
        except SlackError as exc:
            log.warning("no permalink for mention %s: %s", mention_id, exc)
            return
        for user in on_call:
            message = texts.escalation_dm(self.shown(mention), delay=delay, permalink=permalink,
                                          locale=self._people.locale_for(user))
            try:
                self._slack.direct_message(user, message)
            except SlackOutcomeUnknown:
                log.warning("escalation DM to %s may not have arrived", user)
            except SlackError as exc:
                log.warning("could not DM on-call %s: %s", user, exc)

    def _tell_status_listeners(self, applied: Applied) -> None:
        for entry in applied.entries:
            if entry.field != "status" or entry.new_value is None:
                continue
            for listener in self.status_listeners:
                try:
                    listener(entry.mention_id, entry.new_value, by=entry.actor_id)
                except Exception:
                    log.exception("status listener failed on mention %s", entry.mention_id)

    def _tell_change_listeners(self, applied: Applied) -> None:
        for listener in self.change_listeners:
            try:
                listener(applied)
            except Exception:
                log.exception("change listener failed on mention %s", applied.mention.id)

    def _tell_on_call(self, mention: Mention, actor: str) -> None:
        """A person escalated the mention by hand: the on-call people get the link."""
        if not (mention.slack_channel and mention.slack_ts):
            return
        try:
            permalink = self._slack.permalink(mention.slack_channel, mention.slack_ts)
        except SlackError as exc:
            log.warning("no permalink for mention %s: %s", mention.id, exc)
            return
        for user in self.sla.on_call:
            if user == actor:
                continue
            message = texts.escalated_by_dm(self.shown(mention), actor_id=actor,
                                            permalink=permalink,
                                            locale=self._people.locale_for(user))
            try:
                self._slack.direct_message(user, message)
            except SlackError as exc:
                log.warning("could not DM on-call %s: %s", user, exc)

    def _ephemeral(self, channel: str, user: str, key: str) -> None:
        locale = self._people.locale_for(user)
        try:
            self._slack.post_ephemeral(channel, user, texts.reply(locale, key))
        except SlackError as exc:
            log.warning("could not tell %s (%s): %s", user, key, exc)
