"""Why something failed, said in the language of whoever reads it.

A connector fails long before anyone looks: the reason is stored (a flag's `fetch_error`,
a source's `last_error`) and shown later to a French newsroom channel, an English
flagger, a `/vigie sources` view. So a failure carries a catalogue key and its params
(`templates/messages/<locale>/reasons.toml`) rather than a sentence; it is stored as
compact JSON in the same text columns and rendered when shown. Rows written before
that hold plain English sentences: they are shown as they are, as is anything stored
that cannot be read back.
"""

from __future__ import annotations

import json
from typing import Any

from bot.i18n import catalogue
from bot.slack_format import ELLIPSIS, escaped_within

Param = str | int | float
PREFIX = "reasons."  # stored keys are relative to it: nothing else can be rendered
STORED_PARAM_LIMIT = 200  # characters kept of one param (a host, an HTTP detail…)


class Reason:
    """A catalogue key under `reasons.` with its params; `str()` is the English text."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, **params: Param) -> None:
        self.key = key
        self.params: dict[str, Param] = params

    def text(self, locale: str) -> str:
        """Unescaped, for logs and the command line; Slack gets `shown_reason`."""
        return _render(self.key, locale, {name: _formatted(value, locale)
                                          for name, value in self.params.items()})

    def __str__(self) -> str:
        return self.text("en")

    def __repr__(self) -> str:
        return f"Reason({self.key!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reason) and (self.key, self.params) == (other.key,
                                                                          other.params)

    def __hash__(self) -> int:
        return hash((self.key, tuple(sorted(self.params.items()))))

    def stored(self, limit: int) -> str:
        """Compact JSON of at most `limit` characters (the column's length).

        Long params are cut (the longest first) rather than the JSON itself, so what is
        stored always parses; if even empty params do not fit, the English text is
        stored instead, cut to the limit, and is shown as a legacy sentence.
        """
        params = {name: _cut(value, STORED_PARAM_LIMIT) if isinstance(value, str) else value
                  for name, value in self.params.items()}
        while True:
            encoded = _encode(self.key, params)
            excess = len(encoded) - limit
            if excess <= 0:
                return encoded
            longest = max((name for name, value in params.items()
                           if isinstance(value, str) and value),
                          key=lambda name: len(str(params[name])), default=None)
            if longest is None:
                return _cut(str(self), limit)
            value = str(params[longest])
            params[longest] = _cut(value, max(len(value) - excess, 0))

    @classmethod
    def parse(cls, stored: str | None) -> Reason | None:
        """The reason `stored()` wrote, or None for anything else (a legacy sentence)."""
        if not stored or not stored.startswith("{"):
            return None
        try:
            data: Any = json.loads(stored)
        except ValueError:
            return None
        if not isinstance(data, dict) or set(data) != {"key", "params"}:
            return None
        key, params = data["key"], data["params"]
        if not isinstance(key, str) or not isinstance(params, dict) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool)
                for v in params.values()):
            return None
        return cls(key, **params)


def shown_reason(stored: str | None, locale: str, *, limit: int = 300) -> str:
    """`stored` (a `Reason.stored()` or a legacy sentence) as Slack mrkdwn in `locale`.

    Params come from outside (host names, HTTP details, handles): each is escaped and
    kept under `limit`; a legacy or unreadable value is escaped and cut to `limit`.
    """
    if not stored:
        return "?"
    reason = Reason.parse(stored)
    if reason is None:
        return escaped_within(stored, limit)
    try:
        return _render(reason.key, locale, {
            name: escaped_within(_formatted(value, locale), limit // 2)
            for name, value in reason.params.items()})
    except (KeyError, IndexError, ValueError):  # a key since renamed, a param missing
        return escaped_within(stored, limit)


def _render(key: str, locale: str, params: dict[str, str]) -> str:
    # Always formatted, even without params: a stored reason missing one must fail here
    # (and be shown as stored), not show a bare "{status}".
    return catalogue().text(locale, PREFIX + key).format(**params)


def _encode(key: str, params: dict[str, Param]) -> str:
    return json.dumps({"key": key, "params": params}, ensure_ascii=False,
                      separators=(",", ":"))


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS if limit > 0 else ""


def _formatted(value: Param, locale: str) -> str:
    """Numbers as the reader writes them: 0.5 s in English, 0,5 s in French."""
    if isinstance(value, float):
        text = f"{value:g}"
        return text.replace(".", ",") if locale == "fr" else text
    return str(value)
