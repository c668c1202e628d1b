"""Abuse detection (measured on the labelled sample, fair criticism left alone) and the
contest draw (reproducible, never an excluded author)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import FrozenClock
from bot.config import Config, Contests
from bot.mentions.models import Mention
from bot.moderation.abuse import AbuseDetector, evaluate
from bot.moderation.contests import Contests as ContestService
from bot.moderation.contests import DrawRequest, redo, seed_of
from bot.moderation.models import MarkSource, MentionModeration, Offender
from bot.slack import SlackGateway, make_client

SAMPLE = Path(__file__).parent.parent / "fixtures" / "mentions_labelled.jsonl"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_detection_keeps_its_measured_precision_and_recall_on_the_labelled_sample() -> None:
    """On the 240 labelled mentions (19 abusive) the list finds them all, no false alarm."""
    rows = [json.loads(line) for line in SAMPLE.read_text("utf-8").splitlines() if line]
    report = evaluate(rows)
    assert (report["abusive"], report["true_positives"]) == (19, 19)
    assert report["precision"] == 1.0 and report["recall"] == 1.0


def test_fair_criticism_is_not_abusive_and_aimed_insults_threats_slurs_are() -> None:
    """Words that also serve fair criticism count only when aimed at someone."""
    detector = AbuseDetector()
    for fair in ("Quelle honte, cette émission", "Le retard du train de 7h, encore",
                 "Calling a guest a liar on live TV isn't journalism",
                 "Une journaliste n'a pas à traiter un invité de menteur.",
                 "pros and cons of the new schedule", "Le con de la blague"):
        assert detector.detect(fair, None) is None, fair
    cases = {"Castel espèce de clown": "insult", "Just play the music, you moron": "insult",
             "on sait où tu habites, Delorme": "threat", "sale pd": "slur",
             "ferme ta gueule": "harassment", "Delorme, t'es qu'une menteuse": "insult"}
    for text, kind in cases.items():
        found = detector.detect(text, None)
        assert found is not None and found.kind == kind, text


def test_configured_terms_add_and_allowed_words_remove() -> None:
    """`[moderation] terms` and `allowed` tune the list without editing it."""
    detector = AbuseDetector(terms={"harassment": ["rends ta carte"]}, allowed=["bouffon"])
    found = detector.detect("Delorme rends ta carte de presse", "fr")
    assert found is not None and found.kinds == ("harassment",)
    assert detector.detect("espèce de bouffon", "fr") is None


def _mention(session: Session, number: int, author: str, text: str) -> Mention:
    mention = Mention(source_id="monitoring", external_id=f"e{number}", platform="mastodon",
                      author_handle=author, text=text, fingerprint=f"f{number}",
                      created_at=NOW - timedelta(hours=2), received_at=NOW - timedelta(hours=2),
                      channel_id="C0MENTIONS")
    session.add(mention)
    session.flush()
    return mention


def test_draws_over_seeded_sets_are_reproducible_and_never_pick_an_excluded_author(
        engine: Engine, config: Config) -> None:
    """Twenty seeded sets of entrants: the winners are always what `redo` gives from the
    published participants and seed, and never staff, watchlisted or abusive authors."""
    contests = ContestService(
        engine=engine, clock=FrozenClock(NOW), locale="fr",
        config=config.model_copy(
            update={"contests": Contests(staff_accounts=["@staff@x.example"])}),
        slack=SlackGateway(make_client("xoxb-test", "http://127.0.0.1:9/")))
    excluded = {"staff@x.example", "watched@x.example", "rude@x.example"}
    with Session(engine) as session:
        number = 0
        for author in ("@staff@x.example", "@watched@x.example", "@rude@x.example"):
            number += 1
            _mention(session, number, author, "je joue au #jeu")
        rude = _mention(session, 9999, "@rude@x.example", "t'es un abruti")
        session.add(MentionModeration(mention_id=rude.id or 0, author_key="rude@x.example",
                                      source=MarkSource.DETECTOR, marked_at=NOW))
        session.add(Offender(author_key="watched@x.example", handle="@watched@x.example",
                             platform="mastodon", watch_since=NOW))
        session.commit()
    for seed in range(20):
        rng = random.Random(seed)
        with Session(engine) as session:
            for _ in range(rng.randint(1, 12)):
                number += 1
                _mention(session, number, f"@fan{rng.randint(0, 30)}@x.example",
                         "Je tente ma chance au #Jeu !")
            session.commit()
        winners_wanted = rng.randint(1, 5)
        result = contests.draw(DrawRequest("#jeu", winners_wanted, NOW - timedelta(days=7)),
                               actor="U0STAFF1", channel_id="C0MENTIONS")
        assert not excluded & set(result.participants)
        assert not excluded & set(result.winners)
        assert result.participants == sorted(result.participants)
        draw = result.draw
        assert draw.seed == seed_of("#jeu", draw.since, draw.until, winners_wanted,
                                    result.participants)
        assert redo(result.participants, draw.seed, winners_wanted) == result.winners
        assert len(result.winners) == min(winners_wanted, len(result.participants))
