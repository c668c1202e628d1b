"""Routing: which Slack channel a mention goes to.

Rules are tried in order and the first one whose every condition holds wins; otherwise
the account's own channel, otherwise the default mentions channel. The rules come from
the config, or from a provider (`bot.listen.catalog.Catalog.routes`) read on every call,
so rules edited from Slack apply to the very next mention.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.config import Config, Route
from bot.text import fold, keyword_pattern


@dataclass(frozen=True)
class RouteDecision:
    channel: str
    route: str | None  # name of the rule that matched, None for the fallback


@dataclass(frozen=True)
class _CompiledRoute:
    rule: Route
    keywords: re.Pattern[str] | None
    authors: frozenset[str]

    def matches(self, *, source: str, account: str | None, lang: str | None, author: str,
                folded_text: str) -> bool:
        rule = self.rule
        if rule.accounts and account not in rule.accounts:
            return False
        if rule.sources and source not in rule.sources:
            return False
        if rule.languages and (lang or "") not in rule.languages:
            return False
        if self.authors and fold(author).lstrip("@") not in self.authors:
            return False
        return not (self.keywords and not self.keywords.search(folded_text))


def _compile(rules: Sequence[Route]) -> list[_CompiledRoute]:
    return [
        _CompiledRoute(
            rule=rule,
            keywords=keyword_pattern(rule.keywords),
            authors=frozenset(fold(a).lstrip("@") for a in rule.authors),
        )
        for rule in rules
    ]


class Router:
    def __init__(self, config: Config,
                 rules: Callable[[], Sequence[Route]] | None = None) -> None:
        self._config = config
        self._rules = rules
        # (rules, compiled) swapped as one object, so threads never see a mismatched pair
        self._compiled: tuple[Sequence[Route], list[_CompiledRoute]] = (
            config.routes, _compile(config.routes))

    def _current(self) -> list[_CompiledRoute]:
        compiled = self._compiled
        if self._rules is not None:
            rules = self._rules()
            if rules is not compiled[0]:  # the provider returns the same tuple until a change
                compiled = (rules, _compile(rules))
                self._compiled = compiled
        return compiled[1]

    def route(self, *, source: str, account: str | None, lang: str | None, author: str,
              text: str) -> RouteDecision:
        folded = fold(text)
        for compiled in self._current():
            if compiled.matches(source=source, account=account, lang=lang, author=author,
                                folded_text=folded):
                return RouteDecision(compiled.rule.channel, compiled.rule.label)
        configured = self._config.account(account)
        if configured and configured.channel:
            return RouteDecision(configured.channel, None)
        return RouteDecision(self._config.channels.mentions, None)
