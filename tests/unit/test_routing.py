from __future__ import annotations

from bot.config import Config
from bot.mentions.routing import Router


def route(
    config: Config, text: str, *, account: str | None = "matinale", lang: str | None = "fr",
    source: str = "monitoring", author: str = "@someone@pouet.example",
) -> tuple[str, str | None]:
    decision = Router(config).route(source=source, account=account, lang=lang, author=author,
                                    text=text)
    return decision.channel, decision.route


def test_keyword_matches_whole_words_ignoring_case_and_accents(config: Config) -> None:
    """'AVOCAT' and 'avocat,' match the legal route; 'avocats' and 'avocatier' do not."""
    assert route(config, "Mon AVOCAT vous écrira.") == ("C0LEGAL", "legal")
    assert route(config, "Plainte déposée, avocat, etc.") == ("C0LEGAL", "legal")
    assert route(config, "les avocatiers du jardin") == ("C0MENTIONS", None)


def test_accented_keyword_matches_unaccented_text(config: Config) -> None:
    """'diffamation' in config matches 'DIFFAMATION' and 'diffamatiôn' alike."""
    assert route(config, "C'est de la DIFFAMATION") == ("C0LEGAL", "legal")


def test_first_matching_rule_wins(config: Config) -> None:
    """An English legal complaint goes to legal, the first rule, not english."""
    assert route(config, "We'll file a lawsuit", lang="en") == ("C0LEGAL", "legal")


def test_all_conditions_of_a_rule_must_hold(config: Config) -> None:
    """The english rule needs both the language and one of its accounts."""
    assert route(config, "Great show", lang="en") == ("C0ENGLISH", "english")
    assert route(config, "Great show", lang="en", account="grand-debat") == ("C0DEBAT", None)


def test_fallbacks_are_account_channel_then_default(config: Config) -> None:
    """No rule: the account's channel if it has one, else the default channel."""
    assert route(config, "Bravo", account="sport-talk") == ("C0SPORT", None)
    assert route(config, "Bravo", account="matinale") == ("C0MENTIONS", None)
    assert route(config, "Bravo", account=None) == ("C0MENTIONS", None)
