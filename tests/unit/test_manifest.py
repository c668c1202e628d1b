"""manifest.yml creates an app that can do everything the handlers listen for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
HANDLERS = "\n".join(p.read_text("utf-8") for p in (ROOT / "handlers").glob("*.py"))


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text("utf-8"))
    return loaded


def test_every_slash_command_handled_is_declared() -> None:
    """A command the bot answers but Slack does not know would never reach it."""
    handled = set(re.findall(r'app\.command\("(/[a-z_-]+)"\)', HANDLERS))
    declared = {c["command"] for c in manifest()["features"]["slash_commands"]}
    assert handled and handled <= declared, handled - declared


def test_every_event_handled_is_subscribed() -> None:
    """Each event a handler listens for is in the manifest's bot events."""
    handled = set(re.findall(r'app\.event\("([a-z_]+)"', HANDLERS))
    subscribed = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    assert handled and handled <= subscribed, handled - subscribed


def test_message_shortcut_is_declared_and_scopes_are_unique() -> None:
    """The Send to Vigie shortcut exists, and no scope is listed twice."""
    app = manifest()
    callbacks = {s["callback_id"] for s in app["features"]["shortcuts"]}
    assert "send_to_vigie" in callbacks
    scopes = app["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert {"chat:write", "commands", "reactions:read", "app_mentions:read"} <= set(scopes)


def test_the_readme_names_every_place_of_the_host_to_replace() -> None:
    """The Quick start says how many URLs carry the example host: all of them, so none is
    left pointing at vigie.example.org."""
    urls = re.findall(r"https://vigie\.example\.org/\S*", (ROOT / "manifest.yml").read_text())
    words = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
    readme = (ROOT / "README.md").read_text("utf-8")
    assert f"public host name that will reach the bot ({words[len(urls)]} places" in \
        " ".join(readme.split())
