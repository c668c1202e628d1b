"""User-facing words, in French and English, from `templates/messages/<locale>/*.toml`.

Code asks for a key and a locale; no sentence a user reads is written in Python. Each
subject keeps its own file per locale (core.toml, qualify.toml…), merged at load. Both
locales must hold the same keys (a unit test checks it), and a missing key falls back to
English rather than showing nothing.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from bot.paths import templates_dir

Locale = Literal["fr", "en"]
LOCALES: tuple[Locale, ...] = ("fr", "en")


class Catalogue:
    def __init__(self, directory: Path) -> None:
        self._texts: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            merged: dict[str, str] = {}
            for path in sorted((directory / locale).glob("*.toml")):
                texts = _flatten(tomllib.loads(path.read_text("utf-8")))
                clash = sorted(set(texts) & set(merged))
                if clash:
                    raise ValueError(f"{path}: keys already defined elsewhere: {clash}")
                merged.update(texts)
            self._texts[locale] = merged

    def keys(self, locale: Locale) -> set[str]:
        return set(self._texts[locale])

    def text(self, locale: str, key: str, **params: object) -> str:
        texts = self._texts.get(locale) or self._texts["en"]
        template = texts.get(key) or self._texts["en"][key]
        return template.format(**params) if params else template


def _flatten(table: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


@cache
def catalogue() -> Catalogue:
    """The shipped catalogue, read once per process."""
    return Catalogue(templates_dir() / "messages")


def locale_of(slack_locale: str | None, default: Locale) -> Locale:
    """Map Slack's user locale (`fr-FR`, `en-GB`…) to one we speak."""
    if slack_locale:
        short = slack_locale.split("-")[0].lower()
        if short in LOCALES:
            return short
    return default
