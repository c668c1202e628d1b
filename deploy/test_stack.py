"""Build the images and bring up `compose.yaml` as an IT person would, then check it works.

What it checks, against a local Slack-compatible server this script runs on the host:
1. `migrate` ran `vigie db upgrade` once and exited 0; both replicas turn ready;
2. through HAProxy over TLS: signed webhook mentions are stored (201) and each becomes
   exactly one card; http:// redirects to https://; /metrics and /readyz are refused
   from outside, and each replica serves /metrics on the inside;
3. a replica killed (`kill -9`): the mentions sent meanwhile are all answered and carded;
4. a rolling restart (`podman stop`, SIGTERM, then start, one replica after the other)
   under a steady trickle of mentions: none refused, none lost, none carded twice;
5. the replicas' logs are JSON lines and hold none of the secrets given in `.env`.

    deploy/test-stack.sh            # sets up podman and podman-compose, then runs this
    python deploy/test_stack.py [--keep]   # --keep leaves the stack up afterwards

Slow (a few minutes: image builds, a PostgreSQL start): not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.platforms.webhook.receiver import sign  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from tests.support.cluster import newsroom_file  # noqa: E402

PROJECT = "vigietest"
CAP = 300.0
WEBHOOK_SECRET = secrets.token_hex(16)
ALERTS_SECRET = secrets.token_hex(16)
SIGNING_SECRET = secrets.token_hex(16)
POSTGRES_PASSWORD = secrets.token_hex(12)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*command: str, check: bool = True, quiet: bool = False) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    if not quiet and result.stderr.strip():
        print(result.stderr.strip()[-2000:], file=sys.stderr)
    return result.stdout


def wait(what: str, predicate: object, cap: float = CAP) -> None:
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit(f"not within {cap:g} s: {what}")


class Stack:
    def __init__(self, podman: str, compose: str, folder: Path, https: int, http: int) -> None:
        self.podman = podman
        self.compose = [compose, "--podman-path", podman, "-p", PROJECT, "-f",
                        str(folder / "compose.yaml")]
        self.folder = folder
        self.base = f"https://127.0.0.1:{https}"
        self.http_port = http
        self.client = httpx.Client(verify=False, timeout=30)
        self.errors: list[int] = []  # answers before a mention sent again was accepted

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"

    def up(self) -> None:
        # The proxy and database images are rebuilt from deploy/ (a stale proxy image would
        # keep an old haproxy.cfg); Vigie's own image was built from the checkout above.
        subprocess.run([*self.compose, "build", "postgres", "proxy"], cwd=self.folder,
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*self.compose, "up", "-d"], cwd=self.folder, check=True,
                       stdout=subprocess.DEVNULL)

    def down(self) -> None:
        subprocess.run([*self.compose, "down", "-v", "-t", "10"], cwd=self.folder,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def inside(self, service: str, path: str) -> tuple[int, str]:
        """GET `path` on a replica from inside its container."""
        code = ("import sys, urllib.request, urllib.error\n"
                "try:\n r = urllib.request.urlopen('http://127.0.0.1:3000" + path + "', "
                "timeout=5)\n print(r.status); print(r.read().decode())\n"
                "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n")
        result = subprocess.run([self.podman, "exec", self.container(service), "python3",
                                 "-c", code], capture_output=True, text=True)
        if result.returncode != 0:  # not listening yet, or restarting
            return 0, result.stderr
        status, _, body = result.stdout.partition("\n")
        return int(status), body

    def post(self, external_id: str, source: str = "monitoring",
             secret: str = WEBHOOK_SECRET) -> int:
        body = json.dumps({"external_id": external_id, "text": f"Question {external_id} ?",
                           "author": {"handle": f"@a{external_id}@x.example"},
                           "created_at": "2026-11-02T07:00:00Z"}).encode()
        now = int(time.time())
        try:
            return self.client.post(f"{self.base}/ingest/{source}", content=body, headers={
                "Content-Type": "application/json", "X-Vigie-Timestamp": str(now),
                "X-Vigie-Signature": sign(secret, now, body)}).status_code
        except httpx.TransportError:
            return 0

    def served_by(self, service: str) -> bool:
        """Whether the proxy sends `service` traffic now (X-Vigie-Replica: replica1 for
        vigie1): a few requests through it, round-robin, one of them answered by it."""
        server = service.replace("vigie", "replica")
        return any(self.client.get(f"{self.base}/healthz").headers.get("x-vigie-replica")
                   == server for _ in range(4))

    def post_until_accepted(self, external_id: str, tries: int = 10) -> int:
        """Sent again until accepted; every answer before that is counted in `errors`."""
        for _ in range(tries):
            status = self.post(external_id)
            if status == 201:
                return status
            self.errors.append(status)
            time.sleep(0.5)
        return status


def cards(slack: FakeSlack) -> Counter[int]:
    return Counter(m["metadata"]["event_payload"]["mention_id"]
                   for m in slack.messages("C0MENTIONS")
                   if (m.get("metadata") or {}).get("event_type") == "vigie_mention")


class Trickle:
    """Mentions posted one after the other in the background, each status kept."""

    def __init__(self, stack: Stack, prefix: str) -> None:
        self.stack = stack
        self.prefix = prefix
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            self.statuses.append(self.stack.post(f"{self.prefix}-{n}"))
            time.sleep(0.05)


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack up")
    args = parser.parse_args()
    podman = os.environ.get("PODMAN") or shutil.which("podman") or "podman"
    compose = os.environ.get("PODMAN_COMPOSE") or shutil.which("podman-compose") \
        or "podman-compose"

    started = time.monotonic()
    run(podman, "build", "--network", "host", "--format", "docker", "-t",
        "localhost/vigie:latest", str(ROOT), quiet=True)
    size = int(run(podman, "image", "inspect", "localhost/vigie:latest", "--format",
                   "{{.Size}}").strip())
    print(f"image localhost/vigie:latest: {size / 1e6:.0f} MB, built in "
          f"{time.monotonic() - started:.0f} s")

    with FakeSlack(host="0.0.0.0") as slack, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        compose_file = (ROOT / "compose.yaml").read_text()
        version = run(podman, "version", "--format", "{{.Client.Version}}").strip()
        if tuple(int(p) for p in version.split(".")[:2]) < (4, 4):
            # podman < 4.4 cannot start a container whose dependencies have dependencies
            # ("not found in input list"): drop depends_on. The order still holds: a
            # replica refuses a schema behind the code and is restarted until `migrate`
            # has run, and `migrate` is restarted until PostgreSQL answers.
            import yaml

            spec = yaml.safe_load(compose_file)
            for service in spec["services"].values():
                service.pop("depends_on", None)
            compose_file = yaml.safe_dump(spec, sort_keys=False)
            print(f"podman {version}: depends_on dropped (podman < 4.4 cannot order them)")
        (folder / "compose.yaml").write_text(compose_file)
        shutil.copy(ROOT / "Containerfile", folder / "Containerfile")
        shutil.copytree(ROOT / "deploy", folder / "deploy",
                        ignore=shutil.ignore_patterns("__pycache__"))
        # The test newsroom with bursts out of the way: 40 mentions in a minute would
        # otherwise be grouped into digests (spike mode), not one card each.
        newsroom_file(folder)
        https, http = free_port(), free_port()
        env = {
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"http://host.containers.internal:{slack.port}/api/",
            "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
            "VIGIE_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VIGIE_TEST_ALERTS_SECRET": ALERTS_SECRET,
            "VIGIE_HTTPS_PORT": str(https), "VIGIE_HTTP_PORT": str(http),
        }
        (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        stack = Stack(podman, compose, folder, https, http)
        stack.down()
        try:
            up = time.monotonic()
            stack.up()
            wait("both replicas ready", lambda: all(
                stack.inside(s, "/readyz")[0] == 200 for s in ("vigie1", "vigie2")))
            wait("the proxy answers", lambda: stack.client.get(
                f"{stack.base}/healthz").status_code == 200)
            print(f"stack up and ready in {time.monotonic() - up:.0f} s")
            health = subprocess.run([podman, "healthcheck", "run", stack.container("vigie1")],
                                    capture_output=True, text=True)
            assert health.returncode == 0, f"image healthcheck: {health.stdout}{health.stderr}"
            print("image HEALTHCHECK (GET /healthz inside the container): healthy")
            migrate = run(podman, "inspect", stack.container("migrate"), "--format",
                          "{{.State.ExitCode}}").strip()
            assert migrate == "0", f"migrate exited {migrate}"
            print("migrate: `vigie db upgrade` ran once, exit 0")

            assert stack.client.get(f"{stack.base}/metrics").status_code == 404
            assert stack.client.get(f"{stack.base}/readyz").status_code == 404
            status, body = stack.inside("vigie1", "/metrics")
            assert status == 200 and "vigie_scheduler_leader" in body
            redirect = httpx.get(f"http://127.0.0.1:{http}/healthz", follow_redirects=False)
            assert redirect.status_code == 301, redirect.status_code
            print("proxy: TLS, http→https redirect, /metrics and /readyz refused outside")

            statuses = [stack.post(f"first-{n}") for n in range(20)]
            assert statuses == [201] * 20, statuses
            wait("20 cards", lambda: len(cards(slack)) == 20, 120)

            run(podman, "kill", "-s", "KILL", stack.container("vigie1"))
            # As an integrator does: a mention not accepted is sent again (errors counted).
            statuses = [stack.post_until_accepted(f"killed-{n}") for n in range(20)]
            try:
                wait("40 cards", lambda: len(cards(slack)) == 40, 120)
            except SystemExit:
                print(f"cards: {len(cards(slack))}; vigie2's last lines:\n" + "\n".join(run(
                    podman, "logs", stack.container("vigie2"), quiet=True,
                    check=False).splitlines()[-40:]), file=sys.stderr)
                raise
            print(f"vigie1 killed (-9): 20 mentions sent meanwhile, all accepted and carded "
                  f"once; client errors before a resend: {dict(Counter(stack.errors)) or 0}")
            assert statuses == [201] * 20, statuses
            run(podman, "start", stack.container("vigie1"))
            wait("vigie1 ready again", lambda: stack.inside("vigie1", "/readyz")[0] == 200)

            with Trickle(stack, "rolling") as trickle:
                for service in ("vigie1", "vigie2"):
                    run(podman, "stop", "-t", "45", stack.container(service))
                    run(podman, "start", stack.container(service))
                    wait(f"{service} ready again",
                         lambda s=service: stack.inside(s, "/readyz")[0] == 200)
                    # and back in the proxy's rotation before the next one stops
                    wait(f"{service} served through the proxy",
                         lambda s=service: stack.served_by(s))
            sent = len(trickle.statuses)
            accepted = trickle.statuses.count(201)
            print(f"rolling restart: {sent} mentions sent, answers "
                  f"{dict(Counter(trickle.statuses))}", flush=True)
            try:
                wait("every accepted rolling mention carded",
                     lambda: len(cards(slack)) == 40 + accepted, 120)
            except SystemExit:
                print(f"cards: {len(cards(slack))} of {40 + accepted}", file=sys.stderr)
                raise
            assert set(trickle.statuses) == {201}, Counter(trickle.statuses)
            twice = {k: v for k, v in cards(slack).items() if v > 1}
            assert not twice, f"cards posted twice: {twice}"
            print(f"cards: {len(cards(slack))}, each once")

            logs = run(podman, "logs", stack.container("vigie1"), quiet=True) + run(
                podman, "logs", stack.container("vigie2"), quiet=True)
            logs += subprocess.run([podman, "logs", stack.container("vigie1")],
                                   capture_output=True, text=True).stderr
            lines = [line for line in logs.splitlines() if line.strip()]
            for line in lines:
                try:
                    json.loads(line)
                except ValueError:
                    raise SystemExit(f"a log line is not JSON: {line[:300]!r}") from None
            for secret in (SIGNING_SECRET, WEBHOOK_SECRET, ALERTS_SECRET, POSTGRES_PASSWORD,
                           slack.token):
                assert secret not in logs, "a secret reached the logs"
            print(f"logs: {len(lines)} JSON lines, no secret")
            print(f"OK in {time.monotonic() - started:.0f} s")
        finally:
            if not args.keep:
                stack.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
