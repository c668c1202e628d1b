"""The [replies] config section: defaults, and precise problems for mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.settings import ConfigurationError
from tests.unit.test_config import GOOD, write


def test_without_a_replies_section_crisis_replies_need_an_editor(tmp_path: Path) -> None:
    """Defaults: the crisis category is sensitive, no route is, no self-approval."""
    replies = load_config(write(tmp_path, GOOD)).replies
    assert replies.sensitive_categories == ["crisis"] and replies.sensitive_routes == []
    assert replies.self_approval is False and replies.schedule == {}


@pytest.mark.parametrize(("extra", "expected"), [
    ('[replies]\nsensitive_categories = ["legal"]\n',
     "replies.sensitive_categories[0]: 'legal' is not allowed"),
    ('[replies.schedule]\nnope = "7 h"\n', "replies.schedule names unknown account(s): nope"),
    ('[replies]\nsensitive = ["crisis"]\n', "replies.sensitive: is not a known key"),
])
def test_mistakes_are_reported_with_their_key(tmp_path: Path, extra: str,
                                              expected: str) -> None:
    """A category that does not exist, a schedule for an unknown account, a typo."""
    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, GOOD + extra))
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems
