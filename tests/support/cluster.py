"""Several `vigie serve` processes on one PostgreSQL, optionally behind HAProxy: what
`deploy/failover.py` and `bench/replicas.py` run. Standard library, httpx and Vigie's own
code only (no pytest), so a plain install runs them.

`PrivatePostgres` is a PostgreSQL cluster of the script's own (initdb in a temporary
folder, its own port), which it may restart at will: never the machine's shared server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.platforms.webhook.receiver import sign
from tests.support.processes import VigieProcess, clean_environ, free_port

ROOT = Path(__file__).resolve().parents[2]
CAP = 120.0
_LEADER = re.compile(r"^vigie_scheduler_leader (\S+)$", re.M)


def pg_bin(name: str) -> str:
    """A PostgreSQL server program (initdb, pg_ctl), on PATH or in Debian's folder."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise SystemExit(f"{name} not found: install PostgreSQL's server package")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on its own port (trust auth, local only)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as `postgres`
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync")
        self.start()
        self._run(shutil.which("psql") or "psql", "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "-c", "CREATE DATABASE vigie")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/vigie"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.folder / "log"),
                  "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                  "-c max_connections=200 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def restart(self) -> float:
        """Stop (fast: sessions cut) and start again; the seconds it was down."""
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


BIND_TRIES = 3


class Replica:
    """One `vigie serve` on its own port, restartable."""

    def __init__(self, name: str, folder: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.folder = folder
        self.env = dict(env)
        self.port = free_port()
        self.process: VigieProcess | None = None
        self.outputs: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        self.process = VigieProcess(["serve", "--port", str(self.port)], cwd=self.folder,
                                    env=self.env)
        return self

    def wait_ready(self, cap: float = CAP) -> float:
        """Seconds until `/readyz` says 200. A port taken between `free_port()` and the
        bind (on a busy machine, by any process's outgoing connection: both come from
        the ephemeral range) ended a campaign run before it began: the replica starts
        again on another port, up to `BIND_TRIES` times."""
        started = time.monotonic()

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        for attempt in range(1, BIND_TRIES + 1):
            assert self.process is not None
            try:
                self.process.wait_until(ready, f"{self.name} ready", cap)
                break
            except AssertionError:
                if attempt == BIND_TRIES or not self.port_was_taken():
                    raise
            self._keep_output()
            self.port = free_port()
            self.start()
        return time.monotonic() - started

    def port_was_taken(self) -> bool:
        """The process ended because its port was not free."""
        return self.process is not None and self.process._process.poll() is not None \
            and "address already in use" in self.process.output

    def kill(self) -> None:
        """kill -9: no clean-up at all."""
        assert self.process is not None
        self.process._process.send_signal(signal.SIGKILL)
        self.process.wait_exit()
        self._keep_output()

    def terminate(self, cap: float = CAP) -> int:
        """SIGTERM, as a container runtime stops it; its exit code."""
        assert self.process is not None
        self.process._process.send_signal(signal.SIGTERM)
        code = self.process.wait_exit(cap)
        self._keep_output()
        return code

    def _keep_output(self) -> None:
        if self.process is not None:
            self.outputs.append(self.process.output)
            self.process = None

    def is_leader(self) -> bool:
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=2).text
        except httpx.HTTPError:
            return False
        found = _LEADER.search(text)
        return bool(found and float(found.group(1)) == 1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self._keep_output()


def replica_env(database_url: str, slack_url: str, config: Path, **more: str) -> dict[str, str]:
    from tests.support.newsroom import BOT_TOKEN, SIGNING_SECRET, newsroom_environ

    return clean_environ(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                         SLACK_API_URL=slack_url, DATABASE_URL=database_url,
                         VIGIE_CONFIG=str(config), **newsroom_environ(), **more)


def newsroom_file(folder: Path, *, pace: float = 0.02, sweep_seconds: int = 2) -> Path:
    """The test newsroom, with bursts out of the way (a steady load is not a bad-buzz day
    here: every mention gets its own card) and a quick posts sweep."""
    text = (ROOT / "tests" / "fixtures" / "newsroom.toml").read_text("utf-8")
    text = text.replace("[posts]\n", f"[posts]\nsweep_seconds = {sweep_seconds}\n", 1)
    text += f"\n[bursts]\nthreshold = 1000000\npace = {pace}\n"
    path = folder / "vigie.toml"
    path.write_text(text, "utf-8")
    return path


class HAProxy:
    """HAProxy with `deploy/haproxy/haproxy.cfg`, TLS on `https_port`, two replicas."""

    def __init__(self, folder: Path, replicas: list[Replica]) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise SystemExit("haproxy is not installed (Debian: apt-get install -y haproxy)")
        pem = folder / "vigie.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", str(folder / "key.pem"),
                        "-out", str(folder / "cert.pem")], check=True, capture_output=True)
        pem.write_bytes((folder / "cert.pem").read_bytes() + (folder / "key.pem").read_bytes())
        self.https_port, self.http_port = free_port(), free_port()
        env = {**os.environ, "VIGIE_HTTPS_BIND": f"127.0.0.1:{self.https_port}",
               "VIGIE_HTTP_BIND": f"127.0.0.1:{self.http_port}", "VIGIE_TLS_PEM": str(pem),
               "VIGIE_REPLICA_1": f"127.0.0.1:{replicas[0].port}",
               "VIGIE_REPLICA_2": f"127.0.0.1:{replicas[1].port}"}
        self.log = open(folder / "haproxy.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [binary, "-W", "-db", "-f", str(ROOT / "deploy" / "haproxy" / "haproxy.cfg")],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"https://127.0.0.1:{self.https_port}"
        deadline = time.monotonic() + CAP
        while True:
            try:
                httpx.get(f"{self.url}/healthz", verify=False, timeout=2)
                break
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"haproxy did not start: see {folder}/haproxy.log") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def mention_body(external_id: str) -> bytes:
    return json.dumps({"external_id": external_id, "text": f"Une question ({external_id}) ?",
                       "author": {"handle": f"@{external_id}@x.example"},
                       "created_at": "2026-11-02T07:00:00Z", "platform": "mastodon"}).encode()


def webhook_headers(secret: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    return {"Content-Type": "application/json", "X-Vigie-Timestamp": str(now),
            "X-Vigie-Signature": sign(secret, now, body)}
