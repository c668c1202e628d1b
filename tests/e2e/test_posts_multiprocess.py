"""Several Vigie processes against one database publish each post exactly once.

Real processes (subprocess), real schedulers, one shared database and one fake Slack.
On PostgreSQL the advisory lock elects one scheduler; the other process races it anyway
by calling the publishing job in a loop, and in the fail-over test the leader is killed
and the other takes over. On SQLite there is no lock, so both schedulers run every job
and every sweep: the atomic claims alone keep each post to one publication per target.

Every step waits for what a worker says, never for a time: starting a process or drafting
30 posts takes seconds on a quiet machine and can take a minute on a loaded one.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.posts.models import NoticeState, Post, PostDelivery, PostNotice, PostState
from bot.sandbox.slack import SLACK_POSTING_RATE, FakeSlack
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
POSTS = 30
STEP = 120  # cap on one step (a start-up, 30 drafts, the publication) on a loaded machine
pytestmark = pytest.mark.timeout(6 * STEP)


class Worker:
    """A Vigie process, with its stdout lines readable as they come."""

    def __init__(self, database_url: str, slack: FakeSlack, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.posts_worker", "--database-url",
             database_url, "--slack-url", slack.base_url, *args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        assert self.process.stdout and self.process.stderr
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()

    @staticmethod
    def _read(stream: IO[str], lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line.strip())

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.errors.append(line.rstrip())

    def tell(self, line: str) -> None:
        assert self.process.stdin
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, prefix: str, timeout: float = STEP) -> str:
        for line in self.seen:
            if line.startswith(prefix):
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"worker never said {prefix!r}; stderr:\n" +
                             "\n".join(self.errors[-30:]))

    def said(self, prefix: str) -> bool:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        return any(line.startswith(prefix) for line in self.seen)

    def finish(self, timeout: float = STEP) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def freeze(self) -> None:
        """Stop the process where it stands: a stuck leader, its lock still held."""
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(STEP)


def published(slack: FakeSlack, channel: str) -> Counter[int]:
    """How many times each post went out to `channel`."""
    return Counter(
        m["metadata"]["event_payload"]["post_id"] for m in slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == "vigie_post"
    )


def assert_each_post_published_once(engine: Engine, slack: FakeSlack) -> None:
    for channel in ("C0ANNONCES", "C0BREVES"):
        sent = published(slack, channel)
        assert len(sent) == POSTS, (channel, len(sent))
        assert set(sent.values()) == {1}, (channel, {k: v for k, v in sent.items() if v > 1})
    with Session(engine) as session:
        posts = session.exec(select(Post).order_by(col(Post.id))).all()
        deliveries = session.exec(select(PostDelivery)).all()
    assert [p.state for p in posts] == [PostState.PUBLISHED] * POSTS
    assert {(d.state, d.attempts) for d in deliveries} == {("published", 1)}


def test_two_processes_publish_each_post_exactly_once(database_url: str, engine: Engine,
                                                      slack: FakeSlack) -> None:
    """Two Vigie processes, 30 posts × 2 Slack targets due at once: 60 messages, no repeat."""
    # Exactly once is the point here, not pacing (this Slack limits nothing): a quick pace.
    common = ("--expect", str(POSTS), "--hammer", "--pace", "0.02")
    # The one that creates comes up second, and dates its posts from then: both are
    # running before anything is due, however long each took to start.
    second = Worker(database_url, slack, *common)
    first: Worker | None = None
    try:
        second.wait_for("leader" if PG_URL else "ready")
        first = Worker(database_url, slack, "--create", str(POSTS), "--in", "5", *common)
        first.wait_for("created")
        assert first.finish() == 0, first.errors[-20:]
        assert second.finish() == 0, second.errors[-20:]
    finally:
        for worker in (first, second):
            if worker is not None and worker.process.poll() is None:
                worker.process.kill()
    assert not any("Traceback" in line for line in first.errors + second.errors), \
        "\n".join(first.errors + second.errors)
    if PG_URL:  # the advisory lock let exactly one of them run the scheduler
        assert first.said("leader") != second.said("leader")
    else:
        assert first.said("leader") and second.said("leader")
    assert_each_post_published_once(engine, slack)


@pytest.mark.skipif(not PG_URL, reason="fail-over needs PostgreSQL's advisory lock; "
                                       "SQLite runs a single process")
def test_when_the_leader_dies_the_other_process_publishes_once(
        database_url: str, engine: Engine, slack: FakeSlack) -> None:
    """The scheduler's leader dies before publishing anything; the other takes over and
    publishes each post once."""
    common = ("--expect", str(POSTS), "--pace", "0.02")
    leader = Worker(database_url, slack, *common)
    other: Worker | None = None
    try:
        leader.wait_for("leader")
        other = Worker(database_url, slack, "--create", str(POSTS), "--in", "2", "--when-told",
                       *common)
        other.wait_for("ready")
        # Stuck, then dead: frozen while it holds the lock, it can publish nothing, however
        # long the drafting below takes; the other process schedules the posts into the
        # shared job store meanwhile.
        leader.freeze()
        other.tell("go")
        other.wait_for("created")
        assert not other.said("leader")  # the stuck leader still holds the lock
        assert not published(slack, "C0ANNONCES") and not published(slack, "C0BREVES")
        leader.kill()
        other.wait_for("leader")
        assert other.finish() == 0, other.errors[-20:]
    finally:
        for worker in (leader, other):
            if worker is not None and worker.process.poll() is None:
                worker.process.kill()
    assert_each_post_published_once(engine, slack)


@pytest.mark.timeout(180)
def test_two_processes_sharing_the_pace_draw_no_429(database_url: str, engine: Engine) -> None:
    """Two processes, 6 posts × 2 channels due at once, their previews, thread reports and
    the author's DMs, against a Slack that limits each channel: not one 429."""
    posts = 6
    with FakeSlack(channel_rate_limit=SLACK_POSTING_RATE) as limited:
        common = ("--expect", str(posts), "--hammer", "--notes", "--seconds", "120")
        second = Worker(database_url, limited, *common)
        first: Worker | None = None
        try:
            second.wait_for("leader" if PG_URL else "ready")
            first = Worker(database_url, limited, "--create", str(posts), "--in", "3", *common)
            first.wait_for("created")
            assert first.finish(150) == 0, first.errors[-20:]
            assert second.finish(150) == 0, second.errors[-20:]
        finally:
            for worker in (first, second):
                if worker is not None and worker.process.poll() is None:
                    worker.process.kill()
        assert limited.ratelimited_count == 0, limited.ratelimited_channels
        for channel in ("C0ANNONCES", "C0BREVES"):
            assert set(published(limited, channel).values()) == {1}
            assert len(published(limited, channel)) == posts
        with Session(engine) as session:
            notes = session.exec(select(PostNotice)).all()
        assert {n.state for n in notes} == {NoticeState.SENT}
        author_dm = limited.dm_channel("U0CM")
        assert len(limited.messages(author_dm)) == sum(1 for n in notes if n.kind == "author")
