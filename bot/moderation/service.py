"""Protect the people who read the mentions: abusive mentions found at intake, marks from
the card, Reveal, repeat offenders and their routing, the watchlist.

At intake (`prepare`, inside the transaction that stores the mention, before triage):
the word list (`bot.moderation.abuse`) marks an abusive mention, the author's count of
mentions marked abusive is recomputed, and an author at `[moderation] repeat_offender`
joins the watchlist; a watchlisted author's mention goes to `[moderation] channel` when
one is configured, before round-robin picks someone in that channel.

Every change bumps the mention's `version` in the same transaction, so the qualify
flow's redraw-until-stored loop (`Qualifier.refresh_card`) also covers what this module
adds to the card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.i18n import Locale
from bot.mentions.models import Mention
from bot.mentions.staff import StaffPolicy
from bot.moderation import messages
from bot.moderation.abuse import AbuseDetector, Detection
from bot.moderation.exposure import Exposure
from bot.moderation.masking import author_key, kinds_of
from bot.moderation.models import (
    ERROR_LENGTH,
    ActionState,
    Delegation,
    MarkSource,
    MentionModeration,
    ModerationAction,
    ModerationLog,
    Offender,
)
from bot.people import Directory
from bot.reasons import Reason, shown_reason
from bot.slack import SlackError, SlackGateway

log = logging.getLogger(__name__)

ROUTE_LABEL = "moderation: repeat offender"


def write_log(session: Session, *, at: datetime, actor: str | None, action: str,
              mention_id: int | None = None, author: str | None = None,
              detail: str | None = None) -> None:
    session.add(ModerationLog(at=at, actor_id=actor, action=action, mention_id=mention_id,
                              author_key=author, detail=detail[:512] if detail else None))


def touch(session: Session, mention_id: int) -> None:
    """Bump the mention's version: its card must be redrawn from the stored state."""
    session.execute(update(Mention).where(col(Mention.id) == mention_id)
                    .values(version=col(Mention.version) + 1))


@dataclass(frozen=True)
class WatchEntry:
    offender: Offender
    actions: list[ModerationAction] = field(default_factory=list)


@dataclass(frozen=True)
class Marked:
    kind: str  # "changed" | "unchanged" | "missing" | "refused"


class Moderation:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock, locale: Locale,
                 slack: SlackGateway, people: Directory, staff: StaffPolicy,
                 detector: AbuseDetector | None = None) -> None:
        self._engine = engine
        self._config = config
        self._settings = config.moderation
        self._clock = clock
        self._locale = locale
        self._slack = slack
        self._people = people
        self.staff = staff
        self.detector = detector or AbuseDetector(
            terms=self._settings.terms, allowed=self._settings.allowed,
            use_sentiment=self._settings.use_sentiment)
        self.exposure = Exposure(engine=engine, clock=clock)
        # Set by the app: redraws a mention's card (`Qualifier.refresh_card`).
        self.refresh_card: Callable[[int], None] = lambda mention_id: None

    # -- the intake hook ------------------------------------------------------------------
    def prepare(self, session: Session, mention: Mention) -> None:
        """A new mention, in intake's transaction: mark it if abusive, count its author,
        route a watchlisted author's mention to the moderation channel."""
        now = self._clock.now()
        key = author_key(mention.author_handle)
        found = self.detector.detect(mention.text, mention.lang)
        row = None
        if found is not None:
            row = self._mark_detected(session, mention, key, found, now)
        channel = self._settings.channel
        if row is not None:
            offender: Offender | None = self._recount(session, mention, key, now)
        else:  # the hot path of a burst: no query unless a repeat offender is routed
            offender = session.get(Offender, key) if channel else None
        if offender is not None and offender.watch_since is not None and channel \
                and mention.channel_id != channel:
            mention.channel_id, mention.route = channel, ROUTE_LABEL
            if row is not None:
                row.offender_routed = True
                session.add(row)
            session.add(mention)
            write_log(session, at=now, actor=None, action="routed", mention_id=mention.id,
                      author=key, detail=channel)

    def stored(self, mention_id: int) -> None:
        """Nothing to do after the commit: the card is drawn with the marks."""

    def _mark_detected(self, session: Session, mention: Mention, key: str, found: Detection,
                       now: datetime) -> MentionModeration:
        row = MentionModeration(
            mention_id=mention.id or 0, author_key=key, abusive=True,
            kinds=",".join(found.kinds), terms=", ".join(found.terms)[:512],
            source=MarkSource.DETECTOR, marked_at=now)
        session.add(row)
        write_log(session, at=now, actor=None, action="detected", mention_id=mention.id,
                  author=key, detail=",".join(found.kinds)
                  + (" (sentiment)" if found.via_sentiment else ""))
        session.flush()
        return row

    def _recount(self, session: Session, mention: Mention, key: str, now: datetime
                 ) -> Offender:
        """The author's mentions marked abusive since they were last cleared; on the
        watchlist from the configured number on."""
        offender = session.get(Offender, key)
        if offender is None:
            offender = Offender(author_key=key, handle=mention.author_handle[:256],
                                name=mention.author_name, platform=mention.platform)
            try:
                with session.begin_nested():
                    session.add(offender)
            except IntegrityError:  # another intake of the same author just created it
                found = session.get(Offender, key, populate_existing=True)
                assert found is not None
                offender = found
        query = select(func.count()).select_from(MentionModeration) \
            .where(MentionModeration.author_key == key) \
            .where(col(MentionModeration.abusive).is_(True))
        if offender.counted_from is not None:
            query = query.where(col(MentionModeration.marked_at) >= offender.counted_from)
        offender.abusive_count = int(session.exec(query).one())
        offender.handle, offender.name = mention.author_handle[:256], mention.author_name
        offender.platform = mention.platform
        offender.last_mention_id = mention.id
        offender.last_abusive_at = now
        listed = offender.abusive_count >= self._settings.repeat_offender
        if listed and offender.watch_since is None:
            offender.watch_since = now
            write_log(session, at=now, actor=None, action="watchlisted", mention_id=mention.id,
                      author=key, detail=str(offender.abusive_count))
        elif not listed and offender.watch_since is not None:
            offender.watch_since = None
            write_log(session, at=now, actor=None, action="unwatchlisted",
                      mention_id=mention.id, author=key, detail=str(offender.abusive_count))
        session.add(offender)
        return offender

    # -- round-robin ------------------------------------------------------------------------
    def round_robin_skip(self, session: Session, mention: Mention, people: Sequence[str]
                         ) -> set[str]:
        """People an abusive mention should not go to: past `max_share` of the abusive
        mentions handled over the last `share_days` days."""
        share = self._settings.max_share
        if share is None or mention.id is None:
            return set()
        row = session.get(MentionModeration, mention.id)
        if row is None or not row.abusive:
            return set()
        since = self._clock.now() - timedelta(days=self._settings.share_days)
        return self.exposure.over_share(session, people, since=since, max_share=share)

    # -- from the card ----------------------------------------------------------------------
    def may_moderate(self, user: str, mention: Mention, channel_id: str | None = None) -> bool:
        """Staff of the mention's channel, or a member of a desk it was forwarded to
        (who clicks from the desk's own message)."""
        if self.staff.may_qualify(user, mention.channel_id):
            return True
        if channel_id and channel_id != mention.channel_id:
            with Session(self._engine) as session:
                forwarded = session.exec(
                    select(Delegation.id).where(Delegation.mention_id == mention.id)
                    .where(Delegation.desk_channel == channel_id)).first()
            return forwarded is not None
        return False

    def mark(self, mention_id: int, *, abusive: bool, actor: str, channel_id: str | None
             ) -> Marked:
        """Staff say a mention is (or is not) abusive: its card is masked (or unmasked)
        and its author's count follows."""
        mention = self.get(mention_id)
        if mention is None:
            return Marked("missing")
        if not self.staff.may_qualify(actor, mention.channel_id):
            self.tell(channel_id or mention.channel_id, actor, "refused")
            return Marked("refused")
        now = self._clock.now()
        key = author_key(mention.author_handle)
        with Session(self._engine) as session:
            row = session.get(MentionModeration, mention_id)
            if row is not None and row.abusive == abusive:
                return Marked("unchanged")
            if row is None:
                if not abusive:
                    return Marked("unchanged")
                row = MentionModeration(mention_id=mention_id, author_key=key, abusive=True,
                                        source=MarkSource.STAFF, marked_at=now)
            row.abusive, row.source, row.marked_by, row.marked_at = \
                abusive, MarkSource.STAFF, actor, now
            session.add(row)
            session.flush()
            write_log(session, at=now, actor=actor,
                      action="marked" if abusive else "unmarked", mention_id=mention_id,
                      author=key)
            self._recount(session, mention, key, now)
            touch(session, mention_id)
            session.commit()
        self.refresh_card(mention_id)
        return Marked("changed")

    def reveal(self, mention_id: int, *, actor: str, channel_id: str) -> bool:
        """Show an abusive mention's text to the person who clicked, and only to them."""
        mention = self.get(mention_id)
        if mention is None:
            return False
        if not self.may_moderate(actor, mention, channel_id):
            self.tell(channel_id, actor, "refused")
            return False
        with Session(self._engine) as session:
            kinds = kinds_of(session.get(MentionModeration, mention_id))
            write_log(session, at=self._clock.now(), actor=actor, action="revealed",
                      mention_id=mention_id, author=author_key(mention.author_handle),
                      detail=channel_id)
            session.commit()
        message = messages.revealed(mention, kinds or (), locale=self._people.locale_for(actor))
        try:
            self._slack.post_ephemeral(channel_id, actor, message)
        except SlackError as exc:
            log.warning("could not reveal mention %s to %s: %s", mention_id, actor, exc)
            return False
        return True

    # -- the watchlist ----------------------------------------------------------------------
    def watchlist(self, limit: int = 40) -> list[WatchEntry]:
        """Authors on the watchlist, and those with a mute or block in force."""
        with Session(self._engine, expire_on_commit=False) as session:
            actions = list(session.exec(
                select(ModerationAction).where(ModerationAction.state == ActionState.DONE)
                .order_by(col(ModerationAction.at).desc())))
            keys = {a.author_key for a in actions}
            offenders = list(session.exec(
                select(Offender).where(col(Offender.watch_since).is_not(None)
                                       | col(Offender.author_key).in_(keys))
                .order_by(col(Offender.last_abusive_at).desc()).limit(limit)))
        return [WatchEntry(o, [a for a in actions if a.author_key == o.author_key])
                for o in offenders]

    def offender(self, key: str) -> Offender | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Offender, key)

    def clear(self, key: str, *, actor: str) -> bool:
        """Take an author off the watchlist: their count starts again from now."""
        now = self._clock.now()
        with Session(self._engine) as session:
            offender = session.get(Offender, key)
            if offender is None or offender.watch_since is None:
                return False
            offender.watch_since, offender.counted_from, offender.abusive_count = None, now, 0
            session.add(offender)
            write_log(session, at=now, actor=actor, action="cleared", author=key)
            mention_id = offender.last_mention_id
            if mention_id is not None:
                touch(session, mention_id)
            session.commit()
        if mention_id is not None:
            self.refresh_card(mention_id)
        return True

    # -- helpers ------------------------------------------------------------------------------
    def get(self, mention_id: int) -> Mention | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Mention, mention_id)

    def tell(self, channel: str, user: str, key: str, **params: object) -> None:
        """A short ephemeral answer to `user` in `channel`; a `Reason` param is said in
        their language."""
        locale = self._people.locale_for(user)
        params = {name: shown_reason(value.stored(ERROR_LENGTH), locale)
                  if isinstance(value, Reason) else value for name, value in params.items()}
        try:
            self._slack.post_ephemeral(channel, user, messages.reply(locale, key, **params))
        except SlackError as exc:
            log.warning("could not tell %s (%s): %s", user, key, exc)
