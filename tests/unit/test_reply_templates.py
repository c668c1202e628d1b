"""Reply templates: the sandbox, the checks run when a template is saved, rendering with
real variables, and the library of shipped and Slack-made templates with its history."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Mention
from bot.paths import templates_dir
from bot.people import Person
from bot.replies.models import ReplyKind
from bot.replies.platforms import Target
from bot.replies.templates import (
    Problem,
    TemplateLibrary,
    TemplateProblem,
    TemplateRefused,
    check_source,
    clock_time,
    long_date,
    read_shipped,
    render,
    shorten,
    validate,
)
from bot.replies.variables import reply_context, sample_contexts

TZ = "Europe/Paris"


def problem_of(body: str, config: Config, locale: str = "fr") -> Problem:
    with pytest.raises(TemplateProblem) as caught:
        validate(body, locale=locale, timezone=TZ, samples=sample_contexts(config, locale))
    return caught.value.problem


@pytest.mark.parametrize("body, name", [
    ("{{ ''.__class__ }}", "__class__"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__subclasses__"),
    ("{{ author['__class__'] }}", "__class__"),
    ("{{ author.name.__len__() }}", "__len__"),
    ("{{ author.name|attr('__class__') }}", "attr"),
])
def test_reaching_for_python_internals_is_refused_with_its_line(body: str, name: str,
                                                                 config: Config) -> None:
    """Any `_name`, and the `attr` filter, is refused before the template is saved."""
    found = problem_of(f"Bonjour\n{body}", config)
    assert (found.code, found.line, found.params["name"]) == ("unsafe", 2, name)
    assert found.text("fr").startswith("Ligne 2 : « ")


def test_the_sandbox_refuses_internals_at_render_time_too(config: Config) -> None:
    """Should a check be bypassed (stored before the checks existed…), rendering still
    refuses: the sandbox, not the check, is the guard."""
    context = sample_contexts(config, "fr")[0]
    for body in ("{{ ''.__class__ }}", "{{ author.name|attr('__class__') }}",
                 "{{ 'x' * 10**6 }}", "{{ 2 ** 1000 }}",
                 "{% for i in range(10**9) %}{% endfor %}"):
        with pytest.raises(TemplateProblem) as caught:
            render(body, context, locale="fr", timezone=TZ)
        assert caught.value.problem.code in ("unsafe_render", "render", "too_much_work"), body


@pytest.mark.parametrize("body", [
    # a loop inside a loop that prints nothing: 10**10 turns, no output to stop at
    "Bonjour\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    # 100,000 times a 10,000-character text: a gigabyte
    "{% set s = 'x' * 10000 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
    "{% set s %}{% for i in range(100000) %}{% for j in range(1000) %}x{% endfor %}"
    "{% endfor %}{% endset %}{{ s | length }}",
    # a text doubled by ~ and + again and again
    "{% set a = 'x' * 10000 %}" + "{% set a = a ~ a %}" * 16 + "{{ a | length }}",
    "{% set a = 'x' * 10000 %}" + "{% set a = a + a %}" * 16 + "{{ a | length }}",
    # one call or filter asked for a gigabyte
    "{{ author.name | center(10**9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{% set a = 'x' * 10000 %}{{ a | replace('x', a) | length }}",
    "{% set a = 'x' * 10000 %}{{ a.replace('x', a) | length }}",
])
def test_a_template_that_would_run_or_grow_without_bound_is_refused(
        body: str, config: Config) -> None:
    """Saving a template that loops inside a loop or builds a gigabyte is refused at once
    with a clear reason, rather than stalling the worker that checks it."""
    found = problem_of(body, config)
    assert found.code == "too_much_work", found
    assert "trop de travail" in found.text("fr") and "too much work" in found.text("en")


@pytest.mark.parametrize("body, code, line, text", [
    ("Bonjour {{ autor.name }}", "unknown_variable", 1,
     "Ligne 1 : la variable « autor » n'existe pas. Variables possibles : author.handle,"),
    ("Bonjour\n{{ author.pseudo }}", "unknown_attribute", 2,
     "Ligne 2 : « author.pseudo » n'existe pas. Possibles : author.handle, author.name."),
    ("a\nb\n{% if x %}", "syntax", 3, "Ligne 3 : syntaxe Jinja invalide"),
    ("{{ author.name | sparkle }}", "unknown_filter", 1,
     "Ligne 1 : le filtre « sparkle » n'existe pas."),
    ("Il reste {{ remaining - 10 }}", "render", 1, "Ligne 1 : le modèle échoue"),
    ("{% if false %}x{% endif %}", "renders_empty", None, "le modèle ne produit aucun texte."),
    ("   ", "empty", None, "le texte est vide."),
])
def test_template_errors_are_refused_with_line_and_reason(
        body: str, code: str, line: int | None, text: str, config: Config) -> None:
    """Unknown names, bad syntax and what fails for some kind of mention (no limit when
    answered by hand) are refused, saying where and why."""
    found = problem_of(body, config)
    assert (found.code, found.line) == (code, line)
    assert found.text("fr").startswith(text)


def test_loops_sets_and_jinja_filters_are_fine(config: Config) -> None:
    """Local names and Jinja's own filters pass the checks."""
    body = ("{% set who = author.name | upper %}{{ who }}"
            "{% for word in ['a', 'b'] %} {{ loop.index }}{{ word }}{% endfor %}"
            " {{ mention.text | shorten(12) }} {{ limit | default('∞', true) }}")
    validate(body, locale="fr", timezone=TZ, samples=sample_contexts(config, "fr"))
    text = render(body, sample_contexts(config, "fr")[0], locale="fr", timezone=TZ)
    assert text == "CAMILLE MARTIN 1a 2b Bonjour, à… 500"


def test_every_shipped_template_is_valid_and_fits_bluesky(config: Config) -> None:
    """The defaults pass the save-time checks in both languages, and their sample render
    (with its handle) fits the strictest platform."""
    shipped = read_shipped(templates_dir() / "replies")
    names = {key.split("/")[1] for key in shipped}
    assert {"thanks", "passed_on", "correction_noted", "please_dm", "broadcast_time",
            "moderation_warning"} <= names
    for locale in ("fr", "en"):
        assert {k for k in shipped if k.startswith(f"{locale}/")} == \
            {f"{locale}/{n}" for n in names}
    for template in shipped.values():
        contexts = sample_contexts(config, template.locale)
        validate(template.body, locale=template.locale, timezone=TZ, samples=contexts)
        bluesky = Target(ReplyKind.BLUESKY, "Bluesky", 300)
        text = render(template.body, contexts[1], locale=template.locale, timezone=TZ)
        assert not bluesky.too_long(text), template.key


def mention(**fields: Any) -> Mention:
    values: dict[str, Any] = dict(
        id=7, source_id="masto", external_id="1", platform="mastodon", account_id="matinale",
        author_handle="@kev59@mamot.example", author_name="Kévin", text="Quel horaire ?",
        url="https://mamot.example/@kev59/1", lang="fr", fingerprint="",
        created_at=datetime(2026, 11, 2, 7, 0, tzinfo=UTC),
        received_at=datetime(2026, 11, 2, 7, 1, tzinfo=UTC), channel_id="C0MENTIONS")
    values.update(fields)
    return Mention(**values)


def test_a_real_mention_fills_every_documented_variable(config: Config) -> None:
    """Author, show, staff first name, dates in the newsroom's zone and language, and the
    platform's limit with what Vigie's handle prefix leaves."""
    target = Target(ReplyKind.MASTODON, "Mastodon", 500, prefix="@kev59@mamot.example ")
    staff = Person(id="U1", name="marie.d", locale="fr", tz=None, first_name="Marie")
    context = reply_context(mention=mention(), config=config, staff=staff, target=target,
                            now=datetime(2026, 11, 2, 8, 5, tzinfo=UTC), locale="fr")
    body = ("{{ author.name }} {{ author.handle }} {{ show }} {{ staff.first_name }} "
            "{{ today }} {{ now }} {{ mention.received | weekday }} "
            "{{ mention.received | time }} {{ platform }} {{ limit }} {{ remaining }}")
    assert render(body, context, locale="fr", timezone=TZ) == (
        "Kévin @kev59@mamot.example La Matinale Marie 2 novembre 2026 9 h 05 lundi 8 h 01 "
        "Mastodon 500 493")


def test_a_variable_missing_for_one_mention_says_what_to_configure(config: Config) -> None:
    """`account.schedule` without `[replies.schedule]` for the account: a clear error,
    never an answer with a hole in it."""
    target = Target(ReplyKind.BY_HAND, "RSS", None)
    staff = Person(id="U1", name="Marie", locale="fr", tz=None)
    context = reply_context(mention=mention(account_id="radio-musique"), config=config,
                            staff=staff, target=target, now=datetime.now(UTC), locale="fr")
    with pytest.raises(TemplateProblem) as caught:
        render("{{ show }} est à l'antenne {{ account.schedule }}.", context, locale="fr",
               timezone=TZ)
    assert caught.value.problem.text("fr") == (
        "Ligne 1 : aucun horaire de diffusion n'est configuré pour Radio Musique "
        "([replies.schedule] dans la configuration).")


def test_date_words_in_both_languages() -> None:
    """Dates and times read naturally in French and English."""
    assert long_date(date(2026, 11, 1), "fr") == "1er novembre 2026"
    assert long_date(date(2026, 11, 2), "en") == "November 2, 2026"
    assert clock_time(time(9, 5), "fr") == "9 h 05"
    assert clock_time(time(21, 5), "en") == "9:05 pm"
    assert shorten("un deux trois quatre", 12) == "un deux…"


def test_check_source_refuses_an_oversized_body() -> None:
    """More than a Slack text box holds is refused up front."""
    with pytest.raises(TemplateProblem) as caught:
        check_source("x" * 3001, "fr", TZ)
    assert caught.value.problem.code == "too_long"


# -- the library -------------------------------------------------------------------------------
@pytest.fixture
def library(engine: Engine, config: Config, tmp_path: Path) -> TemplateLibrary:
    (tmp_path / "fr").mkdir()
    (tmp_path / "en").mkdir()
    (tmp_path / "fr" / "merci.j2").write_text("{#- title: Merci -#}\nMerci {{ author.name }} !\n")
    (tmp_path / "en" / "thanks.j2").write_text("{#- title: Thanks -#}\nThanks!\n")
    return TemplateLibrary(engine=engine, clock=FrozenClock(), timezone=TZ,
                           samples=lambda locale: sample_contexts(config, locale),
                           directory=tmp_path)


def test_a_row_shadows_its_shipped_file_and_keeps_history(library: TemplateLibrary) -> None:
    """Editing a default stores it (origin 'edited'); archiving hides it from replies;
    every save is a revision; a stale edit is refused."""
    assert [t.key for t in library.usable("en")] == ["en/thanks", "fr/merci"]
    edited = library.save("U1", locale="", name="", title="Merci bien",
                          body="Merci {{ author.name }}, {{ staff.first_name }}",
                          existing="fr/merci", seen_version=0)
    assert (edited.origin, edited.version, edited.title) == ("edited", 1, "Merci bien")
    library.archive("U2", "fr/merci")
    assert [t.key for t in library.usable("fr")] == ["en/thanks"]
    with pytest.raises(TemplateRefused) as stale:
        library.save("U3", locale="", name="", title="Merci", body="Merci",
                     existing="fr/merci", seen_version=1)
    assert stale.value.errors["body"].code == "changed_meanwhile"
    assert [(r.version, r.action, r.by) for r in library.history("fr/merci")] == [
        (1, "edited", "U1"), (2, "archived", "U2")]


def test_a_new_template_is_checked_named_and_unique(library: TemplateLibrary) -> None:
    """Bad name, missing title and a bad body are all reported at once; a taken name too."""
    with pytest.raises(TemplateRefused) as refused:
        library.save("U1", locale="fr", name="Mon Modèle", title=" ", body="{{ nope }}",
                     existing=None, seen_version=None)
    assert {k: v.code for k, v in refused.value.errors.items()} == {
        "name": "bad_name", "title": "no_title", "body": "unknown_variable"}
    with pytest.raises(TemplateRefused) as taken:
        library.save("U1", locale="fr", name="merci", title="Merci", body="Merci",
                     existing=None, seen_version=None)
    assert taken.value.errors["name"].code == "name_taken"
    made = library.save("U1", locale="en", name="sorry", title="Sorry", body="Sorry!",
                        existing=None, seen_version=None)
    assert (made.key, made.origin) == ("en/sorry", "custom")
    assert library.render("en/sorry", {}) == "Sorry!"


def test_vigie_check_reports_a_broken_template_file_with_its_file_line(
        config: Config, tmp_path: Path) -> None:
    """A template file edited on disk is checked by `vigie check`, the line counted in the
    file itself (its title line included)."""
    from bot.checks import reply_template_problems

    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "ok.j2").write_text("{#- title: Bien -#}\nMerci {{ author.name }}\n")
    (tmp_path / "fr" / "bad.j2").write_text("{#- title: Cassé -#}\nMerci\n{{ auteur }}\n")
    [problem] = reply_template_problems(config, tmp_path)
    assert problem.where.endswith("fr/bad.j2")
    assert problem.message.startswith("Line 3: there is no variable “auteur”.")
