"""One Vigie process for the multi-process publishing tests: `python -m tests.support.posts_worker`.

It builds the real app against a shared database and a fake Slack, runs its scheduler
(and so its leader election, jobs and sweep), and reports on stdout:
`ready`, `leader` when it takes the scheduler lock, `created <epoch> <ids>`, `done`.

--create N --in S   draft and approve N posts due S seconds after this process is ready
                    (through the real desk). The time counts from `ready`, not from the
                    launch: start-up time varies a lot with the machine's load, and a
                    scenario timed from the launch silently turns into another one (the
                    posts already out before the other process is even up).
--when-told         with --create: after `ready`, wait for a line on stdin before drafting
                    (the test sets the scene first), and count S from that line
--expect N          run until N posts are published or failed; exit 1 if --seconds (a cap
                    for a loaded machine, 120 by default) run out first (a post still
                    `publishing` is not "finished")
--hammer            also call the publishing job for every due post in a loop, ignoring
                    leadership: a second runner racing the first, as a retried job, a
                    stuck leader or a split brain would
--pace S            seconds between two messages in a channel (`bursts.pace`)
--notes             also run until every note about the posts (previews' threads, the
                    author's DMs) is sent
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import load_config
from bot.posts.models import FINISHED, DraftIn, NoticeState, Post, PostDelivery, PostNotice
from tests.conftest import FIXTURES, make_settings

AUTHOR = "U0CM"
EDITOR = "U0EDITOR"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def notes_done(session: Session) -> bool:
    """Every note sent, every delivery reported in its thread, every author told the end."""
    notes = session.exec(select(PostNotice)).all()
    reported = {d for n in notes if n.kind == "report"
                for d in json.loads(n.params)["deliveries"]}
    deliveries = set(session.exec(select(PostDelivery.id)).all())
    ends = sum(1 for n in notes if n.kind == "author" and n.event in FINISHED)
    posts = len(session.exec(select(Post.id)).all())
    return (all(n.state == NoticeState.SENT for n in notes) and reported == deliveries
            and ends == posts)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--slack-url", required=True)
    parser.add_argument("--create", type=int, default=0)
    parser.add_argument("--in", dest="due_in", type=float, default=0)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--hammer", action="store_true")
    parser.add_argument("--when-told", action="store_true")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--pace", type=float)
    parser.add_argument("--notes", action="store_true")
    args = parser.parse_args()

    config = load_config(FIXTURES / "newsroom.toml")
    config = config.model_copy(update={"posts": config.posts.model_copy(
        update={"sweep_seconds": 1})})
    if args.pace is not None:
        config = config.model_copy(update={"bursts": config.bursts.model_copy(
            update={"pace": args.pace})})
    vigie = build(make_settings(args.database_url, args.slack_url), config, clock=SystemClock())
    vigie.scheduler._leader_poll = 0.3  # take over quickly when the leader dies
    vigie.start_background()
    say("ready")
    stop = threading.Event()

    def watch_leadership() -> None:
        while not stop.is_set():
            if vigie.scheduler.is_leader:
                say("leader")
                return
            stop.wait(0.05)

    threading.Thread(target=watch_leadership, daemon=True).start()

    if args.create:
        if args.when_told:
            sys.stdin.readline()
        due = time.time() + args.due_in
        when = datetime.fromtimestamp(due, UTC)
        ids = []
        for index in range(args.create):
            post = vigie.posts.desk.draft(AUTHOR, DraftIn(
                text=f"Publication {index}", targets=("annonces", "breves"), publish_at=when))
            vigie.posts.desk.approve(int(post.id or 0), EDITOR, via="button")
            ids.append(int(post.id or 0))
        say(f"created {due} " + " ".join(map(str, ids)))

    deadline = time.time() + args.seconds
    finished = False
    posts: list[Post] = []
    while time.time() < deadline:
        with Session(vigie.engine) as session:
            posts = list(session.exec(select(Post).order_by(col(Post.id))).all())
            told = notes_done(session) if args.notes else True
        if len(posts) >= args.expect and all(p.state in FINISHED for p in posts) and told:
            finished = True
            break
        if args.hammer:
            now = datetime.now(UTC)
            for post in posts:
                if post.publish_at is not None and post.publish_at <= now:
                    vigie.posts.publishing.run_due(int(post.id or 0))
        time.sleep(0.02)
    stop.set()
    vigie.posts.notices.drain(5)
    vigie.stop()
    if not finished:
        states = Counter(str(p.state) for p in posts)
        sys.stderr.write(f"gave up after {args.seconds}s: {len(posts)} posts, {dict(states)}\n")
        return 1
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
