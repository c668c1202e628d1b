"""The licence a newsroom's lawyer reads is the one the package declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_licence_file_matches_the_declared_licence() -> None:
    """pyproject.toml says MIT, and LICENSE holds the MIT text."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["license"]
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert declared == "MIT"
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
