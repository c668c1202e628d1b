"""What the moderate flow adds to a mention's card, as a wrapper of the card renderer
(like `FlagCards.card_renderer`): the relay and every redraw go through it.

An abusive mention is drawn from a masked copy (so the fallback text, the collapsed
line and every excerpt say "[masked: insult]"), then its body is replaced by what it is,
who sent it and where, with a Reveal button. Under the mention: the repeat offender flag,
moderation in force, forwards to desks and their outcome, and who saved it; below the
qualify controls, the moderate controls.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import Config
from bot.i18n import Locale
from bot.mentions.models import Mention
from bot.moderation import messages
from bot.moderation.masking import author_key, kinds_of, mask
from bot.moderation.messages import CardMarks
from bot.moderation.models import (
    ActionKind,
    ActionState,
    Delegation,
    MentionModeration,
    ModerationAction,
    Offender,
    SavedMention,
)
from bot.platforms import PLATFORMS
from bot.slack_format import Message

# Actions on the mention itself (the others are on its author).
MENTION_ACTIONS = [ActionKind.REPORT, ActionKind.HIDE, ActionKind.DELETE, ActionKind.HOLD,
                   ActionKind.REJECT, ActionKind.REJECT_BAN, ActionKind.RELEASE]
# Platforms where moderation actions exist at all (`Platform.moderation`).
MODERATED_PLATFORMS = tuple(p.name for p in PLATFORMS if p.moderation)


class ModerationCards:
    def __init__(self, *, engine: Engine, config: Config, locale: Locale,
                 can_act: Callable[[Mention], bool] = lambda mention: False) -> None:
        self._engine = engine
        self._config = config
        self._locale = locale
        # Set by the app once the platform clients exist: may "Moderate…" be offered?
        self.can_act = can_act
        self._desk_names = {d.id: d.name for d in config.desks}

    def marks(self, mention: Mention) -> CardMarks:
        key = author_key(mention.author_handle)
        with Session(self._engine, expire_on_commit=False) as session:
            kinds = kinds_of(session.get(MentionModeration, mention.id))
            offender = session.get(Offender, key)
            actions = list(session.exec(
                select(ModerationAction).where(ModerationAction.state == ActionState.DONE)
                .where((col(ModerationAction.author_key) == key)
                       & col(ModerationAction.action).in_([ActionKind.MUTE, ActionKind.BLOCK])
                       | (col(ModerationAction.mention_id) == mention.id)
                       & col(ModerationAction.action).in_(MENTION_ACTIONS))
                .order_by(col(ModerationAction.id))))
            delegations = list(session.exec(
                select(Delegation).where(Delegation.mention_id == mention.id)
                .order_by(col(Delegation.id)).limit(5)))
            saved = session.get(SavedMention, mention.id)
        return CardMarks(
            kinds=kinds,
            offender=offender if offender is not None and offender.watch_since else None,
            actions=actions, delegations=delegations,
            saved_by=saved.by if saved else None, desks=bool(self._config.desks),
            platform_actions=mention.platform in MODERATED_PLATFORMS and self.can_act(mention),
            desk_names=self._desk_names)

    def card_renderer(self, render: Callable[[Mention], Message]
                      ) -> Callable[[Mention], Message]:
        def moderated(mention: Mention) -> Message:
            marks = self.marks(mention)
            shown = mask(mention, marks.kinds, self._locale) if marks.kinds is not None \
                else mention
            message = render(shown)
            blocks = list(message.blocks)
            if any(str(b.get("block_id", "")).startswith("collapsed:") for b in blocks):
                return message  # one line, already masked
            if marks.kinds is not None:
                account = self._config.account(mention.account_id)
                body = messages.masked_body(
                    mention, marks.kinds, account=account.name if account else "—",
                    locale=self._locale)
                blocks = [body if b.get("block_id") == "body" else b for b in blocks]
            extra = messages.card_context(marks, self._locale)
            at = next((i + 1 for i, b in enumerate(blocks) if b.get("block_id") == "meta"),
                      len(blocks))
            blocks[at:at] = extra
            blocks.append(messages.card_controls(mention, marks, self._locale))
            return Message(text=message.text, blocks=blocks, metadata=message.metadata)

        return moderated
