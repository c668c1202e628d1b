"""The Slack app manifest declares what the posts subject needs from Slack."""

from __future__ import annotations

import re
from pathlib import Path

MANIFEST = (Path(__file__).resolve().parents[2] / "manifest.yml").read_text("utf-8")


def listed(section: str) -> set[str]:
    """Items of a YAML list under `section:` (the manifest is plain enough for this)."""
    match = re.search(rf"^(\s*){section}:\n((?:\1\s+(?:- .*|#.*)\n)+)", MANIFEST, re.M)
    assert match, section
    return {line.strip()[2:].strip() for line in match.group(2).splitlines()
            if line.strip().startswith("- ")}


def test_commands_scopes_and_events_for_posts_are_declared() -> None:
    """/draft and /calendar exist; reactions can be read, DMs opened, reactions received."""
    commands = set(re.findall(r"- command: (/\w+)", MANIFEST))
    assert {"/draft", "/calendar"} <= commands
    assert {"reactions:read", "im:write", "chat:write", "channels:history"} <= listed("bot")
    assert {"reaction_added", "reaction_removed"} <= listed("bot_events")
