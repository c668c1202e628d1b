"""Faults the local platform servers (Mastodon, Bluesky) can play on a request, the way a
real instance or PDS fails: an error status, an error *after* carrying the request out, or
an answer that hangs and is carried out in the end (or not)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Fault:
    prefix: str  # the path (Mastodon) or NSID (Bluesky) it applies to
    status: int
    remaining: int
    error: str = "InternalServerError"
    retry_after: int | None = None
    hang: float = 0.0
    release: threading.Event | None = None
    create: bool = True  # a hung request: carried out in the end (or not)
    created: bool = False  # a failure: after carrying the request out


def take(faults: list[Fault], name: str) -> Fault | None:
    """The fault for `name`, one use spent (call with the server's lock held)."""
    fault = next((f for f in faults if name.startswith(f.prefix)), None)
    if fault is not None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.remove(fault)
    return fault


def play_before(fault: Fault | None, *, hung_and_dropped: Answer,
                refused: dict[str, Any]) -> Answer | None:
    """What the server answers before doing the request, or None to go on with it: a hang
    then (when not carried out) `hung_and_dropped`; an error status with `refused` as its
    body unless the fault says it comes after the request is carried out."""
    if fault is None:
        return None
    if fault.hang:
        if fault.release is not None:
            fault.release.wait(fault.hang)
        else:
            time.sleep(fault.hang)
        return None if fault.create else hung_and_dropped
    if not fault.created:
        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
        return fault.status, refused, extra
    return None
