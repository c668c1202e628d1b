"""How long `vigie serve` takes to answer `/healthz`, what it costs in CPU, and what it
holds in memory at rest, beside a bare Bolt app started the same way.

Both run as a subprocess of this script, against the same local Slack-compatible Web API
server, on a free port:
- the floor: a minimal slack_bolt `App` (which asks `auth.test` as it is built) on
  Starlette/uvicorn with a `/healthz` route;
- Vigie: `vigie serve` with the test newsroom (webhook sources, no feed, no Mastodon or
  Bluesky account) on a SQLite file migrated before the clock starts.

For each start: seconds from `Popen` to the first `/healthz` 200, CPU seconds the process
used until then (user + system, from /proc), and its resident memory (VmRSS) once it is
healthy and has stopped using CPU. Also the time `vigie db upgrade` takes on an up-to-date
database, which `make run` paid before serving when it ran it as a separate process.

Each app is started once untimed first, so that its bytecode is cached as in any install
(`PYTHONDONTWRITEBYTECODE` is dropped for the children: without it every start would
compile the bot's sources again).

    python bench/startup.py [--runs 5] [--quick] [--checkout DIR]

`--quick` starts each once (CI runs it so the script cannot rot; figures are not asserted).
`--checkout DIR` measures the `bot` package of another checkout (e.g. a worktree of an
older commit), to compare before and after. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.sandbox.slack import FakeSlack  # noqa: E402

NEWSROOM = ROOT / "tests" / "fixtures" / "newsroom.toml"
TOKEN = "xoxb-bench"
SIGNING_SECRET = "bench-signing-secret"
CAP = 120.0  # seconds: a start that takes longer is reported as a failure

BARE_BOLT = '''
import sys

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import SlackRequestHandler
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from slack_sdk import WebClient

token, secret, api_url, port = sys.argv[1:5]
app = App(client=WebClient(token=token, base_url=api_url), signing_secret=secret)
handler = SlackRequestHandler(app)


async def events(request):
    return await handler.handle(request)


async def healthz(request):
    return JSONResponse({"ok": True})


web = Starlette(routes=[Route("/slack/events", events, methods=["POST"]),
                        Route("/healthz", healthz, methods=["GET"])])
uvicorn.run(web, host="127.0.0.1", port=int(port), log_level="warning")
'''


@dataclass(frozen=True)
class Start:
    seconds: float  # Popen → first /healthz 200
    cpu: float  # user + system CPU seconds used by then
    rss_mb: float  # VmRSS once healthy and idle


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_idle(pid: int, window: float = 1.0, cap: float = 30.0) -> None:
    """Until the process used no more than 2% of a core over `window` seconds."""
    deadline = time.monotonic() + cap
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        after = cpu_seconds(pid)
        if after - before <= 0.02 * window:
            return
        before = after


def measure(command: list[str], env: dict[str, str], port: int, cwd: Path) -> Start:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(timeout=2.0) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    output = process.stdout.read() if process.stdout else ""
                    raise RuntimeError(f"{command[0]} exited:\n{output}")
                if time.perf_counter() - started > CAP:
                    raise RuntimeError(f"{command[0]} not healthy within {CAP:g} s")
                time.sleep(0.01)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
        wait_idle(process.pid)
        return Start(seconds, cpu, rss_mb(process.pid))
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def vigie_executable() -> str:
    return shutil.which("vigie", path=str(Path(sys.executable).parent)) or "vigie"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each app")
    parser.add_argument("--quick", action="store_true", help="one start of each (CI)")
    parser.add_argument("--checkout", type=Path, help="measure this checkout's bot package")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs

    with tempfile.TemporaryDirectory(prefix="vigie-bench-startup-") as folder, \
            FakeSlack(token=TOKEN) as slack:
        work = Path(folder)
        bare_script = work / "bare_bolt.py"
        bare_script.write_text(BARE_BOLT)
        base = {key: value for key, value in os.environ.items()
                if not key.startswith(("SLACK_", "VIGIE_", "DATABASE_URL"))
                and key != "PYTHONDONTWRITEBYTECODE"}
        vigie_env = base | {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
            "DATABASE_URL": f"sqlite:///{work / 'vigie.db'}",
            "VIGIE_CONFIG": str(NEWSROOM),
            "VIGIE_TEST_WEBHOOK_SECRET": "bench-webhook-secret",
            "VIGIE_TEST_ALERTS_SECRET": "bench-alerts-secret",
        }
        if args.checkout:
            vigie_env["PYTHONPATH"] = str(args.checkout.resolve())
        vigie = vigie_executable()
        subprocess.run([vigie, "db", "upgrade"], env=vigie_env, cwd=work, check=True,
                       capture_output=True)
        bare_command = [sys.executable, str(bare_script), TOKEN, SIGNING_SECRET,
                        slack.base_url]
        vigie_command = [vigie, "serve", "--host", "127.0.0.1", "--port"]
        for command, env in ((bare_command, base), (vigie_command, vigie_env)):
            port = free_port()  # untimed: writes the bytecode
            measure([*command, str(port)], env, port, work)
        upgrade_seconds = [timed([vigie, "db", "upgrade"], vigie_env, work)
                           for _ in range(runs)]

        bare: list[Start] = []
        ours: list[Start] = []
        for _ in range(runs):  # alternate, so both see the same machine load
            port = free_port()
            bare.append(measure([*bare_command, str(port)], base, port, work))
            port = free_port()
            ours.append(measure([*vigie_command, str(port)], vigie_env, port, work))

    def row(name: str, starts: list[Start]) -> str:
        return (f"| {name} | {statistics.median(s.seconds for s in starts):.2f} s "
                f"({min(s.seconds for s in starts):.2f}–{max(s.seconds for s in starts):.2f}) "
                f"| {statistics.median(s.cpu for s in starts):.2f} s "
                f"| {statistics.median(s.rss_mb for s in starts):.0f} MB |")

    ratio = (statistics.median(s.seconds for s in ours)
             / statistics.median(s.seconds for s in bare))
    print(f"start → /healthz 200, {runs} start(s) each, {os.cpu_count()} CPU(s); "
          "median (min–max)")
    print("| app | start → healthy | CPU to healthy | RSS at rest |")
    print("|---|---|---|---|")
    print(row("bare Bolt (floor)", bare))
    print(row("vigie serve", ours))
    print(f"vigie ÷ bare Bolt: {ratio:.1f}×   (targets: under 2 s, under 3×, under 150 MB)")
    print(f"`vigie db upgrade` on an up-to-date database: "
          f"{statistics.median(upgrade_seconds):.2f} s (median)")


if __name__ == "__main__":
    main()
