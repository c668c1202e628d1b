from __future__ import annotations

import string

from bot.i18n import catalogue, locale_of


def test_french_and_english_catalogues_have_the_same_keys_and_fields() -> None:
    """Every text exists in both languages, with the same placeholders."""
    texts = catalogue()
    assert texts.keys("fr") == texts.keys("en")
    fields = string.Formatter()
    for key in texts.keys("fr"):
        names = [
            {f for _, f, _, _ in fields.parse(texts.text(locale, key)) if f}
            for locale in ("fr", "en")
        ]
        assert names[0] == names[1], key


def test_slack_locales_map_to_ours() -> None:
    """fr-CA speaks French, en-GB English, anything else the workspace default."""
    assert locale_of("fr-CA", "en") == "fr"
    assert locale_of("en-GB", "fr") == "en"
    assert locale_of("de-DE", "fr") == "fr"
    assert locale_of(None, "en") == "en"
