"""Post templates: `templates/posts/<locale>/<name>.j2`, inserted into a draft.

Templates are files a newsroom edits, so they render in Jinja2's sandbox with strict
undefined variables: a typo in a variable name is an error shown in the modal, never a
silent blank in a published post. The first line may name the template for the menu:
`{#- title: Émission du jour -#}`.

Variables: `newsroom` (its name), `author` (who drafts), `today` (e.g. "2 novembre
2026"), `weekday` (e.g. "lundi"), all in the drafter's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot.paths import templates_dir
from bot.posts.when import long_date, weekday

_TITLE = re.compile(r"^\{#-?\s*title:\s*(.+?)\s*-?#\}")
class PostTemplateError(Exception):
    """A template that cannot be rendered; the message says where and why."""


@dataclass(frozen=True)
class PostTemplate:
    name: str  # file stem, used as the option value
    title: str


class PostTemplates:
    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory or templates_dir() / "posts"
        self._environments: dict[str, SandboxedEnvironment] = {}

    def available(self, locale: str) -> list[PostTemplate]:
        folder = self._directory / locale
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.j2")):
            first = path.read_text("utf-8").split("\n", 1)[0]
            match = _TITLE.match(first)
            found.append(PostTemplate(path.stem, match.group(1) if match else path.stem))
        return found

    def render(self, name: str, locale: str, *, newsroom: str, author: str,
               now: datetime, timezone: str) -> str:
        if name not in {t.name for t in self.available(locale)}:
            raise PostTemplateError(f"no post template named {name!r}")
        local = now.astimezone(ZoneInfo(timezone)).date()
        context = {"newsroom": newsroom, "author": author, "today": long_date(local, locale),
                   "weekday": weekday(local, locale)}
        try:
            template = self._environment(locale).get_template(f"{name}.j2")
            return template.render(context).strip()
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{locale}/{name}.j2" + (f", line {line}" if line else "")
            raise PostTemplateError(f"{where}: {exc.message or exc}") from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError,
                RecursionError) as exc:  # `{{ 1 / 0 }}`, `range(10**9)`, a macro calling itself
            raise PostTemplateError(f"{locale}/{name}.j2: {type(exc).__name__}: {exc}"[:300]
                                    ) from None

    def _environment(self, locale: str) -> SandboxedEnvironment:
        if locale not in self._environments:
            self._environments[locale] = SandboxedEnvironment(
                loader=FileSystemLoader(self._directory / locale),
                undefined=StrictUndefined,
                autoescape=False,  # plain text for social networks; Slack escaping is later
                keep_trailing_newline=False,
            )
        return self._environments[locale]
