"""The installed `vigie` command run as a real process, the way an IT person runs it.

Waits are on events (the process says it is ready, `/healthz` answers, the process ends)
with a generous cap, and give up at once if the process dies: a busy machine only makes
them slower, never wrong.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

CAP = 120.0  # seconds: only a broken start takes this long, even on a loaded machine

# Settings a developer's shell may hold: a test decides them all.
SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL",
            "DATABASE_URL", "VIGIE_CONFIG", "VIGIE_LOCALE", "VIGIE_LOG_LEVEL")

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> socket.socket:
    """A port bound and not listening: connecting to it is refused, as to a host whose
    server is down, until the socket is closed and a server takes the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def vigie_executable() -> str:
    return shutil.which("vigie", path=str(Path(sys.executable).parent)) or "vigie"


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any Vigie setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in SETTINGS and not k.startswith("VIGIE_TEST_")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


class VigieProcess:
    """`vigie <args>` in `cwd`; its output is collected as it comes."""

    def __init__(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                 command: Sequence[str] | None = None) -> None:
        self._process = subprocess.Popen(
            [*(command or [vigie_executable()]), *args], cwd=cwd, env=dict(env),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def wait_until(self, predicate: Callable[[], T | None], what: str, cap: float = CAP) -> T:
        """Poll `predicate` while the process lives; its first truthy value."""
        deadline = time.monotonic() + cap
        while True:
            result = predicate()
            if result:
                return result
            if self._process.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"vigie exited ({self._process.returncode}) before "
                                     f"{what}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {cap:g} s\n{self.output}")
            time.sleep(0.05)

    def wait_healthy(self, port: int, cap: float = CAP) -> dict[str, Any]:
        """The first `/healthz` answer (any status): the process listens."""
        def answer() -> dict[str, Any] | None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except httpx.TransportError:
                return None
            return {"status": response.status_code, **response.json()}

        return self.wait_until(answer, "/healthz answered", cap)

    def wait_exit(self, cap: float = CAP) -> int:
        try:
            code = self._process.wait(cap)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"vigie still running after {cap:g} s:\n{self.output}"
                                 ) from None
        self._reader.join(5)
        return code

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; killed if it does not end."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._reader.join(5)
        return self._process.returncode
