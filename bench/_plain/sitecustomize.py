"""Loaded by Python at start-up when `bench/run_all.py` puts this folder on PYTHONPATH:
hides the modules named in VIGIE_HIDDEN_MODULES (those only the `dev` extra installs), so
a bench, and every process it starts, runs as from a plain `pip install -e .`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

HIDDEN = frozenset(filter(None, os.environ.get("VIGIE_HIDDEN_MODULES", "").split(",")))


class HideDevExtras:
    """A finder consulted first: a hidden module is reported missing, as without the extra."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(
                f"No module named {name!r} (only the dev extra installs it: a bench must "
                "run from a plain `pip install -e .`)", name=name)
        return None


if HIDDEN:
    sys.meta_path.insert(0, HideDevExtras())
