"""`/vigie <sub-command> [arguments]`: parsing and the help text.

Each subject registers its own sub-commands (see `handlers/__init__.py`); this module only
splits the text and answers `help` and unknown names, in the user's language.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from bot.i18n import catalogue
from bot.slack_format import Message, escape, mrkdwn

HELP_NAMES = ("help", "aide")


def split_command(text: str) -> tuple[str, list[str]]:
    """('routes', ['add', 'legal']) from 'routes add legal'; quotes group words."""
    try:
        words = shlex.split(text.strip())
    except ValueError:  # an unbalanced quote: fall back to plain words
        words = text.strip().split()
    if not words:
        return "", []
    return words[0].lower(), words[1:]


def help_message(names: Iterable[str], *, locale: str) -> Message:
    t = catalogue().text
    lines = [t(locale, "commands.help_intro")]
    for name in sorted(set(names) | {"help"}):
        lines.append(f"• `/vigie {name}` — {t(locale, f'commands.summary.{name}')}")
    body = "\n".join(lines)
    return Message(text=body, blocks=[{"type": "section", "text": mrkdwn(body, verbatim=False)}])


def unknown_message(name: str, names: Iterable[str], *, locale: str) -> Message:
    known = ", ".join(f"`{n}`" for n in sorted(set(names) | {"help"}))
    text = catalogue().text(locale, "commands.unknown", name=escape(name), known=known)
    return Message(text=text, blocks=[])
