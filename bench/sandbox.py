"""The sandbox (`vigie demo`, issue 14), seen from the page's side: how long until the
page and its API answer, and how long a click takes to show (the card's update arriving
on the page's long poll), beside floors measured in the same run.

The demo runs as a person starts it, in its own process (`python -m bot.cli demo`, the
real bot inside, sample mentions off so they do not compete with the clicks); this
process plays the browser: it only speaks HTTP to the sandbox's page and API.

    python bench/sandbox.py [--clicks 200]
    python bench/sandbox.py --quick            # 15 clicks: does it run? (no verdict)

Targets (issue 14): start to usable page under 5 s; a click's effect visible in the
page under 300 ms p95 (the browser's own drawing comes on top: the web client's bench).
Floors: starting a Python process that imports the bot (what any start pays), and a
bare round trip to the sandbox's API (what any click pays before the bot works).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CM = "U0CM1"
CHANNEL = "C0MENTIONS"
PRIORITIES = ("high", "urgent", "low", "normal")


def start_demo(data_dir: Path) -> tuple[subprocess.Popen[str], str, float]:
    """Start `vigie demo`; its URL and the seconds until its page and API answered."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "bot.cli", "demo", "--port", "0", "--no-browser",
         "--no-sample", "--data-dir", str(data_dir)], cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    url = ""
    for line in process.stdout:
        if "Vigie sandbox: " in line:
            url = line.split(": ", 1)[1].strip()
            break
    if not url:
        raise SystemExit(f"vigie demo did not start (exit {process.wait()})")
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            try:
                if client.get("/").status_code == 200 and \
                        client.get("/sandbox/api/bootstrap").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    return process, url, time.monotonic() - started


def import_floor() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import bot.app, bot.sandbox.demo"], cwd=ROOT,
                   check=True)
    return time.monotonic() - started


def clicks(url: str, count: int) -> tuple[list[float], list[float]]:
    """Seconds from a priority chosen on a card to its update reaching a long poll; and a
    bare API round trip each time."""
    shown: list[float] = []
    bare: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as page, \
            httpx.Client(base_url=url, timeout=60) as poll:
        text = "Bench : à quelle heure passe la chronique météo ?"
        pasted = page.post("/sandbox/api/mention", json={"text": text}).json()
        assert pasted["ok"], pasted
        card: dict[str, Any] | None = None
        deadline = time.monotonic() + 60
        while card is None and time.monotonic() < deadline:
            history = page.get("/sandbox/api/history",
                               params={"channel": CHANNEL, "user": CM}).json()["messages"]
            card = next((m for m in history if text in json.dumps(
                m.get("blocks", []), ensure_ascii=False)), None)
            time.sleep(0.02)
        assert card is not None, "no card"
        for n in range(count):
            cursor = poll.get("/sandbox/api/changes",
                              params={"since": 0, "timeout": 0}).json()["cursor"]
            sent = time.monotonic()
            answer = page.post("/sandbox/api/action", json={
                "user": CM, "channel": CHANNEL, "message_ts": card["ts"],
                "action_id": "qualify.priority", "selected_option": PRIORITIES[n % 4]})
            assert answer.status_code == 200, answer.text
            while True:
                got = poll.get("/sandbox/api/changes",
                               params={"since": cursor, "timeout": 20}).json()
                cursor = got["cursor"]
                if any(c["kind"] == "update" and c.get("ts") == card["ts"]
                       for c in got["changes"]):
                    shown.append(time.monotonic() - sent)
                    break
            started = time.monotonic()
            page.get("/sandbox/api/views", params={"user": CM})
            bare.append(time.monotonic() - started)
    return shown, bare


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 15 if args.quick else args.clicks
    floor = import_floor()
    with tempfile.TemporaryDirectory() as folder:
        process, url, start = start_demo(Path(folder) / "demo")
        try:
            shown, bare = clicks(url, count)
        finally:
            process.terminate()
            process.wait(60)
    ms = 1000
    print(f"sandbox start → page and API answer: {start:.2f} s   "
          f"(floor: a Python process importing the bot: {floor:.2f} s; target < 5 s)")
    print(f"click → card update on the long poll, {len(shown)} clicks: "
          f"p50 {statistics.median(shown) * ms:.0f} ms, p95 {pct(shown, 0.95) * ms:.0f} ms, "
          f"max {max(shown) * ms:.0f} ms   (target p95 < 300 ms)")
    print(f"floor, a bare API round trip: p50 {statistics.median(bare) * ms:.1f} ms, "
          f"p95 {pct(bare, 0.95) * ms:.1f} ms")
    if args.quick:
        print("(--quick: too few clicks for a verdict)")


if __name__ == "__main__":
    main()
