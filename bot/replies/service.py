"""Respond: staff answer a mention from its card, through the mention's own platform or by
hand, with an editor's approval first when the mention is sensitive.

Every step is a conditional `UPDATE` of the reply row (see `bot.replies.models`), done
before anything leaves the building: the row is stored before the modal closes (nothing
typed is lost), claimed `queued → sending` before the platform is called (never sent
twice, even with several replicas), and a send whose outcome is unknown becomes
`unconfirmed`: looked for on the platform while it may still create the reply, then
sent (found), queued again (certainly absent: same Idempotency-Key or record key, so no
double), or left to a person (the rule of `bot.connectors.doubt`, shared with scheduled
posts). Each change also bumps the mention's version, so the card, redrawn by the
`Qualifier`, always ends on the stored state.

When a reply goes out (or is recorded by hand), the mention becomes `answered` through
the `Qualifier`: the audit log, the first-response time and who answered, the card, the
SLA jobs and the flaggers' notices all follow from that one change.

`sweep` (every minute, on the scheduler's leader) finishes what a crash or an outage
interrupted: approval previews not posted yet, replies decided but never claimed, sends
that never came back (those become `unconfirmed`, and are looked for), and the looks
that are due.

The database lost in the middle of a send (PostgreSQL restarting) would leave the reply
`sending` for the five minutes of `SEND_LEASE`: a claim whose answer never came back
(nothing sent: it is queued again), or a reply sent whose outcome could not be written.
The process remembers what it owes and writes it once the database answers, at its next
send or sweep (`_settle_owed`); a process that dies instead still has the lease.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.connectors.doubt import LOOK_LEASE, Look, Step, Unproven
from bot.i18n import Locale, catalogue
from bot.mentions.models import Mention, Status
from bot.mentions.qualify import Change, Qualifier, QualifyConflict
from bot.mentions.qualify_models import ChangeSource
from bot.metrics import REPLIES, bounded
from bot.moderation.masking import masked
from bot.people import Directory
from bot.reasons import Reason
from bot.replicas import Heartbeat
from bot.replies import messages
from bot.replies.messages import ModalState, ReplyForm
from bot.replies.models import ERROR_LENGTH, Reply, ReplyKind, ReplyState
from bot.replies.platforms import Platforms, SendFailed, SendUnconfirmed, Sent
from bot.replies.templates import TemplateLibrary, TemplateProblem
from bot.replies.templates import render as render_template
from bot.replies.variables import reply_context, sample_contexts, sample_mentions
from bot.slack import SlackError, SlackGateway, SlackOutcomeUnknown
from bot.slack_format import Message

log = logging.getLogger(__name__)

SWEEP_JOB = "replies.sweep"
PREVIEW_LEASE = timedelta(minutes=2)  # a preview post in flight, before someone looks again
QUEUED_GRACE = timedelta(minutes=1)  # decided but not claimed: the deciding process died
SEND_LEASE = timedelta(minutes=5)  # far beyond any platform timeout
MAX_ATTEMPTS = 3  # sends of one reply, counting those Vigie makes again by itself
CARD_REPLIES = 10
FieldErrors = dict[str, tuple[str, dict[str, Any]]]  # field → (text key, parameters)


@dataclass(frozen=True)
class Outcome:
    """What happened to a request; `code` names the text said to whoever asked."""

    ok: bool
    code: str
    reply_id: int | None = None

    @staticmethod
    def done(code: str, reply_id: int | None = None) -> Outcome:
        return Outcome(True, f"replies.outcome.{code}", reply_id)

    @staticmethod
    def refused(code: str, reply_id: int | None = None) -> Outcome:
        return Outcome(False, f"replies.outcome.{code}", reply_id)


class ReplyCards:
    """What a mention's card shows about its replies: the `Qualifier`'s card wrapper.
    Apart from `ReplyDesk` because the card renderer is built before the qualifier."""

    def __init__(self, *, engine: Engine, config: Config, locale: Locale) -> None:
        self._engine = engine
        self._config = config
        self._locale = locale
        # Set by the desk: a mention's platform as the card names it.
        self.platform_of: Callable[[Mention], str] = lambda mention: mention.platform

    def replies(self, mention_id: int) -> list[Reply]:
        with Session(self._engine) as session:
            newest = session.exec(
                select(Reply).where(col(Reply.mention_id) == mention_id)
                .order_by(col(Reply.id).desc()).limit(CARD_REPLIES)).all()
        return list(reversed(newest))

    def card_renderer(self, render: Callable[[Mention], Message]
                      ) -> Callable[[Mention], Message]:
        """`render`, plus the mention's replies and the Reply button."""

        def with_replies(mention: Mention) -> Message:
            message = render(mention)
            if mention.id is None:
                return message
            platform = self.platform_of(mention)
            return messages.with_replies(message, mention, self.replies(mention.id),
                                         platform=platform,
                                         approvals=self._config.channels.approvals,
                                         locale=self._locale)

        return with_replies


class ReplyDesk:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock, locale: Locale,
                 qualifier: Qualifier, platforms: Platforms, library: TemplateLibrary,
                 people: Directory, slack: SlackGateway, cards: ReplyCards,
                 heartbeat: Heartbeat | None = None) -> None:
        self._engine = engine
        self._heartbeat = heartbeat or Heartbeat(engine=engine, clock=clock)
        self._config = config
        self._clock = clock
        self._locale = locale
        self._qualifier = qualifier
        self.platforms = platforms
        self.library = library
        self._people = people
        self._slack = slack
        self.cards = cards
        # reply id → (its send's attempted_at, the states it may be in, what to write)
        self._owed: dict[int, tuple[datetime, tuple[ReplyState, ...], dict[str, Any]]] = {}
        self._owed_lock = threading.Lock()
        cards.platform_of = lambda mention: platforms.target(mention).platform
        # Set by the app: template keys used for the most similar answered mentions.
        self.like_last_time: Callable[[int], list[str]] = lambda mention_id: []

    # -- who may ------------------------------------------------------------------------------
    def may_reply(self, user_id: str, mention: Mention) -> bool:
        return self._qualifier.staff.may_qualify(user_id, mention.channel_id)

    def is_editor(self, user_id: str) -> bool:
        return self._people.is_editor(user_id)

    def sensitive(self, mention: Mention, locale: str) -> str | None:
        """Why an answer to `mention` needs an editor's approval, or None."""
        replies = self._config.replies
        if mention.category and mention.category in replies.sensitive_categories:
            label = catalogue().text(locale, f"qualify.category.{mention.category}")
            return catalogue().text(locale, "replies.why.category", category=label)
        if mention.route and mention.route in replies.sensitive_routes:
            return catalogue().text(locale, "replies.why.route", route=mention.route)
        return None

    # -- the modal ----------------------------------------------------------------------------
    def get(self, mention_id: int) -> Mention | None:
        return self._qualifier.get(mention_id)

    def shown(self, mention: Mention, locale: str) -> Mention:
        """The mention as staff see it: an abusive one masked (`bot.moderation.masking`),
        in the modal, the approval preview and what templates can quote."""
        with Session(self._engine) as session:
            return masked(session, [mention], locale)[0]

    def account_name(self, mention: Mention) -> str:
        account = self._config.account(mention.account_id)
        return account.name if account else (mention.account_id or self._config.newsroom.name)

    def first_locale(self, mention: Mention) -> str:
        return mention.lang if mention.lang in ("fr", "en") else self._config.newsroom.locale

    def form(self, mention: Mention, user_id: str, state: ModalState, *, text: str,
             locale: str, notices: Sequence[str] = ()) -> ReplyForm:
        return ReplyForm(
            mention=self.shown(mention, locale), target=self.platforms.target(mention),
            account=self.account_name(mention),
            templates=self.library.usable(self.first_locale(mention)), text=text,
            sensitive=self.sensitive(mention, locale),
            approvals_channel=self._config.channels.approvals, state=state,
            notices=list(notices), like_last_time=self._like_last_time(mention))

    def _like_last_time(self, mention: Mention) -> list[str]:
        try:
            return self.like_last_time(mention.id or 0)[:1]
        except Exception:  # a hint: the form opens without it rather than not at all
            log.exception("no 'like last time' template for mention %s", mention.id)
            return []

    def opening(self, mention_id: int, user_id: str, locale: str) -> ReplyForm | str:
        """The reply modal's content, or the text saying why it cannot open."""
        mention = self.get(mention_id)
        if mention is None:
            return catalogue().text(locale, "replies.outcome.gone")
        if not self.may_reply(user_id, mention):
            return catalogue().text(locale, "replies.outcome.not_staff")
        state = ModalState(mention_id=mention_id, seen=self._newest_reply(mention_id))
        return self.form(mention, user_id, state, text="", locale=locale)

    def render(self, template_key: str, mention: Mention, user_id: str) -> str:
        """The template filled in for this mention and this writer; `TemplateProblem`
        when it cannot be (a variable missing for this mention…)."""
        template = self.library.get(template_key)
        locale = template.locale if template else self._config.newsroom.locale
        context = reply_context(mention=self.shown(mention, locale), config=self._config,
                                staff=self._people.person(user_id),
                                target=self.platforms.target(mention), now=self._clock.now(),
                                locale=locale)
        return self.library.render(template_key, context)

    # -- submitting ------------------------------------------------------------------------
    def submit(self, *, user_id: str, state: ModalState, text: str, approval: bool,
               locale: str) -> Outcome | FieldErrors:
        """Store the reply (before the modal closes); `after_submit` then sends it, puts
        it before the editors, or records it as answered by hand."""
        mention = self.get(state.mention_id)
        if mention is None:
            return {"text": ("replies.outcome.gone", {})}
        if not self.may_reply(user_id, mention):
            return {"text": ("replies.outcome.not_staff", {})}
        text = text.strip()
        if not text:
            return {"text": ("replies.errors.empty", {})}
        target = self.platforms.target(mention)
        if target.too_long(text):
            length = target.length(text)
            return {"text": ("replies.errors.too_long", {
                "platform": target.platform, "limit": target.limit, "length": length,
                "over": max((length - (target.limit or 0)), 1)})}
        sensitive = self.sensitive(mention, self._locale)
        needs_approval = bool(sensitive) or approval
        if needs_approval and not self._config.channels.approvals:
            return {"text": ("replies.errors.no_approvals_channel", {})}
        now = self._clock.now()
        if needs_approval:
            state_ = ReplyState.AWAITING_APPROVAL
        else:
            state_ = ReplyState.BY_HAND if target.kind == ReplyKind.BY_HAND else \
                ReplyState.QUEUED
        again = self._submitted_already(state, user_id, target.final_text(text))
        if again is not None:  # the same modal sent again: Slack's retry, or Submit pressed
            log.info("reply %s to mention %s: the same modal submitted again; not stored "
                     "twice", again.id, again.mention_id)
            return Outcome.done("sending", again.id)
        reply = Reply(mention_id=mention.id or 0, author_id=user_id, kind=target.kind,
                      account_id=mention.account_id, template=state.template,
                      text=target.final_text(text), key=uuid.uuid4().hex, state=state_,
                      needs_approval=needs_approval, sensitive=sensitive, created_at=now,
                      updated_at=now, sent_at=now if state_ == ReplyState.BY_HAND else None)
        with Session(self._engine, expire_on_commit=False) as session:
            session.add(reply)
            _bump(session, mention.id or 0)
            session.commit()
        code = {ReplyState.AWAITING_APPROVAL: "awaiting", ReplyState.BY_HAND: "by_hand",
                ReplyState.QUEUED: "sending"}[state_]
        return Outcome.done(code, reply.id)

    def _submitted_already(self, state: ModalState, user_id: str, text: str) -> Reply | None:
        """This writer's reply with this text, stored since the modal opened: when Slack
        got no answer in time (a slow or restarting replica, the database away a moment),
        the modal stays open and says so, and the person presses Submit again. That is
        the same reply, not a second one (a failed or rejected one may be sent anew)."""
        for reply in reversed(self.cards.replies(state.mention_id)):
            if (reply.id or 0) > state.seen and reply.author_id == user_id and \
                    reply.text == text and \
                    reply.state not in (ReplyState.FAILED, ReplyState.REJECTED):
                return reply
        return None

    def answered_meanwhile(self, state: ModalState, user_id: str, *, text: str,
                           locale: str) -> ReplyForm | None:
        """When someone else answered the mention since the modal opened: the form again,
        saying so, with the text kept; submitting it once more sends the reply anyway."""
        newer = [r for r in self.cards.replies(state.mention_id)
                 if (r.id or 0) > state.seen and r.author_id != user_id
                 and r.state != ReplyState.REJECTED]
        mention = self.get(state.mention_id)
        if not newer or mention is None:
            return None
        last = newer[-1]
        t = catalogue().text
        notice = t(locale, "replies.modal.meanwhile", user=f"<@{last.author_id}>",
                   state=t(locale, f"replies.state.{last.state}"))
        state = replace(state, seen=int(last.id or 0), block=state.block + 1)
        return self.form(mention, user_id, state, text=text, locale=locale, notices=[notice])

    def after_submit(self, reply_id: int) -> None:
        """What follows a stored reply, once Slack has its answer."""
        reply = self._reply(reply_id)
        if reply is None:
            return
        if reply.state == ReplyState.AWAITING_APPROVAL:
            self._post_preview(reply_id)
            self._qualifier.refresh_card(reply.mention_id)
        elif reply.state == ReplyState.BY_HAND:
            self._answered(reply)
        elif reply.state == ReplyState.QUEUED:
            self.deliver(reply_id)

    # -- sending ------------------------------------------------------------------------------
    def deliver(self, reply_id: int) -> Reply | None:
        """Claim a queued reply and send it, once. Returns the reply as it ends up."""
        self._settle_owed()
        self._get_ready(reply_id)
        now = self._clock.now()
        try:
            with Session(self._engine) as session:
                claimed = session.execute(
                    update(Reply).where(col(Reply.id) == reply_id)
                    .where(col(Reply.state) == ReplyState.QUEUED)
                    .values(state=ReplyState.SENDING, attempts=col(Reply.attempts) + 1,
                            attempted_at=now, claimed_by=self._heartbeat.id, updated_at=now,
                            error=None, checks=0, next_check_at=None, creatable_until=None))
                if _count(claimed) != 1:
                    return None
                session.commit()
            reply, mention = self._reply(reply_id), None
            if reply is not None:
                mention = self.get(reply.mention_id)
        except SQLAlchemyError:  # claimed or not, nothing was sent: queued again
            self._owe(reply_id, now, (ReplyState.SENDING,), {"state": ReplyState.QUEUED})
            raise
        if reply is None or mention is None:
            return None
        values: dict[str, Any]
        try:
            sent = self.platforms.send(reply, mention)
        except SendUnconfirmed as exc:
            until = self.platforms.doubt(reply).creatable_until(now, answered=exc.answered)
            values = {"error": exc.reason.stored(ERROR_LENGTH), "checks": 1,
                      "creatable_until": until,
                      **self._after_look(reply, mention, sent_at=now, until=until)}
            log.warning("reply %s: %s; looked for it: %s", reply_id, exc, values["state"])
        except SendFailed as exc:
            values = {"state": ReplyState.FAILED, "error": exc.reason.stored(ERROR_LENGTH)}
            if exc.retry_at is not None:  # e.g. a quota used up: it waits for the reset
                values = {**values, "state": ReplyState.QUEUED, "next_check_at": exc.retry_at}
        except Exception as exc:  # a bug, or a library surprise: it may have gone out
            log.exception("sending reply %s failed unexpectedly", reply_id)
            values = {"state": ReplyState.UNCONFIRMED,
                      "error": Reason("publish.crashed", error=type(exc).__name__)
                      .stored(ERROR_LENGTH)}
        else:
            values = self._sent(sent)
        _count_reply(mention, values["state"])
        allowed = (ReplyState.SENDING, ReplyState.UNCONFIRMED) \
            if values["state"] == ReplyState.SENT else (ReplyState.SENDING,)
        try:
            self._move(reply_id, allowed, values)
        except SQLAlchemyError:
            self._owe(reply_id, now, allowed, values)
            raise
        return self._settled(reply_id)

    def _owe(self, reply_id: int, attempted_at: datetime, states: tuple[ReplyState, ...],
             values: dict[str, Any]) -> None:
        with self._owed_lock:
            self._owed[reply_id] = (attempted_at, states, values)

    def _settle_owed(self) -> None:
        """Write what a database outage left unwritten (module docstring), if that send
        is still the reply's latest; a reply queued again is sent at once."""
        while True:
            with self._owed_lock:
                if not self._owed:
                    return
                reply_id, owed = next(iter(self._owed.items()))
            attempted_at, states, values = owed
            moved = self._move(reply_id, states, values, attempted_at=attempted_at)
            with self._owed_lock:
                if self._owed.get(reply_id) == owed:
                    del self._owed[reply_id]
            if not moved:
                continue
            log.info("reply %s: %s once the database was back", reply_id, values["state"])
            if values["state"] == ReplyState.QUEUED:
                self.deliver(reply_id)
            else:
                self._settled(reply_id)

    def _get_ready(self, reply_id: int) -> None:
        """Have the platform build its client for a queued reply before the claim, not
        inside it (Mastodon.py takes seconds to import on a cold start): a process killed
        meanwhile leaves the reply queued, certainly not sent, instead of in doubt."""
        reply = self._reply(reply_id)
        mention = self.get(reply.mention_id) \
            if reply is not None and reply.state == ReplyState.QUEUED else None
        if mention is None:
            return
        try:
            self.platforms.target(mention)
        except Exception:  # the send itself says what is wrong
            log.debug("no target ready for reply %s", reply_id, exc_info=True)

    def _settled(self, reply_id: int) -> Reply | None:
        """Tell the card (and the approval preview) what became of a send or a look."""
        final = self._reply(reply_id)
        if final is None:
            return None
        log.info("reply %s to mention %s: %s", reply_id, final.mention_id, final.state)
        if final.state == ReplyState.SENT:
            self._answered(final)
        else:
            self._qualifier.refresh_card(final.mention_id)
        if final.preview_ts:
            self._refresh_preview(reply_id)
        return final

    def _sent(self, sent: Sent) -> dict[str, Any]:
        return {"state": ReplyState.SENT, "remote_id": sent.remote_id[:512],
                "remote_url": (sent.url or "")[:2048] or None, "sent_at": self._clock.now(),
                "error": None, "next_check_at": None}

    def recheck(self, reply_id: int) -> Reply | None:
        """A look that is due for an unconfirmed reply (`bot.connectors.doubt`); never
        sends: a reply certainly absent is queued again, and the sweep sends it."""
        reply = self._reply(reply_id)
        mention = self.get(reply.mention_id) if reply else None
        now = self._clock.now()
        if reply is None or mention is None or reply.next_check_at is None \
                or reply.next_check_at > now:
            return None
        with Session(self._engine) as session:
            claimed = session.execute(  # the look is ours, for LOOK_LEASE
                update(Reply).where(col(Reply.id) == reply_id)
                .where(col(Reply.state) == ReplyState.UNCONFIRMED)
                .where(col(Reply.checks) == reply.checks)
                .where(col(Reply.next_check_at) <= now)
                .values(checks=col(Reply.checks) + 1, next_check_at=now + LOOK_LEASE))
            session.commit()
        if _count(claimed) != 1:
            return None
        sent_at = reply.attempted_at or now
        until = reply.creatable_until or \
            self.platforms.doubt(reply).creatable_until(sent_at, answered=False)
        values = {"creatable_until": until,
                  **self._after_look(reply, mention, sent_at=sent_at, until=until)}
        log.info("reply %s: look %s after an unknown outcome: %s", reply_id,
                 reply.checks + 1, values["state"])
        if values["state"] == ReplyState.UNCONFIRMED and values["next_check_at"] is not None:
            self._move(reply_id, (ReplyState.UNCONFIRMED,), values, checks=reply.checks + 1,
                       bump=False)
            return self._reply(reply_id)
        if not self._move(reply_id, (ReplyState.UNCONFIRMED,), values,
                          checks=reply.checks + 1):
            return None
        if values["state"] in (ReplyState.SENT, ReplyState.FAILED):
            _count_reply(mention, values["state"])  # a doubt settled by a look
        return self._settled(reply_id)

    def _after_look(self, reply: Reply, mention: Mention, *, sent_at: datetime,
                    until: datetime) -> dict[str, Any]:
        """Look for the reply on its platform; its new state (see `bot.connectors.doubt`)."""
        found: Sent | None = None
        try:
            found = self.platforms.find(reply, mention)
            look = Look.FOUND if found is not None else Look.ABSENT
        except Unproven as exc:
            log.warning("reply %s: the look cannot tell: %s", reply.id, exc)
            look = Look.UNPROVEN
        except SendFailed as exc:
            log.warning("reply %s: could not look for it: %s", reply.id, exc)
            look = Look.UNREACHABLE
        except Exception:  # a bug, or a library surprise: as if it could not be asked
            log.exception("looking for reply %s failed unexpectedly", reply.id)
            look = Look.UNREACHABLE
        step = self.platforms.doubt(reply).next(look, sent_at=sent_at, creatable_until=until,
                                                now=self._clock.now())
        if step.step is Step.PUBLISHED and found is not None:
            return self._sent(found)
        if step.step is Step.LOOK:
            return {"state": ReplyState.UNCONFIRMED, "next_check_at": step.at}
        if step.step is Step.RESEND:
            again = reply.attempts < MAX_ATTEMPTS
            return {"state": ReplyState.QUEUED if again else ReplyState.FAILED,
                    "next_check_at": None}
        return {"state": ReplyState.UNCONFIRMED, "next_check_at": None}

    def retry(self, reply_id: int, user_id: str) -> Outcome:
        """A person sends a failed or unconfirmed reply again (same idempotency key)."""
        reply = self._reply(reply_id)
        mention = self.get(reply.mention_id) if reply else None
        if reply is None or mention is None:
            return Outcome.refused("gone")
        if not self.may_reply(user_id, mention):
            return Outcome.refused("not_staff", reply_id)
        if not self._move(reply_id, (ReplyState.FAILED, ReplyState.UNCONFIRMED),
                          {"state": ReplyState.QUEUED, "settled_by": user_id}):
            return Outcome.refused("settled", reply_id)
        self.deliver(reply_id)
        return Outcome.done("retried", reply_id)

    def confirm(self, reply_id: int, user_id: str) -> Outcome:
        """A person checked on the platform: the unconfirmed reply did go out."""
        reply = self._reply(reply_id)
        mention = self.get(reply.mention_id) if reply else None
        if reply is None or mention is None:
            return Outcome.refused("gone")
        if not self.may_reply(user_id, mention):
            return Outcome.refused("not_staff", reply_id)
        if not self._move(reply_id, (ReplyState.UNCONFIRMED,), {
                "state": ReplyState.SENT, "settled_by": user_id, "error": None,
                "next_check_at": None, "sent_at": reply.attempted_at or self._clock.now()}):
            return Outcome.refused("settled", reply_id)
        confirmed = self._reply(reply_id)
        if confirmed is not None:
            self._answered(confirmed)
            if confirmed.preview_ts:
                self._refresh_preview(reply_id)
        return Outcome.done("confirmed", reply_id)

    def _answered(self, reply: Reply) -> None:
        """The mention is answered: one change through the qualifier (audit log, first
        response, card, SLA, flaggers)."""
        try:
            applied = self._qualifier.apply(reply.mention_id, [Change("status", Status.ANSWERED)],
                                            actor=reply.author_id, source=ChangeSource.REPLY)
        except QualifyConflict:
            log.warning("mention %s kept changing; its status is left as it is",
                        reply.mention_id)
            self._qualifier.refresh_card(reply.mention_id)
            return
        if applied is not None:
            self._qualifier.after_change(applied)

    # -- approval (see bot.approvals) --------------------------------------------------------
    def by_preview(self, channel: str, ts: str) -> int | None:
        with Session(self._engine) as session:
            found = session.exec(select(Reply.id).where(col(Reply.preview_channel) == channel)
                                 .where(col(Reply.preview_ts) == ts)).first()
        return int(found) if found is not None else None

    def approve(self, item_id: int, editor_id: str, *, via: str) -> Outcome:
        if not self.is_editor(editor_id):
            return Outcome.refused("not_editor", item_id)
        reply = self._reply(item_id)
        if reply is None:
            return Outcome.refused("gone")
        if reply.author_id == editor_id and not self._config.replies.self_approval:
            return Outcome.refused("own_reply", item_id)
        after = ReplyState.BY_HAND if reply.kind == ReplyKind.BY_HAND else ReplyState.QUEUED
        now = self._clock.now()
        values: dict[str, Any] = {"state": after, "decided_by": editor_id, "decided_at": now}
        if after == ReplyState.BY_HAND:
            values["sent_at"] = now
        if not self._move(item_id, (ReplyState.AWAITING_APPROVAL,), values):
            return self._already(item_id, editor_id, approving=True)
        log.info("reply %s approved by %s (%s)", item_id, editor_id, via)
        self._refresh_preview(item_id)
        if after == ReplyState.BY_HAND:
            approved = self._reply(item_id)
            if approved is not None:
                self._answered(approved)
        else:
            self.deliver(item_id)
        return Outcome.done("approved", item_id)

    def reject(self, item_id: int, editor_id: str, reason: str | None) -> Outcome:
        if not self.is_editor(editor_id):
            return Outcome.refused("not_editor", item_id)
        reason = (reason or "").strip()[:1000] or None
        if not self._move(item_id, (ReplyState.AWAITING_APPROVAL,), {
                "state": ReplyState.REJECTED, "decided_by": editor_id,
                "decided_at": self._clock.now(), "reason": reason}):
            return self._already(item_id, editor_id, approving=False)
        reply = self._reply(item_id)
        if reply is not None:
            self._refresh_preview(item_id)
            self._qualifier.refresh_card(reply.mention_id)
            self._tell_author_rejected(reply)
        return Outcome.done("rejected", item_id)

    def withdraw(self, item_id: int, editor_id: str) -> Outcome:
        """An editor takes back a ✅: too late once decided, as the reply went at once."""
        reply = self._reply(item_id)
        if reply is None or reply.state == ReplyState.AWAITING_APPROVAL:
            return Outcome.done("nothing_to_withdraw", item_id)
        return Outcome.refused("too_late", item_id)

    def _already(self, reply_id: int, editor_id: str, *, approving: bool) -> Outcome:
        """Why a decision came too late, from the state the reply is in now."""
        reply = self._reply(reply_id)
        if reply is None:
            return Outcome.refused("gone")
        if approving and reply.decided_by == editor_id and reply.state != ReplyState.REJECTED:
            return Outcome.done("already_approved", reply_id)
        return Outcome.refused(f"decided.{ReplyState(reply.state).value}", reply_id)

    # -- Slack side ----------------------------------------------------------------------------
    def _post_preview(self, reply_id: int) -> None:
        """Post the approval preview once: claimed with a lease; after an unknown outcome
        (the claim is still there when the lease ends) the channel is searched for it
        before posting again."""
        channel = self._config.channels.approvals
        before = self._reply(reply_id)
        if not channel or before is None or before.preview_ts \
                or before.state != ReplyState.AWAITING_APPROVAL:
            return
        now = self._clock.now()
        previous = before.preview_claimed_at
        if previous is not None and previous >= now - PREVIEW_LEASE:
            return  # someone is posting it right now
        with Session(self._engine) as session:
            unchanged = col(Reply.preview_claimed_at).is_(None) if previous is None else \
                col(Reply.preview_claimed_at) == previous
            claimed = session.execute(
                update(Reply).where(col(Reply.id) == reply_id)
                .where(col(Reply.state) == ReplyState.AWAITING_APPROVAL)
                .where(col(Reply.preview_ts).is_(None)).where(unchanged)
                .values(preview_claimed_at=now))
            session.commit()
        mention = self.get(before.mention_id)
        if _count(claimed) != 1 or mention is None:
            return
        ts = None
        if previous is not None:  # an earlier post may have arrived: look first
            ts = self._find_preview(channel, reply_id, since=previous - PREVIEW_LEASE)
        if ts is None:
            try:
                ts = self._slack.post_message(channel, self._preview(before, mention)).ts
            except SlackOutcomeUnknown as exc:
                log.warning("approval preview of reply %s may not have arrived: %s",
                            reply_id, exc)
                return  # still claimed: once the lease ends, the sweep looks for it
            except SlackError as exc:
                log.warning("could not post the approval preview of reply %s: %s",
                            reply_id, exc)
                self._move(reply_id, (ReplyState.AWAITING_APPROVAL,),
                           {"preview_claimed_at": None}, bump=False)
                return
        self._move(reply_id, (ReplyState.AWAITING_APPROVAL,),
                   {"preview_channel": channel, "preview_ts": ts})

    def _find_preview(self, channel: str, reply_id: int, *, since: datetime) -> str | None:
        def ours(item: dict[str, Any]) -> bool:
            metadata = item.get("metadata") or {}
            return bool(metadata.get("event_type") == messages.APPROVAL_EVENT and
                        (metadata.get("event_payload") or {}).get("reply_id") == reply_id)

        try:
            return self._slack.find_message(channel, since=since, matches=ours)
        except SlackError as exc:
            log.warning("could not look for the preview of reply %s: %s", reply_id, exc)
            return None

    def _preview(self, reply: Reply, mention: Mention) -> Message:
        card_link = None
        if mention.slack_channel and mention.slack_ts:
            try:
                card_link = self._slack.permalink(mention.slack_channel, mention.slack_ts)
            except SlackError as exc:
                log.info("no permalink for mention %s: %s", mention.id, exc)
        return messages.approval_preview(
            reply, self.shown(mention, self._locale),
            platform=self.platforms.target(mention).platform,
            account=self.account_name(mention), card_link=card_link, locale=self._locale)

    def _refresh_preview(self, reply_id: int) -> None:
        reply = self._reply(reply_id)
        mention = self.get(reply.mention_id) if reply else None
        if reply is None or mention is None or not (reply.preview_channel and reply.preview_ts):
            return
        try:
            self._slack.update_message(reply.preview_channel, reply.preview_ts,
                                       self._preview(reply, mention))
        except SlackError as exc:
            log.warning("could not update the approval preview of reply %s: %s", reply_id, exc)

    def _tell_author_rejected(self, reply: Reply) -> None:
        mention = self.get(reply.mention_id)
        if mention is None:
            return
        card_link = None
        try:
            if mention.slack_channel and mention.slack_ts:
                card_link = self._slack.permalink(mention.slack_channel, mention.slack_ts)
            self._slack.direct_message(reply.author_id, messages.rejected_dm(
                reply, mention, card_link=card_link,
                locale=self._people.locale_for(reply.author_id)))
        except SlackError as exc:
            log.warning("could not tell %s that reply %s was rejected: %s", reply.author_id,
                        reply.id, exc)

    # -- the sweep --------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Finish what a crash or an outage interrupted (see the module docstring)."""
        self._settle_owed()
        now = self._clock.now()
        with Session(self._engine) as session:
            previews = session.exec(
                select(Reply.id).where(col(Reply.state) == ReplyState.AWAITING_APPROVAL)
                .where(col(Reply.preview_ts).is_(None))).all()
            queued = session.exec(
                select(Reply.id).where(col(Reply.state) == ReplyState.QUEUED)
                .where(col(Reply.updated_at) < now - QUEUED_GRACE)
                .where(col(Reply.next_check_at).is_(None)
                       | (col(Reply.next_check_at) <= now))).all()
            lost = session.exec(  # its process died mid-call, or is stuck past the lease
                select(Reply.id).where(col(Reply.state) == ReplyState.SENDING)
                .where(or_(col(Reply.attempted_at) < now - SEND_LEASE,
                           self._heartbeat.abandoned(col(Reply.claimed_by),
                                                     col(Reply.attempted_at), now)))).all()
            looks = session.exec(
                select(Reply.id).where(col(Reply.state) == ReplyState.UNCONFIRMED)
                .where(col(Reply.next_check_at) <= now)).all()
        for reply_id in previews:
            self._post_preview(int(reply_id or 0))
        for reply_id in queued:
            self.deliver(int(reply_id or 0))
        for reply_id in lost:
            if self._move(int(reply_id or 0), (ReplyState.SENDING,), {
                    "state": ReplyState.UNCONFIRMED, "checks": 0, "creatable_until": None,
                    "next_check_at": now,  # looked for below, at once
                    "error": Reason("reply.interrupted").stored(ERROR_LENGTH)}):
                reply = self._reply(int(reply_id or 0))
                if reply is not None:
                    self._qualifier.refresh_card(reply.mention_id)
        for reply_id in dict.fromkeys([*looks, *lost]):
            try:
                self.recheck(int(reply_id or 0))
            except Exception:
                log.exception("the sweep could not look for reply %s", reply_id)

    # -- storage -----------------------------------------------------------------------------
    def _reply(self, reply_id: int) -> Reply | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Reply, reply_id)

    def _newest_reply(self, mention_id: int) -> int:
        replies = self.cards.replies(mention_id)
        return int(replies[-1].id or 0) if replies else 0

    def _move(self, reply_id: int, states: Sequence[ReplyState], values: dict[str, Any], *,
              bump: bool = True, checks: int | None = None,
              attempted_at: datetime | None = None) -> bool:
        """One conditional change of a reply (and its mention's version, for the card);
        with `checks`, only while that look is still the reply's latest; with
        `attempted_at`, only while that send is."""
        with Session(self._engine) as session:
            query = update(Reply).where(col(Reply.id) == reply_id) \
                .where(col(Reply.state).in_(states))
            if checks is not None:
                query = query.where(col(Reply.checks) == checks)
            if attempted_at is not None:
                query = query.where(col(Reply.attempted_at) == attempted_at)
            changed = session.execute(query.values(**values, updated_at=self._clock.now()))
            if _count(changed) != 1:
                session.rollback()
                return False
            if bump:
                mention_id = session.exec(select(Reply.mention_id)
                                          .where(col(Reply.id) == reply_id)).one()
                _bump(session, mention_id)
            session.commit()
        return True

    def reply(self, reply_id: int) -> Reply | None:
        return self._reply(reply_id)

    # -- templates ------------------------------------------------------------------------------
    def template_samples(self, key: str, locale: str) -> list[messages.SampleRender]:
        """A template rendered with a sample mention of each kind, for its preview."""
        template = self.library.get(key)
        if template is None:
            return []
        renders = []
        contexts = sample_contexts(self._config, template.locale)
        for (_mention, target), context in zip(sample_mentions(template.locale), contexts,
                                               strict=True):
            try:
                text = render_template(template.body, context, locale=template.locale,
                              timezone=self.library.timezone)
            except TemplateProblem as exc:
                renders.append(messages.SampleRender(target.platform, None, "",
                                                     exc.problem.text(locale)))
                continue
            renders.append(messages.SampleRender(target.platform, target.final_text(text),
                                                 messages.count_line(target, text, locale)))
        return renders


def _count_reply(mention: Mention, state: ReplyState) -> None:
    """`vigie_replies`: sent, failed (certainly not out) or unconfirmed (maybe out)."""
    REPLIES.labels(bounded("platform", mention.platform), str(state.value)).inc()


def _bump(session: Session, mention_id: int) -> None:
    session.execute(update(Mention).where(col(Mention.id) == mention_id)
                    .values(version=col(Mention.version) + 1))


def _count(result: Any) -> int:
    return int(result.rowcount)
