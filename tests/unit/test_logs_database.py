"""A database that is away or full is one log line saying so, not a traceback."""

from __future__ import annotations

import io
import logging
import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from bot.logs import configure


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure(level="INFO", fmt="text", stream=stream)
    yield stream
    root.handlers[:] = before[0]
    root.setLevel(before[1])


def full_disk() -> OperationalError:
    return OperationalError("INSERT INTO mention (text) VALUES (?)", ("secret text",),
                            sqlite3.OperationalError("database or disk is full"))


def test_a_full_disk_is_one_line_naming_it(written: io.StringIO) -> None:
    """A job or listener failing on a full disk logs one line with the driver's reason,
    no traceback and no SQL or values."""
    try:
        raise RuntimeError("while relaying") from full_disk()
    except RuntimeError as error:
        logging.getLogger("bot.test").error("relay round failed (ref %s)", "r1", exc_info=error)
    text = written.getvalue()
    assert len(text.strip().splitlines()) == 1
    assert "relay round failed (ref r1) [database unavailable: database or disk is full]" in text
    assert "Traceback" not in text and "secret text" not in text


def test_other_errors_keep_their_traceback(written: io.StringIO) -> None:
    """A bug is still a traceback: only the database being away is shortened."""
    try:
        raise KeyError("mention_id")
    except KeyError:
        logging.getLogger("bot.test").exception("listener failed")
    assert "Traceback" in written.getvalue() and "KeyError" in written.getvalue()
