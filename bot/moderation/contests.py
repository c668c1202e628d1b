"""Contests: `/vigie tirage <#hashtag or keyword> [winners] [since]` draws winners among
the unique authors of matching mentions, fairly and so that anyone can check it.

The method, published with every draw:
1. participants: the authors (handle, lowercase, without accents or leading @) of the
   mentions received for the newsroom between `since` and the draw, whose text holds
   the hashtag (or the keyword as a whole word), minus the newsroom's own accounts
   (`[contests] staff_accounts`, the Bluesky sources), authors on the watchlist and
   authors with a mention marked abusive; sorted (Python's string order), one each;
2. seed = SHA-256 (hex) of the public inputs, one per line: "vigie-tirage/1", the query,
   since and until (ISO 8601, UTC), the number of winners, then the sorted participants;
3. winners = `random.Random(int(seed, 16)).sample(participants, k)` (Python 3.11's
   Mersenne Twister), k = min(winners, participants).
The participant list is posted in the thread, so anyone can recompute both the seed and
the winners (`redo`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.i18n import Locale
from bot.mentions.models import Mention
from bot.moderation import messages
from bot.moderation.masking import author_key
from bot.moderation.models import ContestDraw, MentionModeration, Offender
from bot.moderation.service import write_log
from bot.slack import SlackError, SlackGateway
from bot.text import fold, keyword_pattern

METHOD = "vigie-tirage/1: SHA-256 seed, random.Random(seed).sample"
PREFIX = "vigie-tirage/1"
LIST_CHUNK = 60
_DURATION = re.compile(r"^(\d{1,4})([dhj])$")


class BadDraw(ValueError):
    """The command's arguments are wrong: `key` names the catalogue text to answer."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class DrawRequest:
    query: str
    winners: int
    since: datetime


@dataclass(frozen=True)
class DrawResult:
    draw: ContestDraw
    participants: list[str]
    winners: list[str]
    excluded: dict[str, int]


def parse(args: Sequence[str], *, now: datetime, default_days: int, max_winners: int
          ) -> DrawRequest:
    """`#concours 3 7d` → query, winners, since. Raises `BadDraw`."""
    if not args or not args[0].strip("#"):
        raise BadDraw("usage_tirage")
    query, winners, since = args[0], 1, now - timedelta(days=default_days)
    for arg in args[1:]:
        lowered = arg.lower()
        duration = _DURATION.match(lowered)
        if arg.isdigit() and len(arg) <= 3:
            winners = int(arg)
        elif duration:
            amount, unit = int(duration.group(1)), duration.group(2)
            since = now - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
        else:
            try:
                since = datetime.fromisoformat(arg).replace(tzinfo=UTC) \
                    if "T" not in arg and "+" not in arg else datetime.fromisoformat(arg)
            except ValueError:
                raise BadDraw("usage_tirage") from None
    if winners < 1:
        raise BadDraw("usage_tirage")
    if winners > max_winners:
        raise BadDraw("too_many", max=max_winners)
    if since >= now:
        raise BadDraw("usage_tirage")
    return DrawRequest(query, winners, since.astimezone(UTC))


def seed_of(query: str, since: datetime, until: datetime, winners: int,
            participants: Sequence[str]) -> str:
    lines = [PREFIX, query, since.astimezone(UTC).isoformat(), until.astimezone(UTC).isoformat(),
             str(winners), *participants]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def redo(participants: Sequence[str], seed: str, winners: int) -> list[str]:
    """The winners of a draw, from its published participants and seed."""
    ordered = sorted(participants)
    return random.Random(int(seed, 16)).sample(ordered, min(winners, len(ordered)))


def matcher(query: str) -> re.Pattern[str]:
    folded = fold(query.strip())
    if folded.startswith("#"):
        return re.compile(rf"(?<![\w#]){re.escape(folded)}(?!\w)")
    pattern = keyword_pattern([folded])
    assert pattern is not None
    return pattern


class Contests:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock, locale: Locale,
                 slack: SlackGateway) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._locale = locale
        self._slack = slack
        staff = {author_key(h) for h in config.contests.staff_accounts}
        staff |= {author_key(s.handle) for s in config.sources if s.handle}
        self._staff = staff

    def parse(self, args: Sequence[str]) -> DrawRequest:
        contests = self._config.contests
        return parse(args, now=self._clock.now(), default_days=contests.since_days,
                     max_winners=contests.max_winners)

    def draw(self, request: DrawRequest, *, actor: str, channel_id: str) -> DrawResult:
        """Draw, store and log it (not yet published)."""
        until = self._clock.now()
        pattern = matcher(request.query)
        with Session(self._engine, expire_on_commit=False) as session:
            rows = session.exec(
                select(Mention.author_handle, Mention.text)
                .where(col(Mention.created_at) >= request.since)
                .where(col(Mention.created_at) <= until)).all()
            authors = {author_key(handle) for handle, text in rows
                       if pattern.search(fold(text))}
            watched = set(session.exec(select(Offender.author_key)
                                       .where(col(Offender.watch_since).is_not(None))).all())
            abusive = set(session.exec(
                select(MentionModeration.author_key)
                .where(col(MentionModeration.abusive).is_(True))).all())
            excluded = {"staff": len(authors & self._staff),
                        "watchlist": len((authors - self._staff) & watched),
                        "abusive": len((authors - self._staff - watched) & abusive)}
            participants = sorted(authors - self._staff - watched - abusive)
            seed = seed_of(request.query, request.since, until, request.winners, participants)
            winners = redo(participants, seed, request.winners)
            draw = ContestDraw(at=until, by=actor, channel_id=channel_id, query=request.query,
                               since=request.since, until=until, wanted=request.winners,
                               participants=json.dumps(participants),
                               excluded=json.dumps(excluded), seed=seed, method=METHOD,
                               winners=json.dumps(winners))
            session.add(draw)
            session.flush()
            write_log(session, at=until, actor=actor, action="draw",
                      detail=f"#{draw.id} {request.query}: {len(participants)} participants, "
                      f"seed {seed}")
            session.commit()
        return DrawResult(draw, participants, winners,
                          {k: v for k, v in excluded.items() if v})

    def publish(self, result: DrawResult) -> bool:
        """Post the result in the channel and the numbered participants in its thread."""
        draw = result.draw
        message = messages.draw_message(draw, winners=[f"@{w}" for w in result.winners],
                                        participants=len(result.participants),
                                        excluded=result.excluded, locale=self._locale)
        try:
            posted = self._slack.post_message(draw.channel_id, message)
            numbered = list(enumerate(result.participants, 1))
            for part, start in enumerate(range(0, len(numbered), LIST_CHUNK), 1):
                self._slack.post_message(draw.channel_id, messages.participants_message(
                    numbered[start:start + LIST_CHUNK], part=part, locale=self._locale),
                    thread_ts=posted.ts)
        except SlackError:
            return False
        with Session(self._engine) as session:
            stored = session.get(ContestDraw, draw.id)
            if stored is not None:
                stored.message_ts = posted.ts
                session.add(stored)
                session.commit()
        return True
