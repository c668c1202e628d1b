"""Where shipped files live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """`templates/` at the repository root, or its copy packaged inside the wheel."""
    for candidate in (_PACKAGE.parent / "templates", _PACKAGE / "_templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("templates directory not found; reinstall vigie")
