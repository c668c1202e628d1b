"""Moderation actions from the card (confirmed in a modal) and their undoing from the
watchlist: each one is a `ModerationAction` row written before the platform is called
(state pending), then settled (done or failed), logged, and shown on the card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.mentions.models import Mention
from bot.moderation.masking import author_key
from bot.moderation.messages import PLATFORM_NAMES
from bot.moderation.models import ERROR_LENGTH, ActionKind, ActionState, ModerationAction
from bot.moderation.platforms import ActionFailed, NotPossible, PlatformModerator
from bot.moderation.service import Moderation, touch, write_log
from bot.platforms import platform as platform_named
from bot.reasons import Reason

log = logging.getLogger(__name__)

UNDOABLE = (ActionKind.MUTE, ActionKind.BLOCK)  # by author: one in force at a time


def undoable(row: ModerationAction) -> bool:
    """Can `row` be lifted on its platform (a mute, a block; a hide where it can be
    shown again)?"""
    found = platform_named(row.platform)
    return found is not None and str(row.action) in found.undoes


@dataclass(frozen=True)
class ActOutcome:
    kind: str  # "done" | "already" | "failed" | "refused" | "missing" | "not_possible"
    reason: str | None = None  # "failed": a stored `Reason` (`bot.reasons.shown_reason`)
    action_id: int | None = None
    platform: str | None = None  # of an undo: its name, as staff read it


class ModerationActions:
    def __init__(self, *, engine: Engine, clock: Clock, moderation: Moderation,
                 platforms: PlatformModerator) -> None:
        self._moderation = moderation
        self._platforms = platforms
        self._engine = engine
        self._clock = clock

    def options(self, mention: Mention) -> list[str]:
        """What the modal offers; raises `NotPossible` with a catalogue key."""
        return self._platforms.actions_for(mention)

    def can_act(self, mention: Mention) -> bool:
        return self._platforms.can_act(mention)

    def perform(self, mention_id: int, action: str, *, comment: str | None, actor: str,
                channel_id: str) -> ActOutcome:
        mention = self._moderation.get(mention_id)
        if mention is None:
            return ActOutcome("missing")
        if not self._moderation.staff.may_qualify(actor, mention.channel_id):
            self._moderation.tell(channel_id, actor, "refused")
            return ActOutcome("refused")
        platform = PLATFORM_NAMES.get(mention.platform, mention.platform)
        try:
            if action not in self._platforms.actions_for(mention):
                raise NotPossible("no_platform")
        except NotPossible as impossible:
            return ActOutcome("not_possible", impossible.key)
        key = author_key(mention.author_handle)
        now = self._clock.now()
        with Session(self._engine, expire_on_commit=False) as session:
            if action in UNDOABLE:
                active = session.exec(
                    select(ModerationAction.id).where(ModerationAction.author_key == key)
                    .where(ModerationAction.account_id == (mention.account_id or ""))
                    .where(ModerationAction.action == action)
                    .where(col(ModerationAction.state).in_([ActionState.DONE,
                                                            ActionState.PENDING]))).first()
                if active is not None:
                    self._moderation.tell(channel_id, actor, "already")
                    return ActOutcome("already")
            row = ModerationAction(mention_id=mention_id, author_key=key,
                                   platform=mention.platform,
                                   account_id=mention.account_id or "",
                                   action=ActionKind(action),
                                   state=ActionState.PENDING, comment=comment, by=actor, at=now)
            session.add(row)
            session.commit()
        try:
            done = self._platforms.perform(mention, action, comment)
        except (ActionFailed, NotPossible) as exc:
            why = _why(exc, platform)
            stored = why.stored(ERROR_LENGTH)
            self._settle(row.id or 0, state=ActionState.FAILED, error=stored,
                         actor=actor, mention_id=mention_id, key=key, action=f"{action}_failed")
            self._moderation.tell(channel_id, actor, "failed", platform=platform, reason=why)
            return ActOutcome("failed", stored)
        self._settle(row.id or 0, state=ActionState.DONE, target=done.target,
                     remote_ref=done.remote_ref, actor=actor, mention_id=mention_id, key=key,
                     action=action)
        self._moderation.refresh_card(mention_id)
        self._moderation.tell(channel_id, actor, f"done_{action}", platform=platform)
        return ActOutcome("done", action_id=row.id)

    def undo(self, action_id: int, *, actor: str) -> ActOutcome:
        """Lift a mute or a block (from the watchlist), or show a hidden comment again
        (from its card)."""
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.get(ModerationAction, action_id)
            mention = session.get(Mention, row.mention_id) if row else None
        if row is None or mention is None:
            return ActOutcome("missing")
        if not self._moderation.staff.may_qualify(actor, mention.channel_id):
            return ActOutcome("refused")
        if row.state != ActionState.DONE or not undoable(row):
            return ActOutcome("already")
        try:
            self._platforms.undo(row)
        except (ActionFailed, NotPossible) as exc:
            error = _why(exc, PLATFORM_NAMES.get(row.platform, row.platform)) \
                .stored(ERROR_LENGTH)
            with Session(self._engine) as session:
                write_log(session, at=self._clock.now(), actor=actor,
                          action=f"un{row.action}_failed", mention_id=row.mention_id,
                          author=row.author_key, detail=error)
                session.commit()
            return ActOutcome("failed", error,
                              platform=PLATFORM_NAMES.get(row.platform, row.platform))
        now = self._clock.now()
        with Session(self._engine) as session:
            stored = session.get(ModerationAction, action_id)
            assert stored is not None
            stored.state, stored.undone_by, stored.undone_at = ActionState.UNDONE, actor, now
            session.add(stored)
            write_log(session, at=now, actor=actor, action=f"un{row.action}",
                      mention_id=row.mention_id, author=row.author_key)
            touch(session, row.mention_id)
            session.commit()
        self._moderation.refresh_card(row.mention_id)
        return ActOutcome("done", action_id=action_id,
                          platform=PLATFORM_NAMES.get(row.platform, row.platform))

    def _settle(self, action_id: int, *, state: ActionState, actor: str, mention_id: int,
                key: str, action: str, target: str | None = None,
                remote_ref: str | None = None, error: str | None = None) -> None:
        now = self._clock.now()
        with Session(self._engine) as session:
            row = session.get(ModerationAction, action_id)
            assert row is not None
            row.state, row.target, row.remote_ref, row.error = state, target, remote_ref, error
            session.add(row)
            write_log(session, at=now, actor=actor, action=action, mention_id=mention_id,
                      author=key, detail=error or remote_ref)
            if state == ActionState.DONE:
                touch(session, mention_id)
            session.commit()


def _why(exc: ActionFailed | NotPossible, platform: str) -> Reason:
    """Why an action failed, to store and show in the reader's language."""
    if isinstance(exc, ActionFailed):
        return exc.reason
    if exc.key == "no_account":
        return Reason("moderation.no_account", platform=platform)
    return Reason("moderation.no_platform")
