"""Masking: what every surface shows instead of an abusive mention's text.

The stored text never changes. Surfaces that show mention text (the card, the digest of
a burst, the alert DM, the qualify DMs and history) pass their mentions through `masked`
first, which swaps the text of abusive ones for "[masked: insult]" on a detached copy;
only the Reveal button shows the real text, to the person who clicks, and it is logged.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from bot.i18n import catalogue
from bot.mentions.models import Mention
from bot.moderation.models import MentionModeration
from bot.text import fold

_COLUMNS = tuple(column.key for column in Mention.__table__.columns)  # type: ignore[attr-defined]


def author_key(handle: str) -> str:
    """One key per author across sources: the handle, folded, without its leading @."""
    return fold(handle.strip()).lstrip("@")[:256]


def kinds_of(row: MentionModeration | None) -> tuple[str, ...] | None:
    """The kinds of abuse of a marked mention, () when staff marked it without a kind,
    None when it is not abusive."""
    if row is None or not row.abusive:
        return None
    return tuple(k for k in (row.kinds or "").split(",") if k)


def kinds_label(kinds: Sequence[str], locale: str) -> str:
    t = catalogue().text
    if not kinds:
        return t(locale, "moderate.kind.abusive")
    return ", ".join(t(locale, f"moderate.kind.{kind}") for kind in kinds)


def placeholder(kinds: Sequence[str], locale: str) -> str:
    return catalogue().text(locale, "moderate.card.placeholder",
                            kinds=kinds_label(kinds, locale))


def mask(mention: Mention, kinds: Sequence[str], locale: str) -> Mention:
    """A detached copy of `mention` whose text says what it is instead of saying it."""
    copy = Mention(**{name: getattr(mention, name) for name in _COLUMNS})
    copy.text = placeholder(kinds, locale)
    return copy


def abusive_kinds(session: Session, mention_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Which of `mention_ids` are abusive, with their kinds."""
    if not mention_ids:
        return {}
    rows = session.exec(select(MentionModeration)
                        .where(col(MentionModeration.mention_id).in_(list(mention_ids)))
                        .where(col(MentionModeration.abusive).is_(True))).all()
    return {row.mention_id: kinds_of(row) or () for row in rows}


def masked(session: Session, mentions: Sequence[Mention], locale: str) -> list[Mention]:
    """`mentions` with the abusive ones masked, in the same order."""
    found = abusive_kinds(session, [m.id for m in mentions if m.id is not None])
    return [mask(m, found[m.id], locale) if m.id in found else m for m in mentions]
