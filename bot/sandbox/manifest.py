"""Slash commands and shortcuts as the app's manifest (`manifest.yml`) declares them.

Why: the sandbox's composer offers the commands a Slack workspace would, and Slack knows
them from the manifest only. The file is plain YAML in a fixed shape; reading the two
lists needs no YAML library (PyYAML is a development dependency only).
"""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.api import Command, Shortcut

_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "manifest.yml",  # a checkout
    Path(__file__).resolve().parents[1] / "_manifest.yml",  # an installed wheel
)


def manifest_path() -> Path | None:
    return next((p for p in _CANDIDATES if p.is_file()), None)


def read_manifest(path: Path | None = None) -> tuple[list[Command], list[Shortcut]]:
    """The manifest's ``slash_commands`` and ``shortcuts``, in their order."""
    path = path or manifest_path()
    if path is None:
        return [], []
    items: dict[str, list[dict[str, str]]] = {"slash_commands": [], "shortcuts": []}
    section: str | None = None
    indent = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        text = line.strip()
        if text.rstrip(":") in items and text.endswith(":"):
            section, indent = text.rstrip(":"), depth
            continue
        if section is None:
            continue
        if depth <= indent:
            section = None
            continue
        if text.startswith("- "):
            items[section].append({})
            text = text[2:]
        if ":" in text and items[section]:
            key, _, value = text.partition(":")
            items[section][-1][key.strip()] = _scalar(value)
    commands = [Command(command=i["command"], description=i.get("description", ""),
                        usage_hint=i.get("usage_hint", ""))
                for i in items["slash_commands"] if i.get("command")]
    shortcuts = [Shortcut(name=i.get("name", ""), callback_id=i["callback_id"],
                          type=i.get("type", "message"), description=i.get("description", ""))
                 for i in items["shortcuts"] if i.get("callback_id")]
    return commands, shortcuts


def _scalar(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
