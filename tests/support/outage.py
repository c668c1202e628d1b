"""The database lost at the exact statement a test chooses, as when PostgreSQL restarts:
deterministic, on SQLite and PostgreSQL alike (an engine event raising
`OperationalError`, which is what a cut connection raises)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError


class Outage:
    """PostgreSQL restarted at a chosen moment: the next statement that `fails` picks
    raises as a cut connection does; `after` arms it only once a statement it picks ran
    (so a claim can commit and its answer be lost)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fails: Callable[[str], bool] | None = None
        self.after: Callable[[str], bool] | None = None
        self._armed = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._ran)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._ran)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any,
                *_: Any) -> None:
        if self.fails is not None and (self._armed or self.after is None) and \
                self.fails(statement):
            self.fails, self.after, self._armed = None, None, False
            raise OperationalError(statement, parameters, Exception(
                "terminating connection due to administrator command"))

    def _ran(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.after is not None and self.after(statement):
            self._armed = True
