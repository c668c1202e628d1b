"""The newsroom at work, as the kill and database campaigns load it: `vigie serve`
replicas on one database, the local Slack and Mastodon servers, and people.

- Integrators send signed webhook mentions (each of a Mastodon status, so it can be
  answered there) and send a refused or unanswered one again, same external id, as the
  README asks; they honour `Retry-After` (capped, to keep the campaign short).
- A staff member re-prioritises cards, and clicks again when the card does not take the
  choice (Slack shows her the card; she sees it did not change).
- Another answers mentions on Mastodon from the card's reply modal, and presses Submit
  again when Slack says the app did not answer.
- An editor's approved posts (two Slack channels and the Mastodon account) fall due all
  along; they are drafted and approved through the real desk in this process, whose
  scheduler is paused: jobs land in the shared store and the replicas run them.

`Verdict` then checks the promises: every mention accepted with a 2xx has exactly one
card, every post went out once per target, no reply was sent twice, every click a person
saw take is what is stored.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.app import Vigie, build
from bot.clock import SystemClock
from bot.config import load_config
from bot.logs import configure as configure_logs
from bot.mentions.models import Mention
from bot.posts.models import DraftIn, Post, PostState
from bot.replies.messages import ModalState
from bot.replies.models import Reply, ReplyState
from bot.sandbox.driver import SlackDriver
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.support.cluster import Replica, newsroom_file, webhook_headers
from tests.support.newsroom import SIGNING_SECRET, WEBHOOK_SECRET, make_settings

# Three accounts whose cards go to three channels (one Mastodon account each): the relay
# posts one card per channel per round, as Slack's one message a second per channel asks.
ACCOUNTS = {"matinale": "C0MENTIONS", "grand-debat": "C0DEBAT", "sport-talk": "C0SPORT"}
CLICKER, ANSWERER, AUTHOR, EDITOR = "U0STAFF1", "U0STAFF2", "U0CM", "U0EDITOR"
PRIORITIES = ("high", "urgent", "low", "normal")
TARGETS = ("annonces", "breves", "matinale-mastodon")
POST_CHANNELS = ("C0ANNONCES", "C0BREVES")
MASTODON_ENV = {f"VIGIE_TEST_MASTODON_{n}": f"token-{account}"
                for n, account in enumerate(ACCOUNTS)}
PATIENCE = 15.0  # seconds a person waits for the card or the modal before clicking again
RETRY_AFTER_CAP = 1.0  # the campaign's integrators wait at most this (Retry-After is 5 s)


def campaign_newsroom(folder: Path, mastodon: FakeMastodon) -> Path:
    """The test newsroom (bursts out of the way, a quick posts sweep) plus La Matinale's
    Mastodon account on the local server, which replies and posts go through."""
    path = newsroom_file(folder)
    with path.open("a", encoding="utf-8") as out:
        for env, account in zip(MASTODON_ENV, ACCOUNTS, strict=True):
            out.write(f'\n[[sources]]\nid = "masto-{account}"\ntype = "mastodon"\n'
                      f'account = "{account}"\ninstance = "{mastodon.url}"\n'
                      f'token_env = "{env}"\ninterval = 86400\n')
    return path


@dataclass
class Tally:
    """What the people saw."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[str] = field(default_factory=Counter)  # "webhook 201" → count
    accepted: dict[str, float] = field(default_factory=dict)  # external id → when (monotonic)
    status_of: dict[str, str] = field(default_factory=dict)  # external id → Mastodon status
    refused_500: int = 0
    unavailable_without_retry_after: int = 0
    clicks: int = 0
    clicks_again: int = 0
    chosen: dict[int, str] = field(default_factory=dict)  # mention id → priority seen taken
    replies_sent: set[int] = field(default_factory=set)  # mention ids whose modal closed
    replies_refused: int = 0  # submissions the modal answered with an error
    submits_again: int = 0
    opens_again: int = 0
    posts: dict[int, datetime] = field(default_factory=dict)  # post id → due

    def note(self, kind: str, status: int) -> None:
        with self.lock:
            self.answers[f"{kind} {status or 'no answer'}"] += 1

    def server_errors(self) -> dict[str, int]:
        """Answers 500 (or any 5xx but 503), by kind: never acceptable."""
        with self.lock:
            return {k: v for k, v in self.answers.items()
                    if k.split()[-1].isdigit() and int(k.split()[-1]) >= 500
                    and k.split()[-1] != "503"}

    def slack_answers(self) -> str:
        """`click 200: 12, submit 200: 3` for the table."""
        with self.lock:
            return ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items())
                             if not k.startswith("webhook")) or "none"

    def accepted_before(self, moment: float) -> set[str]:
        with self.lock:
            return {k for k, at in self.accepted.items() if at <= moment}


class Desk:
    """The people at work against `replicas`; `start()` them, `stop()` them."""

    def __init__(self, *, replicas: list[Replica], slack: FakeSlack, mastodon: FakeMastodon,
                 engine: Engine, database_url: str, config: Path, rng: random.Random,
                 rate: float, click_rate: float, post_every: float,
                 prefix: str = "m") -> None:
        self.replicas, self.slack, self.mastodon = replicas, slack, mastodon
        self.engine, self.database_url, self.config = engine, database_url, config
        self.rate, self.click_rate, self.post_every = rate, click_rate, post_every
        self.prefix = prefix
        self.tally = Tally()
        self._seeds = iter(rng.sample(range(1 << 30), 16))
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._vigie: Vigie | None = None
        self._senders = 1
        for user, name in ((CLICKER, "marie"), (ANSWERER, "paul"), (EDITOR, "eve"),
                           (AUTHOR, "cm")):
            slack.add_user(user, name, real_name=name.capitalize())

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Desk:
        self._vigie = self._posts_desk()
        self._senders = max(2, round(self.rate / 2))
        work: list[Callable[[random.Random], None]] = [self._mentions] * self._senders
        work += [self._clicks, self._replies]
        if self.post_every > 0:
            work.append(self._posts)
        for target in work:
            rng = random.Random(next(self._seeds))
            thread = threading.Thread(target=target, args=(rng,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop sending new work; what is under way (a mention being sent again) ends."""
        self._stop.set()
        for thread in self._threads:
            thread.join(180)
        if self._vigie is not None:
            # Detach the shared store first: APScheduler's last pass after `shutdown`
            # would take the due jobs out of it, unrun (`bot.scheduler.Scheduler.shutdown`).
            scheduler = self._vigie.scheduler._scheduler
            scheduler.remove_jobstore("default", shutdown=False)
            scheduler.shutdown(wait=False)
            self._vigie.engine.dispose()

    # -- integrators: signed webhook mentions ----------------------------------------------
    def _mentions(self, rng: random.Random) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                self.send_mention(client, rng)
                self._stop.wait(rng.expovariate(self.rate / self._senders))

    def send_mention(self, client: httpx.Client, rng: random.Random,
                     give_up: float = 300.0) -> str | None:
        """One new mention, sent again until a replica accepts it; its external id."""
        n = next(self._ids)
        external = f"{self.prefix}-{n}"
        author = self.mastodon.add_account(f"lecteur{n}", domain="mamot.example")
        account = rng.choice(list(ACCOUNTS))
        status = self.mastodon.add_status(author, f"<p>@{account} question {n}</p>")
        body = json.dumps({
            "external_id": external, "text": f"Question {external} : à quelle heure ?",
            "author": {"handle": f"@lecteur{n}@mamot.example"}, "language": "fr",
            "created_at": datetime.now(UTC).isoformat(), "platform": "mastodon",
            "account": account, "ref": {"id": status["id"], "visibility": "public"},
        }).encode()
        deadline = time.monotonic() + give_up
        while time.monotonic() < deadline:
            replica = rng.choice(self.replicas)
            wait = 0.2
            try:
                answer = client.post(f"{replica.url}/ingest/monitoring", content=body,
                                     headers=webhook_headers(WEBHOOK_SECRET, body))
                code = answer.status_code
            except httpx.TransportError:
                code = 0
            self.tally.note("webhook", code)
            if code in (200, 201):
                with self.tally.lock:
                    self.tally.accepted[external] = time.monotonic()
                    self.tally.status_of[external] = status["id"]
                return external
            if code >= 500:
                retry_after = answer.headers.get("retry-after")
                with self.tally.lock:
                    if code == 500:
                        self.tally.refused_500 += 1
                    elif code == 503 and not retry_after:
                        self.tally.unavailable_without_retry_after += 1
                if retry_after and retry_after.isdigit():
                    wait = min(float(retry_after), RETRY_AFTER_CAP)
            elif code >= 400:
                raise AssertionError(f"webhook refused a good mention: {code} {answer.text}")
            time.sleep(wait)
        return None

    # -- staff: clicks on cards ---------------------------------------------------------------
    def cards(self) -> list[tuple[int, str, str]]:
        """(mention id, ts, channel) of every card in the accounts' channels."""
        return [(m["metadata"]["event_payload"]["mention_id"], m["ts"], channel)
                for channel in ACCOUNTS.values()
                for m in self.slack.messages(channel, include_replies=False)
                if (m.get("metadata") or {}).get("event_type") == "vigie_mention"]

    def _driver(self, rng: random.Random, client: httpx.Client) -> SlackDriver:
        replica = rng.choice(self.replicas)
        return SlackDriver(f"{replica.url}/slack/events", SIGNING_SECRET, fake=self.slack,
                           client=client)

    def _clicks(self, rng: random.Random) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                cards = self.cards()
                if cards:
                    self._prioritise(rng, client, *rng.choice(cards))
                self._stop.wait(rng.expovariate(self.click_rate))

    def _prioritise(self, rng: random.Random, client: httpx.Client, mention_id: int,
                    ts: str, channel: str) -> None:
        """Choose a new priority; click again until the card takes it."""
        current = self.tally.chosen.get(mention_id, "normal")
        value = rng.choice([p for p in PRIORITIES if p != current])
        for attempt in range(8):
            if attempt:
                with self.tally.lock:
                    self.tally.clicks_again += 1
            try:
                code = self._driver(rng, client).select(
                    CLICKER, "qualify.priority", value, message={"ts": ts},
                    channel_id=channel).status_code
            except httpx.TransportError:
                code = 0
            except ValueError:  # the card no longer shows the menu (Slack would not either)
                return
            self.tally.note("click", code)
            with self.tally.lock:
                self.tally.clicks += 1
            if code == 200 and self._eventually(lambda: self._priority(mention_id) == value):
                with self.tally.lock:
                    self.tally.chosen[mention_id] = value
                return
            time.sleep(0.5)

    def _priority(self, mention_id: int) -> str | None:
        with suppress(Exception), Session(self.engine) as session:
            found = session.get(Mention, mention_id)
            return str(found.priority) if found else None
        return None

    def _eventually(self, check: Callable[[], bool], patience: float = PATIENCE) -> bool:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.1)
        return False

    # -- staff: replies on Mastodon ---------------------------------------------------------
    def _replies(self, rng: random.Random) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                waiting = [c for c in self.cards() if c[0] not in self.tally.replies_sent]
                if waiting:
                    self._answer(rng, client, *rng.choice(waiting))
                self._stop.wait(rng.expovariate(self.click_rate / 2))

    def _modal(self, mention_id: int, seen: set[str]) -> dict[str, Any] | None:
        for view in self.slack.views_for(ANSWERER):
            if view.get("callback_id") == "reply_modal" and view["id"] not in seen and \
                    ModalState.load(view.get("private_metadata")).mention_id == mention_id:
                return view
        return None

    def _answer(self, rng: random.Random, client: httpx.Client, mention_id: int,
                ts: str, channel: str) -> None:
        """Reply → the modal → Submit; click and submit again as a person would."""
        seen = {v["id"] for v in self.slack.views_for(ANSWERER)}
        view = None
        for attempt in range(5):
            if attempt:
                with self.tally.lock:
                    self.tally.opens_again += 1
            try:
                self._driver(rng, client).click(ANSWERER, "reply.open",
                                                message={"ts": ts}, channel_id=channel)
            except httpx.TransportError:
                continue
            except ValueError:  # no Reply button any more (answered)
                return
            if self._eventually(lambda: self._modal(mention_id, seen) is not None):
                view = self._modal(mention_id, seen)
                break
        if view is None:
            return
        state = ModalState.load(view["private_metadata"])
        text = f"Merci pour votre question, réponse {mention_id} de la rédaction."
        for attempt in range(6):
            if attempt:
                with self.tally.lock:
                    self.tally.submits_again += 1
            try:
                answer = self._driver(rng, client).view_submission(
                    user_id=ANSWERER, view=view, values={state.text_block: {"reply.text": text}})
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            self.tally.note("submit", answer.status_code)
            if answer.status_code == 200:
                with self.tally.lock:
                    if answer.text.strip():  # errors shown in the modal: not sent
                        self.tally.replies_refused += 1
                    else:
                        self.tally.replies_sent.add(mention_id)
                return
            time.sleep(0.5)

    # -- an editor: approved posts due all along ---------------------------------------------
    def _posts_desk(self) -> Vigie:
        settings = make_settings(self.database_url, self.slack.base_url)
        settings = settings.model_copy(update={"vigie_config": self.config})
        from tests.support.newsroom import newsroom_environ

        # This process's own Vigie (the editor's desk) logs as a replica does: warnings,
        # one line for the database being away.
        configure_logs(level="WARNING", fmt="text")
        vigie = build(settings, load_config(self.config), clock=SystemClock(),
                      environ={**newsroom_environ(), **MASTODON_ENV})
        vigie.scheduler._scheduler.start(paused=True)  # jobs land in the shared store
        return vigie

    def _posts(self, rng: random.Random) -> None:
        index = itertools.count(1)
        while not self._stop.wait(rng.uniform(0.5, 1.5) * self.post_every):
            n = next(index)
            due = datetime.now(UTC) + timedelta(seconds=rng.uniform(2, 6))
            for _ in range(30):  # the database may be away: the editor tries again
                try:
                    self.post(f"Publication {self.prefix}-{n}", due)
                    break
                except Exception:
                    time.sleep(1)

    def post(self, text: str, due: datetime) -> int:
        assert self._vigie is not None
        desk = self._vigie.posts.desk
        post = desk.draft(AUTHOR, DraftIn(text=text, targets=TARGETS, publish_at=due))
        desk.approve(int(post.id or 0), EDITOR, via="button")
        with self.tally.lock:
            self.tally.posts[int(post.id or 0)] = due
        return int(post.id or 0)

    # -- recovery ---------------------------------------------------------------------------
    def caught_up(self, moment: float, due_by: datetime) -> bool:
        """Every mention accepted by `moment` has its card; every post due by `due_by`
        went out (no post left publishing)."""
        return not self.behind(moment, due_by)

    def behind(self, moment: float, due_by: datetime) -> str:
        """What is not yet done of the work accepted by `moment` and the posts due by
        `due_by` ("" when nothing): for the figures and for a person reading them."""
        wanted = self.tally.accepted_before(moment)
        with self.tally.lock:
            due = {p for p, at in self.tally.posts.items() if at <= due_by}
        try:
            with Session(self.engine) as session:
                carded = set(session.exec(select(Mention.external_id).where(
                    col(Mention.slack_ts).is_not(None))).all())
                posts = {p.id: str(p.state) for p in session.exec(
                    select(Post).where(col(Post.id).in_(due))).all()} if due else {}
        except Exception:  # the database is away: not caught up
            return "the database"
        missing = wanted - carded
        open_posts = {i: s for i, s in posts.items()
                      if s not in (PostState.PUBLISHED, PostState.FAILED)}
        parts = []
        if missing:
            parts.append(f"{len(missing)} cards")
        if open_posts:
            parts.append(f"posts {sorted(open_posts.items())[:3]}")
        return ", ".join(parts)


@dataclass
class Verdict:
    """The promises, checked once everything has settled."""

    mentions: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)
    carded_twice: dict[int, int] = field(default_factory=dict)
    uncarded: list[int] = field(default_factory=list)
    posts: int = 0
    post_states: Counter[str] = field(default_factory=Counter)
    posts_missing: dict[str, int] = field(default_factory=dict)
    posts_twice: dict[str, int] = field(default_factory=dict)
    replies: int = 0
    replies_twice: dict[str, int] = field(default_factory=dict)
    replies_missing: list[str] = field(default_factory=list)  # each described
    replies_by_hand: int = 0  # to mentions with no status to answer: rightly by hand
    reply_states: Counter[str] = field(default_factory=Counter)
    clicks_lost: list[int] = field(default_factory=list)

    @property
    def lost_count(self) -> int:
        return len(self.lost) + len(self.uncarded) + sum(self.posts_missing.values()) + \
            len(self.replies_missing) + len(self.clicks_lost)

    @property
    def duplicated_count(self) -> int:
        return sum(v - 1 for v in self.carded_twice.values()) + \
            sum(self.posts_twice.values()) + sum(v - 1 for v in self.replies_twice.values())

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} accepted mentions not stored: {self.lost[:5]}")
        if self.uncarded:
            found.append(f"{len(self.uncarded)} mentions without a card: {self.uncarded[:5]}")
        if self.carded_twice:
            found.append(f"cards posted twice: {self.carded_twice}")
        if any(self.posts_missing.values()):
            found.append(f"posts not published: {self.posts_missing}, {dict(self.post_states)}")
        if any(self.posts_twice.values()):
            found.append(f"posts published twice: {self.posts_twice}")
        if self.replies_twice:
            found.append(f"replies sent twice: {self.replies_twice}")
        if self.replies_missing:
            found.append(f"replies submitted, never sent: {self.replies_missing[:5]} "
                         f"(all replies: {dict(self.reply_states)})")
        if self.clicks_lost:
            found.append(f"priorities not as last chosen: {self.clicks_lost[:5]}")
        return found


def settle(desk: Desk, cap: float = 240.0) -> float:
    """Wait until every accepted mention has a card, every post is done, every reply is
    settled; the seconds it took."""
    started = time.monotonic()
    unsettled = ("queued", "sending", "unconfirmed")
    said = 0.0
    while time.monotonic() - started < cap:
        try:
            with Session(desk.engine) as session:
                replies = session.exec(select(Reply.state)).all()
                posts = session.exec(select(Post.state)).all()
            busy = Counter(str(s) for s in replies if str(s) in unsettled)
        except Exception:
            busy, posts = Counter({"database away": 1}), []
        if not busy and desk.caught_up(time.monotonic(), datetime.max.replace(tzinfo=UTC)):
            break
        if time.monotonic() - said > 10:
            said = time.monotonic()
            print(f"  settling: replies {dict(busy)}, posts {dict(Counter(map(str, posts)))}",
                  flush=True)
        time.sleep(0.5)
    return time.monotonic() - started


def wind_down(desk: Desk) -> tuple[float, Verdict, list[str]]:
    """Stop the load, let Vigie settle, judge: seconds it took to settle, the verdict, and
    the problems found (the verdict's and any server error the desk was answered)."""
    desk.stop()
    settled = settle(desk)
    found = verdict(desk)
    problems = found.problems()
    if desk.tally.server_errors():
        problems.append(f"server errors answered: {desk.tally.server_errors()}")
    return settled, found, problems


def verdict(desk: Desk) -> Verdict:
    tally, slack = desk.tally, desk.slack
    found = Verdict()
    with Session(desk.engine) as session:
        mentions = session.exec(select(Mention).order_by(col(Mention.id))).all()
        posts = session.exec(select(Post)).all()
        replies = session.exec(select(Reply)).all()
    by_external = {m.external_id: m for m in mentions}
    found.mentions, found.stored = len(tally.accepted), len(mentions)
    found.lost = sorted(set(tally.accepted) - set(by_external))
    cards = Counter(mention_id for mention_id, _, _ in desk.cards())
    found.uncarded = [int(m.id or 0) for m in mentions if cards[int(m.id or 0)] == 0]
    found.carded_twice = {k: v for k, v in cards.items() if v > 1}

    ours = set(tally.posts)
    found.posts = len(ours)
    found.post_states = Counter(str(p.state) for p in posts if p.id in ours)
    for channel in POST_CHANNELS:
        out = Counter(m["metadata"]["event_payload"]["post_id"] for m in slack.messages(channel)
                      if (m.get("metadata") or {}).get("event_type") == "vigie_post")
        found.posts_missing[channel] = len(ours - set(out))
        found.posts_twice[channel] = sum(v - 1 for v in out.values())
    texts = {p.text for p in posts if p.id in ours}
    on_mastodon = Counter(s["_text"] for s in desk.mastodon.posted
                          if not s.get("in_reply_to_id"))
    found.posts_missing["mastodon"] = sum(1 for t in texts if on_mastodon[t] == 0)
    found.posts_twice["mastodon"] = sum(v - 1 for t, v in on_mastodon.items() if t in texts)

    answers = Counter(str(s["in_reply_to_id"]) for s in desk.mastodon.posted
                      if s.get("in_reply_to_id"))
    found.replies = sum(answers.values())
    found.replies_twice = {k: v for k, v in answers.items() if v > 1}
    found.reply_states = Counter(str(r.state) for r in replies)
    found.replies_missing, found.replies_by_hand = unsent_replies(
        tally.replies_sent, {int(m.id or 0): m for m in mentions}, replies, answers)
    for mention_id, chosen in tally.chosen.items():
        mention = next((m for m in mentions if m.id == mention_id), None)
        if mention is None or str(mention.priority) != chosen:
            found.clicks_lost.append(mention_id)
    return found


def unsent_replies(submitted: set[int], mentions: dict[int, Mention],
                   replies: Sequence[Reply], answers: Counter[str]) -> tuple[list[str], int]:
    """The submitted replies that are not where they belong, each described, and how
    many were rightly recorded by hand. A mention of a Mastodon status is answered there;
    one with no status to answer (a probe's mention accepted as the database came back:
    the people answer every card) can only be answered by hand, and must be recorded so.
    A reply by hand to a mention Vigie could answer is missing, as is no reply at all."""
    missing, by_hand = [], 0
    for mention_id in sorted(submitted):
        mention = mentions.get(mention_id)
        states = sorted(str(r.state) for r in replies if r.mention_id == mention_id)
        if mention is None:
            missing.append(f"mention {mention_id}: not stored")
        elif mention.platform_ref:
            if answers[str(mention.platform_ref)] == 0:
                missing.append(f"mention {mention_id} ({mention.external_id}, Mastodon status "
                               f"{mention.platform_ref}): {states or 'no reply stored'}")
        elif str(ReplyState.BY_HAND) in states:
            by_hand += 1
        else:
            missing.append(f"mention {mention_id} ({mention.external_id}, no status to "
                           f"answer): {states or 'no reply stored'}, not by hand")
    return missing, by_hand


def logs(replicas: list[Replica]) -> list[str]:
    """Everything each replica process wrote, killed ones included; also saved beside
    the replicas (`<folder>/<name>.log`) for a person to read."""
    texts = []
    for replica in replicas:
        mine = [*replica.outputs, *([replica.process.output] if replica.process else [])]
        (replica.folder / f"{replica.name}.log").write_text("\n".join(mine), "utf-8")
        texts += mine
    return texts


def tracebacks(replicas: list[Replica]) -> tuple[int, str]:
    """How many tracebacks the replicas logged, and the first one."""
    texts = logs(replicas)
    if replicas:
        print(f"  logs: {replicas[0].folder}/*.log", flush=True)
    count = sum(text.count("Traceback") for text in texts)
    first = next((text[text.index("Traceback") - 300:text.index("Traceback") + 2500]
                  for text in texts if "Traceback" in text), "")
    return count, first


@contextmanager
def fakes() -> Iterator[tuple[FakeSlack, FakeMastodon]]:
    with FakeSlack() as slack, FakeMastodon(
            tokens={token: account.replace("-", "") for token, account
                    in zip(MASTODON_ENV.values(), ACCOUNTS, strict=True)}) as mastodon:
        yield slack, mastodon
