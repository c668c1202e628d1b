"""Curation: good mentions (praise, testimonies) kept with ⭐ on their card, listed by
`/vigie saved`, and handed to `/draft` (issue 6) by `Curation.quotable` as quotes with
the author's handle and link."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.mentions.models import Mention
from bot.moderation.masking import author_key
from bot.moderation.messages import SavedLine
from bot.moderation.models import MentionModeration, SavedMention
from bot.moderation.service import Moderation, touch, write_log


@dataclass(frozen=True)
class Quote:
    """A saved mention as a post may quote it."""

    mention_id: int
    handle: str
    name: str | None
    url: str | None
    text: str

    @property
    def formatted(self) -> str:
        """« text » — @handle https://… : ready to paste into a draft."""
        attribution = f"{self.name} ({self.handle})" if self.name else self.handle
        quote = f"« {' '.join(self.text.split())} » — {attribution}"
        return f"{quote} {self.url}" if self.url else quote


class Curation:
    def __init__(self, *, engine: Engine, clock: Clock, moderation: Moderation) -> None:
        self._engine = engine
        self._clock = clock
        self._moderation = moderation

    def save(self, mention_id: int, *, actor: str, channel_id: str, keep: bool = True) -> str:
        """⭐ on a card (or ★ to un-save): "saved" | "unsaved" | "unchanged" | "abusive" |
        "refused" | "missing"."""
        mention = self._moderation.get(mention_id)
        if mention is None:
            return "missing"
        if not self._moderation.staff.may_qualify(actor, mention.channel_id):
            self._moderation.tell(channel_id, actor, "refused")
            return "refused"
        now = self._clock.now()
        with Session(self._engine) as session:
            marked = session.get(MentionModeration, mention_id)
            if keep and marked is not None and marked.abusive:
                self._moderation.tell(channel_id, actor, "cannot_save_abusive")
                return "abusive"
            row = session.get(SavedMention, mention_id)
            if (row is not None) == keep:
                return "unchanged"
            if keep:
                session.add(SavedMention(mention_id=mention_id, by=actor, at=now))
            else:
                session.delete(row)
            write_log(session, at=now, actor=actor, action="saved" if keep else "unsaved",
                      mention_id=mention_id, author=author_key(mention.author_handle))
            touch(session, mention_id)
            session.commit()
        self._moderation.refresh_card(mention_id)
        return "saved" if keep else "unsaved"

    def saved(self, limit: int = 20) -> list[SavedLine]:
        """The latest saved mentions, newest first."""
        with Session(self._engine, expire_on_commit=False) as session:
            rows = session.exec(
                select(SavedMention, Mention).join(Mention, col(Mention.id) ==
                                                   col(SavedMention.mention_id))
                .order_by(col(SavedMention.at).desc()).limit(limit)).all()
        return [SavedLine(mention=mention, by=saved.by, at=saved.at) for saved, mention in rows]

    def quotable(self, limit: int = 20) -> list[Quote]:
        """Saved mentions formatted for quoting in a draft: what `/draft` offers."""
        return [_quote(line.mention) for line in self.saved(limit)]

    def quote(self, mention_id: int) -> Quote | None:
        """One saved mention as a quote, re-read when it is picked in `/draft`: None if it
        was un-saved (or marked abusive since) in the meantime."""
        with Session(self._engine, expire_on_commit=False) as session:
            if session.get(SavedMention, mention_id) is None:
                return None
            marked = session.get(MentionModeration, mention_id)
            mention = session.get(Mention, mention_id)
        if mention is None or (marked is not None and marked.abusive):
            return None
        return _quote(mention)


def _quote(mention: Mention) -> Quote:
    return Quote(mention_id=mention.id or 0, handle=mention.author_handle,
                 name=mention.author_name, url=mention.url, text=mention.text)
