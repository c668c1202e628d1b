"""Starting the sandbox: when `make run` opens it, and that production never loads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import _demo_instead


@pytest.fixture
def no_slack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_slack")
def test_make_run_opens_the_sandbox_only_when_nothing_about_slack_is_set(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Slack setting at all: the sandbox; one setting, in the environment or .env: the bot."""
    assert _demo_instead(True) is True
    assert _demo_instead(False) is False  # `vigie serve` alone never does
    (tmp_path / ".env").write_text("SLACK_SIGNING_SECRET=abc\n")
    assert _demo_instead(True) is False
    (tmp_path / ".env").unlink()
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert _demo_instead(True) is False


def test_the_production_path_does_not_import_the_sandbox() -> None:
    """`vigie serve` and `vigie run` load no sandbox code (it is for `vigie demo` only)."""
    code = ("import sys, bot.cli, bot.serving, bot.web, bot.app, handlers; "
            "print([m for m in sys.modules if m.startswith('bot.sandbox')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
