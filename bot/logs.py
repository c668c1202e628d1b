"""Logs: plain lines for a person at a terminal, JSON lines for a collector, never a secret.

`VIGIE_LOG_FORMAT=json` writes one JSON object per line (`ts`, `level`, `logger`,
`message`, and `exc` with the traceback). Every line written while one piece of work
runs carries its id (`work`): an HTTP request (the proxy's `X-Request-Id` when it sends
a sane one, else a fresh one, given back in the response), a scheduled job, a relay round.
The id lives in a context variable: threads started for that work inherit it through
`ContextExecutor` (the click and listener pools, the pollers) and Starlette's thread pool.

Secrets are removed from the formatted line, whatever logged them (a library's
exception quoting a URL, a token in an error message): every value of a setting or
variable whose name says it is secret, the database password, and anything shaped like
a Slack token. `tests/unit/test_logs.py` runs work with known secrets and greps the output.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

work_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("vigie_work", default=None)

_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY)", re.I)
# Slack tokens (xoxb-, xoxp-, xapp-…) and passwords in URLs, whatever their origin.
_SHAPES = (re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{6,}"),
           re.compile(r"(?<=://)([^/\s:@]+):[^/\s@]+@"))
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MIN_SECRET = 6  # shorter values would blank out ordinary words
REDACTED = "[redacted]"


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def request_id(header: str | None) -> str:
    """The proxy's id when it looks like one, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return new_id("req")


@contextmanager
def working(kind: str, given: str | None = None) -> Iterator[str]:
    """Run the block as one piece of work: its log lines carry the same id."""
    token = work_id.set(given or new_id(kind))
    try:
        yield work_id.get() or ""
    finally:
        work_id.reset(token)


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context (its work id)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(functools.partial(context.run, fn, *args, **kwargs))


class Redactor:
    """Replaces secret values in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET},
                              key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in self._values)) \
            if self._values else None

    def __call__(self, line: str) -> str:
        if self._pattern is not None:
            line = self._pattern.sub(REDACTED, line)
        line = _SHAPES[0].sub(REDACTED, line)
        return _SHAPES[1].sub(lambda m: f"{m.group(1)}:{REDACTED}@", line)


def secrets_of(environ: Mapping[str, str], extra: Iterable[str | None] = ()) -> list[str]:
    """Values to hide: variables named like secrets, the database URL's password, and
    `extra` (the variables the newsroom file names as secrets)."""
    values = [v for k, v in environ.items() if _SECRET_NAME.search(k)]
    url = environ.get("DATABASE_URL") or ""
    match = _SHAPES[1].search(url)
    if match:
        values.append(url[match.start():match.end()].split(":", 1)[1].rstrip("@"))
    values.extend(v for v in extra if v)
    return values


def database_trouble(error: BaseException | None) -> str | None:
    """The driver's one-line reason ("database or disk is full", "connection refused")
    when `error`, or what caused it, is the database being away or full; None otherwise.

    Those are the operator's business (free the disk, start PostgreSQL), not a bug: a
    traceback per request and job while it lasts buried the one line that says so."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, OperationalError | InterfaceError) or (
                isinstance(error, DBAPIError) and error.connection_invalidated):
            cause = getattr(error, "orig", None) or error
            text = str(cause).strip()
            return text.splitlines()[0][:200] if text else type(cause).__name__
        error = error.__cause__ or error.__context__
        seen += 1
    return None


class _Work(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.work = work_id.get()
        if record.exc_info and record.exc_info[1] is not None:
            trouble = database_trouble(record.exc_info[1])
            if trouble is not None:  # one line that says it, not a traceback
                record.msg = f"{record.getMessage()} [database unavailable: {trouble}]"
                record.args = None
                record.exc_info = None
                record.exc_text = None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(work_tag)s: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        work = getattr(record, "work", None)
        record.work_tag = f" [{work}]" if work else ""
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        work = getattr(record, "work", None)
        if work:
            entry["work"] = work
        if record.exc_info:
            entry["exc"] = self._redact(self.formatException(record.exc_info))
        elif record.stack_info:
            entry["stack"] = self._redact(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(*, level: str, fmt: str, secrets: Iterable[str] = (),
              stream: Any = None) -> logging.Handler:
    """Send every logger's lines to `stream` (stderr) in `fmt` ("text" or "json")."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Work())
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    # uvicorn's own lines go through the same handler (see `bot.serving`), its access log
    # is off: the proxy keeps one.
    logging.getLogger("uvicorn.access").disabled = True
    if root.level > logging.DEBUG:
        # APScheduler says "Running job…" and "…executed successfully" at INFO on every
        # tick (tens of thousands of lines a day); its warnings and job errors still show.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
