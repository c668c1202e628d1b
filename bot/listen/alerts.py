"""Alert words: crisis, threats, legal terms. A mention carrying one gets a raised
priority and a marked card, and the on-call people get a direct message.

Words are listed per language in the config. A mention in a language that has a list is
checked against that list; one in another or an unknown language against all of them.
DMs are queued in the outbox inside intake's own transaction, so none is lost; alerts
that arrive while a DM to the same person is still waiting, or within `dm_every` seconds
of the last one, join that DM instead of sending another (a harassment wave must not
turn into hundreds of DMs).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.config import Alerts
from bot.listen.models import OutboxKind, OutboxMessage, OutboxState
from bot.listen.outbox import enqueue
from bot.mentions.models import Priority
from bot.text import fold, keyword_pattern

DM_MENTIONS_MAX = 200  # mentions one DM can gather; beyond, a new DM is queued


class AlertWords:
    def __init__(self, alerts: Alerts) -> None:
        self._alerts = alerts
        self.priority = Priority(alerts.priority)
        self._originals: dict[str, str] = {}
        for words in alerts.words.values():
            for word in words:
                self._originals.setdefault(fold(word.strip()), word.strip())
        self._by_lang = {lang: keyword_pattern(words) for lang, words in alerts.words.items()}
        self._all = keyword_pattern(list(self._originals.values()))

    @property
    def enabled(self) -> bool:
        return self._all is not None

    def find(self, text: str, lang: str | None) -> list[str]:
        """The alert words in `text`, as configured, in order of first appearance."""
        if self._all is None:
            return []
        pattern: re.Pattern[str] | None = self._by_lang.get(lang or "", self._all)
        if pattern is None:
            return []
        found: list[str] = []
        for match in pattern.finditer(fold(text)):
            word = self._originals.get(match.group(0), match.group(0))
            if word not in found:
                found.append(word)
        return found

    def notify(self, session: Session, mention_id: int, now: datetime) -> None:
        """Queue (or extend) a DM to each on-call person about `mention_id`."""
        for user in self._alerts.oncall:
            waiting = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == OutboxKind.ALERT_DM)
                .where(OutboxMessage.channel == user)
                .where(OutboxMessage.state == OutboxState.PENDING)
                .order_by(col(OutboxMessage.id).desc()).limit(1)
            ).first()
            if waiting is not None:
                payload = json.loads(waiting.payload)
                if len(payload["mentions"]) < DM_MENTIONS_MAX:
                    payload["mentions"].append(mention_id)
                    # Only while it still waits: once a sender claimed it, a new DM is due.
                    joined = session.execute(
                        update(OutboxMessage)
                        .where(col(OutboxMessage.id) == waiting.id)
                        .where(col(OutboxMessage.state) == OutboxState.PENDING)
                        .where(col(OutboxMessage.payload) == waiting.payload)
                        .values(payload=json.dumps(payload))
                    )
                    if joined.rowcount == 1:  # type: ignore[attr-defined]
                        continue
            last = session.exec(
                select(OutboxMessage.created_at)
                .where(OutboxMessage.kind == OutboxKind.ALERT_DM)
                .where(OutboxMessage.channel == user)
                .order_by(col(OutboxMessage.id).desc()).limit(1)
            ).first()
            when = now
            if last is not None:
                when = max(now, last + timedelta(seconds=self._alerts.dm_every))
            enqueue(session, kind=OutboxKind.ALERT_DM, channel=user, now=now, when=when,
                    payload={"mentions": [mention_id]})
