"""The built-in "slack" source: routes may name it, the config may not redeclare it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.settings import ConfigurationError

BASE = """
[channels]
mentions = "C0MENTIONS"
"""


def test_routes_may_send_flagged_mentions_somewhere_else(tmp_path: Path) -> None:
    """`sources = ["slack"]` in a route is valid without any [[sources]] entry."""
    path = tmp_path / "vigie.toml"
    path.write_text(BASE + '[[routes]]\nname = "flagged"\nchannel = "C0DESK"\n'
                    'sources = ["slack"]\n', encoding="utf-8")
    assert load_config(path).routes[0].sources == ["slack"]


def test_a_source_cannot_take_the_built_in_id(tmp_path: Path) -> None:
    """Declaring a source "slack" is refused with what the id is for."""
    path = tmp_path / "vigie.toml"
    path.write_text(BASE + '[[sources]]\nid = "slack"\ntype = "rss"\n'
                    'url = "https://feeds.example/a.xml"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert "source id(s) slack are built in" in str(problem)
    assert "mentions flagged from Slack" in str(problem)
