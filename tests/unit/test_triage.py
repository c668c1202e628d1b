"""Triage at intake: rules by author and account, and a failure never loses a mention."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Author, Mention, MentionIn
from bot.mentions.qualify_models import AuditEntry, MentionTriage
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.mentions.triage import Triage


def incoming(external_id: str, text: str, **fields: object) -> MentionIn:
    values: dict[str, object] = {
        "external_id": external_id, "text": text, "created_at": datetime(2026, 11, 2, tzinfo=UTC),
        "author": Author(handle="@kev@pouet.example"), "language": "fr"}
    values.update(fields)
    return MentionIn(**values)  # type: ignore[arg-type]


def intake(engine: Engine, config: Config, clock: FrozenClock, hook: object) -> Intake:
    return Intake(engine=engine, config=config, router=Router(config), clock=clock,
                  hook=hook)  # type: ignore[arg-type]


def test_rules_match_on_authors_and_accounts_too(engine: Engine, config: Config,
                                                 clock: FrozenClock) -> None:
    """A rule on an author (any case, with or without @) and an account pre-sets fields."""
    rules = [*config.qualify.rules, config.qualify.rules[0].model_copy(update={
        "name": "vip", "keywords": [], "authors": ["KEV@pouet.example"],
        "accounts": ["matinale"], "category": "praise", "priority": "high"})]
    custom = config.model_copy(update={"qualify": config.qualify.model_copy(
        update={"rules": rules})})
    triage = Triage(engine=engine, config=custom, clock=clock)
    service = intake(engine, custom, clock, triage)
    first = service.ingest("monitoring", incoming("a", "Merci pour ce matin !"))
    other = service.ingest("alerts", incoming("b", "Merci pour ce soir", account="sport-talk"))
    with Session(engine) as session:
        vip = session.get(Mention, first.mention_id)
        plain = session.get(Mention, other.mention_id)
        assert vip and plain
        assert (vip.category, vip.priority) == ("praise", "high")
        assert (plain.category, plain.priority) == (None, "normal")
        [suggested] = session.exec(select(MentionTriage.suggested_sentiment)
                                   .where(MentionTriage.mention_id == vip.id)).all()
        assert suggested == "positive"
        assert vip.sentiment is None  # a suggestion is never applied by itself
        entries = session.exec(select(AuditEntry).where(AuditEntry.mention_id == vip.id))
        assert {(e.field, e.rule, e.new_value) for e in entries} == {
            ("category", "vip", "praise"), ("priority", "vip", "high")}


class Broken:
    def prepare(self, session: Session, mention: Mention) -> None:
        mention.category = "spam"  # type: ignore[assignment]
        session.add(AuditEntry(mention_id=mention.id or 0, at=datetime.now(UTC),
                               source="rule", field="category"))  # type: ignore[arg-type]
        raise RuntimeError("bug in a rule")

    def stored(self, mention_id: int) -> None:
        pass


def test_a_failing_triage_still_stores_the_mention(engine: Engine, config: Config,
                                                   clock: FrozenClock) -> None:
    """If triage breaks, the mention is stored (and relayed) untriaged, never lost."""
    result = intake(engine, config, clock, Broken()).ingest("monitoring", incoming("c", "Bonjour"))
    with Session(engine) as session:
        stored = session.get(Mention, result.mention_id)
        assert stored is not None and stored.category is None
        assert list(session.exec(select(AuditEntry))) == []
