"""Chaos on Slack and on the platforms, under a steady stream of work (issue 17).

The real Vigie (HTTP edge, relay, scheduler, its SQLite or PostgreSQL database) serves a
desk that keeps working: mentions arrive on the webhook and from Mastodon and Bluesky,
staff qualify them, take them and answer them from their cards, authors draft posts that
an editor approves with ✅, some at once, some scheduled a few seconds ahead, to Slack
channels, Mastodon and Bluesky. Meanwhile:

* **Slack misbehaves** (phase 1): a share of every Web API call meets a fault drawn from a
  seeded generator (`FakeSlack.chaos`): 429 with Retry-After, 500/503 before or after the
  call was carried out, an answer past the client's timeout after the message was posted,
  a connection reset before or after, a slow answer (2 s). Slack also enforces its posting
  rate (one message a second per channel, short bursts).
* **The platforms misbehave** (phase 2): before each reply or post to Mastodon or Bluesky,
  a fault drawn from the same generator is armed on the call that sends it: 5xx, 5xx after
  the status was made, an answer past Vigie's timeout after it was made, 429 with
  Retry-After, the Bluesky session's access tokens expiring.
* **Every other platform adapter misbehaves** (phase 3): comments on the Facebook Page,
  on the Instagram account's media and replies under the Threads profile's posts (pushed
  by Meta's signed webhook), mentions on X and comments on YouTube (polled) are answered
  from their cards, and posts are approved to the Page, Instagram, Threads and X; a fault
  in the platform's own shape is armed on the call that makes each reply or post: 5xx
  with nothing done, 5xx after it was made, an answer past Vigie's timeout after it was
  made, a rate limit (Meta's 80001/80002 with the usage headers, X's 429 with its
  window, Google's rateLimitExceeded; none on Threads, see `arm_platform_fault`), the
  token expiring (Meta's 190/463, X's 401, YouTube's access tokens). Instagram publishes
  in two steps (a container, then `media_publish`): its fault lands on either step, so a
  container made and never published, and a publication whose answer was lost, are both
  played.

Then the faults stop, Vigie is given time to settle (waiting on conditions), and the
promises are checked against what Slack and the platforms hold: every mention received
has exactly one card; every approved post went out once per target (or is marked
unconfirmed on its preview, never twice); every reply went out once or is marked
unconfirmed on its card, never twice; no DM or thread note was sent twice; Slack's
per-channel posting rate was never exceeded.

    python -m campaign.chaos                 # a few minutes
    python -m campaign.chaos --quick         # tens of seconds (CI)
    python -m campaign.chaos --seed 1234     # replay the choices of a failing run
    python -m campaign.chaos --database-url postgresql+psycopg://postgres@127.0.0.1/empty_db

The seed fixes every choice the campaign makes (texts, clicks, targets, which fault and
where); which call a fault lands on still depends on the threads' timing, so a rerun
replays the same storm, not the same interleaving. Exit status 1 when a promise broke.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlmodel import Session, col, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.app import build  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import Account, Config, PostTarget, Source  # noqa: E402
from bot.mentions.models import Mention, RelayState  # noqa: E402
from bot.posts.models import DeliveryState, Post, PostDelivery, PostState  # noqa: E402
from bot.replies.messages import ModalState  # noqa: E402
from bot.replies.models import Reply, ReplyState  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.mastodon import FakeMastodon  # noqa: E402
from bot.sandbox.slack import CHAOS_KINDS, SLACK_POSTING_RATE, FakeSlack  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402
from tests.support.bluesky_server import FakeBluesky  # noqa: E402
from tests.support.facebook import (  # noqa: E402
    APP_SECRET as META_APP_SECRET,
)
from tests.support.facebook import (  # noqa: E402
    FACEBOOK_ENV,
    PAGE_TOKEN,
    with_facebook,
)
from tests.support.facebook import SOURCE_ID as FACEBOOK_SOURCE  # noqa: E402
from tests.support.facebook import TARGET_ID as FACEBOOK_TARGET  # noqa: E402
from tests.support.graph_server import FakeGraph  # noqa: E402
from tests.support.harness import RunningVigie  # noqa: E402
from tests.support.instagram import IMAGE as INSTAGRAM_IMAGE  # noqa: E402
from tests.support.instagram import SOURCE_ID as INSTAGRAM_SOURCE  # noqa: E402
from tests.support.instagram import TARGET_ID as INSTAGRAM_TARGET  # noqa: E402
from tests.support.instagram import TOKEN as INSTAGRAM_TOKEN  # noqa: E402
from tests.support.instagram import USERNAME as INSTAGRAM_USERNAME  # noqa: E402
from tests.support.instagram import instagram_env, with_instagram  # noqa: E402
from tests.support.meta_webhooks import Meta, instagram, page_comment, threads  # noqa: E402
from tests.support.newsroom import (  # noqa: E402
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    make_settings,
    newsroom,
    newsroom_environ,
)
from tests.support.threads import SOURCE_ID as THREADS_SOURCE  # noqa: E402
from tests.support.threads import TARGET_ID as THREADS_TARGET  # noqa: E402
from tests.support.threads import TOKEN as THREADS_TOKEN  # noqa: E402
from tests.support.threads import threads_env, with_threads  # noqa: E402
from tests.support.x import SOURCE_ID as X_SOURCE  # noqa: E402
from tests.support.x import TARGET_ID as X_TARGET  # noqa: E402
from tests.support.x import X_ENV, with_x  # noqa: E402
from tests.support.x_server import FakeX  # noqa: E402
from tests.support.youtube import CHANNEL as YOUTUBE_CHANNEL  # noqa: E402
from tests.support.youtube import SOURCE_ID as YOUTUBE_SOURCE  # noqa: E402
from tests.support.youtube import VIDEO as YOUTUBE_VIDEO  # noqa: E402
from tests.support.youtube import YOUTUBE_ENV, with_youtube  # noqa: E402
from tests.support.youtube_server import FakeYouTube  # noqa: E402

T = TypeVar("T")

STAFF = ("U0STAFF1", "U0STAFF2")
EDITOR = "U0EDITOR"
APPROVALS = "C0APPROVALS"
MASTODON_TOKEN_ENV, BLUESKY_PASSWORD_ENV = "VIGIE_TEST_MASTODON_TOKEN", "VIGIE_TEST_BSKY_PASSWORD"
SPORT = "sporttalk.bsky.social"
SLACK_TARGETS = {"annonces": "C0ANNONCES", "breves": "C0BREVES"}
CARD_EVENT, POST_EVENT, PREVIEW_EVENT = "vigie_mention", "vigie_post", "vigie_post_preview"
OUTBOX_EVENT = "vigie_outbox"
PLATFORM_FAULTS = ("error_5xx", "error_after_made", "timeout_after_made", "ratelimited",
                   "auth_expired")
SLACK_TIMEOUT = 3  # seconds: the Web API client's timeout during the campaign
PLATFORM_TIMEOUT = 1.0
TEXTS = (
    "Le son coupe sans arrêt ce matin sur {n}",
    "Bravo pour la chronique de {n}, on en redemande",
    "Pourquoi la matinale n'est plus en podcast ? ({n})",
    "Great interview this morning, thanks! #{n}",
    "Mon avocat va vous écrire au sujet de {n}",
    "airdrop crypto gratuit {n} cliquez",
    "Le jingle pub de 7h28 est deux fois plus fort (<b>{n}</b> & <!channel>)",
)


# -- the world: fakes and the running bot -------------------------------------------------------
@dataclass
class Figures:
    """What the run did and saw: the table printed at the end."""

    seed: int
    slack_faults: Counter[str] = field(default_factory=Counter)
    platform_faults: Counter[str] = field(default_factory=Counter)
    mentions: int = 0
    clicks: int = 0
    posts: int = 0
    deliveries: int = 0
    replies: int = 0
    retries_by_hand: int = 0
    late_previews: int = 0
    digested: int = 0
    replies_by_platform: Counter[str] = field(default_factory=Counter)
    # How each delivery and reply ended, by target or platform ("matinale-instagram
    # published", "instagram reply unconfirmed"): where the unconfirmed ones were.
    outcomes: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unconfirmed: int = 0
    breaches: int = 0
    stuck: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, count: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + count)


@dataclass(frozen=True)
class Plan:
    mentions: int
    replies: int
    posts: int
    workers: int
    slack_rate: float
    preview_wait: float  # seconds a story waits for its preview before calling it late
    # Phase 3, for each of PHASE3_PLATFORMS: mentions answered from their cards, and
    # posts approved to the platform (now and then with a Slack channel beside it).
    other_replies: int = 0
    other_posts: int = 0


QUICK = Plan(mentions=5, replies=3, posts=3, workers=4, slack_rate=0.12, preview_wait=20,
             other_replies=2, other_posts=1)
FULL = Plan(mentions=60, replies=16, posts=20, workers=6, slack_rate=0.12, preview_wait=45,
            other_replies=8, other_posts=6)
PHASE3_PLATFORMS = ("facebook", "instagram", "threads", "x", "youtube")  # YouTube: replies
PHASE3_ACCOUNTS = {"facebook": ("page-matinale", "Page La Matinale", "C0FACEBOOK"),
                   "instagram": ("insta-matinale", "La Matinale (Instagram)", "C0INSTAGRAM"),
                   "threads": ("threads-debat", "Le Grand Débat (Threads)", "C0THREADS"),
                   "x": ("x-matinale", "La Matinale (X)", "C0XMATINALE"),
                   "youtube": ("yt-debat", "Le Grand Débat (YouTube)", "C0YOUTUBE")}


class World:
    """The fakes, the running Vigie and a signed driver, for one campaign run."""

    def __init__(self, database_url: str, plan: Plan, figures: Figures) -> None:
        self.plan, self.figures = plan, figures
        self.slack = FakeSlack(channel_rate_limit=SLACK_POSTING_RATE).start()
        self.mastodon = FakeMastodon(tokens={"token-matinale": "matinale"}).start()
        self.bluesky = FakeBluesky(accounts={SPORT: "app-pass-sport"}).start()
        self.graph = FakeGraph().start()
        self.page = self.graph.add_page("La Matinale", token=PAGE_TOKEN)
        self.insta = self.graph.add_ig_user(INSTAGRAM_USERNAME, token=INSTAGRAM_TOKEN)
        self.profile = self.graph.add_threads_user("grandebat", token=THREADS_TOKEN)
        self.fan = self.graph.add_threads_user("kev_59", token="fan-token")
        self.x = FakeX().start()
        self.youtube = FakeYouTube().start()
        self.youtube.add_channel(YOUTUBE_CHANNEL, title="Le Grand Débat")
        self.youtube.add_video(YOUTUBE_VIDEO, YOUTUBE_CHANNEL)
        for user, name in ((STAFF[0], "marie"), (STAFF[1], "paul"), (EDITOR, "eve")):
            self.slack.add_user(user, name, real_name=name.capitalize())
        config = _newsroom(self.mastodon, self.bluesky)
        # Phase 3's accounts have channels of their own: phases 1 and 2 set off the
        # bad-buzz calm in the others' (held mentions get a digest, no card to answer).
        config = config.model_copy(update={"accounts": [*config.accounts, *(
            Account(id=account, name=name, channel=channel)
            for account, name, channel in PHASE3_ACCOUNTS.values())]})
        config = with_facebook(config, self.graph.url, self.page,
                               account=PHASE3_ACCOUNTS["facebook"][0])
        config = with_instagram(config, self.graph.url, self.insta,
                                account=PHASE3_ACCOUNTS["instagram"][0])
        config = with_threads(config, self.graph.threads_url, self.profile,
                              account=PHASE3_ACCOUNTS["threads"][0])
        config = with_youtube(config, self.youtube.url, account=PHASE3_ACCOUNTS["youtube"][0])
        self.config = with_x(config, self.x.url, target=True,
                             account=PHASE3_ACCOUNTS["x"][0])
        environ = {**newsroom_environ(), MASTODON_TOKEN_ENV: "token-matinale",
                   BLUESKY_PASSWORD_ENV: "app-pass-sport", **FACEBOOK_ENV, **X_ENV,
                   **YOUTUBE_ENV,
                   **instagram_env(META_APP_SECRET, FACEBOOK_ENV["VIGIE_TEST_META_VERIFY"]),
                   **threads_env(META_APP_SECRET, FACEBOOK_ENV["VIGIE_TEST_META_VERIFY"])}
        engine = make_engine(database_url)
        upgrade(engine)
        self.vigie = RunningVigie(build(
            make_settings(database_url, self.slack.base_url), self.config, engine=engine,
            clock=SystemClock(), environ=environ, slack_timeout=SLACK_TIMEOUT,
            platform_timeout=PLATFORM_TIMEOUT, embedder=None)).start()
        self.engine = self.vigie.vigie.engine
        self.http = httpx.Client(timeout=30)
        self._platform_lock = threading.Lock()  # one armed platform fault at a time

    def close(self) -> None:
        self.slack.chaos(0)
        self.vigie.stop()
        self.http.close()
        for fake in (self.youtube, self.x, self.graph, self.bluesky, self.mastodon,
                     self.slack):
            fake.stop()

    @contextmanager
    def driver(self) -> Iterator[SlackDriver]:
        """A signed driver of one desk member's own (drivers are not shared by threads)."""
        signed = SlackDriver(f"{self.vigie.url}/slack/events", SIGNING_SECRET, fake=self.slack)
        try:
            yield signed
        finally:
            signed.close()

    def rows(self, model: type[T], *where: Any) -> list[T]:
        with Session(self.engine) as session:
            query = select(model).where(*where) if where else select(model)
            return list(session.exec(query.order_by(col(model.id))))  # type: ignore[attr-defined]

    def mention(self, mention_id: int) -> Mention | None:
        with Session(self.engine) as session:
            return session.get(Mention, mention_id)


def _newsroom(mastodon: FakeMastodon, bluesky: FakeBluesky) -> Config:
    """The test newsroom, with a Mastodon and a Bluesky account to read and publish to."""
    config = newsroom()
    sources = [
        Source.model_validate({"id": "masto-matinale", "type": "mastodon", "account": "matinale",
                               "instance": mastodon.url, "token_env": MASTODON_TOKEN_ENV,
                               "interval": 3600}),
        Source.model_validate({"id": "bsky-sport", "type": "bluesky", "handle": SPORT,
                               "password_env": BLUESKY_PASSWORD_ENV, "service": bluesky.url,
                               "account": "sport-talk", "interval": 3600}),
    ]
    targets = [*config.posts.targets,
               PostTarget(id="sport-bluesky", kind="bluesky", name="Sport Talk",
                          account="sport-talk")]
    return config.model_copy(update={
        "sources": [*config.sources, *sources],
        "posts": config.posts.model_copy(update={"targets": targets})})


class Stuck(Exception):
    """A step of a story did not happen in time (noted; the final checks judge)."""


def until(found: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
          ) -> T:
    """`found()` once it gives something; `Stuck` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = found()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Stuck(what)
        time.sleep(interval)


# -- platform faults -----------------------------------------------------------------------------
def arm_platform_fault(world: World, platform: str, rng: random.Random, *,
                       path: str = "") -> str:
    """Arm one fault on the next call that creates a status (Mastodon), a record
    (Bluesky) or, on the Graph, the call to `path` (a comment's `/comments`, the Page's
    `/feed`); returns its kind."""
    kind = rng.choice(PLATFORM_FAULTS)
    hang = PLATFORM_TIMEOUT + 1.5
    if platform == "threads" and kind == "ratelimited":
        # Threads tells a rate limit by X-App-Usage alone, without the minutes to regain
        # access: Vigie then waits ten minutes, longer than the campaign settles.
        kind = "error_5xx"
    if platform in ("facebook", "instagram", "threads", "x", "youtube"):
        if platform == "x":
            _arm_x_fault(world, kind, path, rng, hang)
        elif platform == "youtube":
            _arm_youtube_fault(world, kind, path, rng, hang)
        else:  # Meta's: a Page's rate limit is 80001, an Instagram account's 80002
            _arm_graph_fault(world, kind, path, rng, hang,
                             rate_code=80002 if platform == "instagram" else 80001)
        world.figures.platform_faults[f"{platform} {kind}"] += 1
        return kind
    if platform == "mastodon":
        fake: Any = world.mastodon
        prefix = "/api/v1/statuses"
        if kind == "auth_expired":
            kind = "error_5xx"  # Mastodon tokens do not expire; a 5xx instead
    else:
        fake = world.bluesky
        prefix = "com.atproto.repo.createRecord"
    if kind == "error_5xx":
        fake.fail_next(prefix, status=rng.choice((500, 502, 503)))
    elif kind == "error_after_made":
        fake.fail_next(prefix, status=rng.choice((502, 504)), created=True)
    elif kind == "timeout_after_made":
        fake.hang_next(prefix, hang)
    elif kind == "ratelimited":
        fake.fail_next(prefix, status=429, retry_after=1)
    else:
        world.bluesky.expire_access_tokens()
    world.figures.platform_faults[f"{platform} {kind}"] += 1
    return kind


def _arm_graph_fault(world: World, kind: str, path: str, rng: random.Random,
                     hang: float, *, rate_code: int) -> None:
    """The same kinds in Meta's shapes: code 1/2 transient errors, a Page's or an
    Instagram account's rate limit (`rate_code` 80001 / 80002, the usage headers at 100 %
    and a minute to regain access), the token's session expired (190/463) for that
    call."""
    graph = world.graph
    if kind == "error_5xx":
        graph.fail_next(path, status=rng.choice((500, 503)), code=rng.choice((1, 2)))
    elif kind == "error_after_made":
        graph.fail_next(path, status=rng.choice((500, 502, 504)), code=2, created=True)
    elif kind == "timeout_after_made":
        graph.hang_next(path, hang)
    elif kind == "ratelimited":
        graph.fail_next(path, status=403, code=rate_code)
    else:
        graph.fail_next(path, status=400, code=190)


def _arm_x_fault(world: World, kind: str, path: str, rng: random.Random, hang: float
                 ) -> None:
    """The same kinds as X answers them on `POST /2/tweets`: 500/503 with nothing done,
    500/502/504 after the post was made, 429 with the endpoint's window spent (its
    `x-rate-limit-reset` two seconds ahead), 401 (the account's token refused once)."""
    x = world.x
    if kind == "error_5xx":
        x.fail_next(path, status=rng.choice((500, 503)))
    elif kind == "error_after_made":
        x.fail_next(path, status=rng.choice((500, 502, 504)), created=True)
    elif kind == "timeout_after_made":
        x.hang_next(path, hang)
    elif kind == "ratelimited":
        x.limit("POST /2/tweets", remaining=0, reset_in=2)
    else:
        x.fail_next(path, status=401)


def _arm_youtube_fault(world: World, kind: str, path: str, rng: random.Random,
                       hang: float) -> None:
    """The same kinds as Google answers them on `comments.insert`: 503 backendError with
    nothing done, 500/502/504 after the comment was made, an answer past Vigie's timeout
    after it was made, 403 rateLimitExceeded, and the access tokens expiring (Vigie's
    OAuth client gets a 401 and refreshes)."""
    youtube = world.youtube
    if kind == "error_5xx":
        youtube.fail_next(path, status=503, reason="backendError")
    elif kind == "error_after_made":
        youtube.fail_next(path, status=rng.choice((500, 502, 504)), reason="backendError",
                          created=True)
    elif kind == "timeout_after_made":
        youtube.hang_next(path, hang)
    elif kind == "ratelimited":
        youtube.fail_next(path, status=403, reason="rateLimitExceeded")
    else:
        youtube.expire_tokens()


# -- the stories -------------------------------------------------------------------------------
def webhook_mention(world: World, index: int, rng: random.Random) -> None:
    """A mention on the webhook (sent again by the integrator until accepted), then staff
    qualify and take it from its card."""
    text = rng.choice(TEXTS).format(n=f"#{world.figures.seed}-{index}")
    language = "en" if "Great" in text else "fr"
    body = json.dumps({
        "external_id": f"chaos-{world.figures.seed}-{index}", "text": text,
        "author": {"handle": f"@fan{index}@pouet.example", "name": f"Fan {index}"},
        "created_at": datetime.now(UTC).isoformat(), "language": language,
        "account": rng.choice(("matinale", "grand-debat", "radio-musique", "sport-talk")),
        "platform": "mastodon", "url": f"https://pouet.example/@fan{index}/{index}",
    }).encode()
    mention_id = _deliver(world, body)
    world.figures.add("mentions")
    mention = until(lambda: _with_card(world, mention_id), 90, f"card of mention {mention_id}")
    if not mention.slack_ts:
        return  # held in a spike's digests: no card to click on
    with world.driver() as driver:
        for _ in range(rng.randint(1, 3)):
            _qualify_click(world, driver, mention, rng)


def _with_card(world: World, mention_id: int) -> Mention | None:
    """The mention once carded, or held in a spike (then it gets a digest, no card)."""
    found = world.mention(mention_id)
    return found if found is not None and (found.slack_ts or
                                           found.relay_state == RelayState.HELD) else None


def _deliver(world: World, body: bytes) -> int:
    """POST the mention signed, again after a 5xx or a dropped connection, as the README
    asks integrators to."""
    from bot.platforms.webhook.receiver import sign

    for _attempt in range(20):
        sent_at = int(time.time())
        try:
            response = world.http.post(
                f"{world.vigie.url}/ingest/monitoring", content=body,
                headers={"Content-Type": "application/json",
                         "X-Vigie-Timestamp": str(sent_at),
                         "X-Vigie-Signature": sign(WEBHOOK_SECRET, sent_at, body)})
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        if response.status_code in (200, 201):
            return int(response.json()["id"])
        if response.status_code < 500 and response.status_code != 429:
            raise AssertionError(f"mention refused: {response.status_code} {response.text}")
        time.sleep(float(response.headers.get("Retry-After", "0.5")))
    raise Stuck("the webhook never accepted a mention")


def _qualify_click(world: World, driver: SlackDriver, mention: Mention,
                   rng: random.Random) -> None:
    """One click on the card as Slack shows it now (a button the bot removed cannot be
    clicked: skipped, as a person would)."""
    user = rng.choice(STAFF)
    card = {"ts": mention.slack_ts}
    try:
        if rng.random() < 0.6:
            response = driver.select(user, "qualify.priority",
                                     rng.choice(("low", "normal", "high", "urgent")),
                                     message=card, channel_id=mention.slack_channel)
        else:
            response = driver.click(user, "qualify.take", message=card,
                                    channel_id=mention.slack_channel)
    except ValueError:
        return
    assert response.status_code == 200, response.text
    world.figures.add("clicks")
    time.sleep(rng.uniform(0.05, 0.3))  # a person's pace between two clicks


def platform_reply(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """A mention on Mastodon or Bluesky, polled; a staff member answers it from its card
    (Reply → template → Send), and clicks Retry when the card says it failed."""
    platform = rng.choice(("mastodon", "bluesky"))
    text = f"Merci pour l'émission {world.figures.seed}-{index}"
    if platform == "mastodon":
        status = world.mastodon.mention("matinale", by=f"fan{index}", text=text)
        ref, source = str(status["id"]), "masto-matinale"
    else:
        post = world.bluesky.mention(SPORT, by=f"fan{index}.bsky.social", text=text)
        ref, source = str(post["uri"]), "bsky-sport"
    world.figures.add("mentions")
    mention = until(lambda: _polled(world, source, ref), 90, f"card of {platform} {ref}")
    _answer_from_card(world, mention, platform, index, rng, faulty=faulty)


def facebook_reply(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """A comment under one of the Page's posts, pushed by Meta's signed webhook (sent
    again while Vigie does not answer 200, as Meta does); answered from its card."""
    post = world.graph.add_post(world.page, f"Ce matin ({index}) : la ministre de la Culture")
    text = f"Merci pour l'émission {world.figures.seed}-{index}"
    comment = world.graph.add_comment(post, text, author=(f"1{index:05d}", f"Fan {index}"))
    delivery = page_comment(world.page, comment_id=comment, post_id=post, message=text,
                            author=(f"1{index:05d}", f"Fan {index}"))
    meta = Meta(f"{world.vigie.url}/webhooks/facebook", META_APP_SECRET)
    answers = meta.deliver(delivery, attempts=5)
    assert answers[-1] == 200, f"Meta's delivery refused: {answers}"
    world.figures.add("mentions")
    mention = until(lambda: _polled(world, FACEBOOK_SOURCE, f"facebook:{comment}"), 90,
                    f"card of Facebook comment {comment}")
    _answer_from_card(world, mention, "facebook", index, rng, faulty=faulty,
                      path=f"/{comment}/comments")


def instagram_reply(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """A comment under one of the account's media, pushed by Meta's signed webhook;
    answered from its card (the fault on `/{comment}/replies`, where the reply is made)."""
    graph = world.graph
    media = graph.add_ig_media(world.insta, f"Ce matin ({index}) dans La Matinale")
    text = f"C'est quand le replay ? {world.figures.seed}-{index}"
    comment = graph.add_ig_comment(media, text, username=f"fan_{index}",
                                   user_id=f"9{index:05d}")
    value = {"id": comment, "text": text,
             "from": {"id": f"9{index:05d}", "username": f"fan_{index}"},
             "media": {"id": media, "media_product_type": "FEED"}}
    meta = Meta(f"{world.vigie.url}/webhooks/instagram", META_APP_SECRET)
    answers = meta.deliver(instagram(world.insta, "comments", value), attempts=5)
    assert answers[-1] == 200, f"Meta's delivery refused: {answers}"
    world.figures.add("mentions")
    mention = until(lambda: _polled(world, INSTAGRAM_SOURCE, f"instagram:{comment}"), 90,
                    f"card of Instagram comment {comment}")
    _answer_from_card(world, mention, "instagram", index, rng, faulty=faulty,
                      path=f"/{comment}/replies")


def threads_reply(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """A reply under one of the profile's Threads posts, pushed by Meta's signed webhook;
    answered from its card (the fault on `threads_publish`, where the reply is made)."""
    graph = world.graph
    ours = graph.add_threads_post(world.profile, f"Ce soir ({index}) dans Le Grand Débat")
    text = f"Vous l'expliquez quand ? {world.figures.seed}-{index}"
    reply = graph.add_threads_post(world.fan, text, reply_to=ours)
    meta = Meta(f"{world.vigie.url}/webhooks/threads", META_APP_SECRET)
    answers = meta.deliver(threads(world.profile, "replies", graph.threads_webhook_value(reply)),
                           attempts=5)
    assert answers[-1] == 200, f"Meta's delivery refused: {answers}"
    world.figures.add("mentions")
    mention = until(lambda: _polled(world, THREADS_SOURCE, f"threads:{reply}"), 90,
                    f"card of Threads reply {reply}")
    _answer_from_card(world, mention, "threads", index, rng, faulty=faulty,
                      path=f"/{world.profile}/threads_publish")


def youtube_reply(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """A comment under the channel's video, polled; answered from its card."""
    comment = world.youtube.comment(
        YOUTUBE_VIDEO, f"Le débat d'hier était passionnant {world.figures.seed}-{index}",
        by=f"Fan{index}")
    world.figures.add("mentions")

    def polled() -> Mention | None:
        _youtube_due_now(world)
        return _polled(world, YOUTUBE_SOURCE, str(comment["id"]))

    mention = until(polled, 90, f"card of YouTube comment {comment['id']}", interval=0.5)
    _answer_from_card(world, mention, "youtube", index, rng, faulty=faulty,
                      path="comments.insert")


def _youtube_due_now(world: World) -> None:
    """YouTube's streams are read at their own pace to spare the day's quota (15 minutes
    at the fastest here): the campaign moves their next read to now, as if that time had
    passed, rather than wait."""
    from bot.listen.models import SourceState
    from bot.platforms.youtube.listen import read_cursor, write_cursor

    with Session(world.engine) as session:
        state = session.get(SourceState, YOUTUBE_SOURCE)
        if state is None or not state.cursor:
            return
        streams = read_cursor(state.cursor)
        for stream in streams.values():
            stream.due = 0
        state.cursor = write_cursor(streams)
        session.add(state)
        session.commit()


def x_reply(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """A mention of @matinale on X, polled; answered from its card."""
    post = world.x.mention("matinale", by=f"fan{index}",
                           text=f"@matinale merci pour l'émission {world.figures.seed}-{index}")
    world.figures.add("mentions")
    mention = until(lambda: _polled(world, X_SOURCE, str(post["id"])), 90,
                    f"card of X post {post['id']}")
    _answer_from_card(world, mention, "x", index, rng, faulty=faulty, path="/2/tweets")


def _answer_from_card(world: World, mention: Mention, platform: str, index: int,
                      rng: random.Random, *, faulty: bool, path: str = "") -> None:
    """Reply → template → Send on the card (a fault armed on the call that sends it),
    and Retry when the card says it failed."""
    assert mention.id is not None
    if not mention.slack_ts:
        return  # held in a spike's digests: no card to answer from
    user = rng.choice(STAFF)
    with world.driver() as driver:
        view = _reply_form(world, driver, user, mention)
        world.figures.add("clicks")
        text_block = ModalState.load(view["private_metadata"]).text_block
        values = {text_block: {"reply.text": f"Merci à vous ! ({index})"}}
        if faulty:
            with world._platform_lock:
                arm_platform_fault(world, platform, rng, path=path)
                _submit_reply(world, driver, user, view, values, mention.id)
        else:
            _submit_reply(world, driver, user, view, values, mention.id)
        world.figures.add("replies")
        with world.figures.lock:
            world.figures.replies_by_platform[platform] += 1
        reply = until(lambda: _reply_settled(world, mention.id or 0), 60,
                      f"reply to mention {mention.id}")
        if reply.state == ReplyState.FAILED:
            _retry_reply(world, driver, user, mention)


def _polled(world: World, source_id: str, ref: str) -> Mention | None:
    poller = world.vigie.vigie.listen.poller if world.vigie.vigie.listen else None
    found = world.rows(Mention, Mention.source_id == source_id, Mention.external_id == ref)
    if not found and poller is not None:
        source = next(s for s in world.config.sources if s.id == source_id)
        poller.poll(source)
        found = world.rows(Mention, Mention.source_id == source_id, Mention.external_id == ref)
    return found[0] if found and (found[0].slack_ts or
                                  found[0].relay_state == RelayState.HELD) else None


def _reply_form(world: World, driver: SlackDriver, user: str, mention: Mention
                ) -> dict[str, Any]:
    """Click Reply until the modal is there (Slack may have lost `views.open`: a person
    clicks again)."""
    for _attempt in range(6):
        before = {v["id"] for v in world.slack.views_for(user)}
        try:
            response = driver.click(user, "reply.open", message={"ts": mention.slack_ts},
                                    channel_id=mention.slack_channel)
        except ValueError:
            time.sleep(1)  # the card is being redrawn
            continue
        assert response.status_code == 200, response.text
        try:
            return until(lambda before=before: next(  # type: ignore[misc]
                (v for v in world.slack.views_for(user)
                 if v["id"] not in before and v["callback_id"] == "reply_modal"
                 and ModalState.load(v["private_metadata"] or None).mention_id == mention.id
                 and any(str(b.get("block_id", "")).startswith("text-") for b in v["blocks"])),
                None), SLACK_TIMEOUT * 3 + 5, "reply modal")
        except Stuck:
            continue
    raise Stuck(f"the reply modal of mention {mention.id} never opened")


def _submit_reply(world: World, driver: SlackDriver, user: str, view: dict[str, Any],
                  values: dict[str, Any], mention_id: int | None) -> None:
    response = driver.view_submission(user_id=user, view=view, values=values)
    assert response.status_code == 200, response.text
    world.figures.add("clicks")
    until(lambda: world.rows(Reply, Reply.mention_id == mention_id), 30,
          f"reply stored for mention {mention_id}")


def _reply_settled(world: World, mention_id: int) -> Reply | None:
    """The reply once tried: settled, or queued again after a failure (the sweep sends
    it again by itself)."""
    replies = world.rows(Reply, Reply.mention_id == mention_id)
    last = replies[-1] if replies else None
    done = (ReplyState.SENT, ReplyState.FAILED, ReplyState.UNCONFIRMED, ReplyState.BY_HAND)
    if last is None:
        return None
    return last if last.state in done or (last.state == ReplyState.QUEUED and last.error) \
        else None


def _retry_reply(world: World, driver: SlackDriver, user: str, mention: Mention) -> None:
    """The card says the reply failed: Retry, as a person would (once the card shows it)."""
    for _attempt in range(10):
        try:
            response = driver.click(user, "reply.retry", message={"ts": mention.slack_ts},
                                    channel_id=mention.slack_channel)
        except ValueError:
            time.sleep(0.5)  # the card does not show Retry yet
            continue
        assert response.status_code == 200, response.text
        world.figures.add("clicks")
        world.figures.add("retries_by_hand")
        return


def post_story(world: World, index: int, rng: random.Random, *, faulty: bool) -> None:
    """/draft → the modal → submitted (at once or a few seconds ahead) to 1–3 targets →
    an editor's ✅ on the preview."""
    targets = rng.sample(("annonces", "breves", "matinale-mastodon", "sport-bluesky"),
                         rng.randint(1, 3))
    _post_to(world, index, rng, targets, faulty=faulty)


def other_post_story(world: World, index: int, rng: random.Random, *, faulty: bool,
                     target: str) -> None:
    """A post to `target` (the Page, the X account), now and then with a Slack channel
    beside it."""
    targets = [target, *(["breves"] if rng.random() < 0.4 else [])]
    _post_to(world, index, rng, targets, faulty=faulty)


def _post_to(world: World, index: int, rng: random.Random, targets: list[str], *,
             faulty: bool) -> None:
    text = f"Chaos {world.figures.seed}-{index} : ce soir 20h, le grand débat"
    if INSTAGRAM_TARGET in targets:
        text += f" {INSTAGRAM_IMAGE}"  # Instagram publishes a picture, with the text below
    ahead = rng.uniform(4, 10) if rng.random() < 0.5 else None
    author = f"U0CM{index:05d}"  # each story its own author: a modal is told apart by its user
    with world.driver() as driver:
        view = _draft_modal(world, driver, author)
        values: dict[str, dict[str, Any]] = {"targets": {"value": targets}}
        if ahead is not None:  # from when the modal is there (a slow Slack takes a while)
            at = datetime.now(UTC) + timedelta(seconds=ahead)
            values["when_picker"] = {"value": at.replace(microsecond=0)}
        values[json.loads(view["private_metadata"])["text_block"]] = {"value": text}
        response = driver.view_submission(user_id=author, view=view, values=values)
        assert response.status_code == 200 and not response.text.strip("{}"), response.text
        world.figures.add("clicks")
        post = until(lambda: next(iter(world.rows(Post, Post.text == text)), None), 30,
                     f"post {index} stored")
        world.figures.add("posts")
        world.figures.add("deliveries", len(targets))
        try:
            preview = until(lambda: _preview(world, post.id or 0), world.plan.preview_wait,
                            f"preview of post {post.id}")
        except Stuck:
            # Slack gave no answer and the preview is not there: Vigie waits out Slack's
            # window (2 min) before posting it, never twice. The checks judge it.
            world.figures.add("late_previews")
            return
        platforms = [t for t in targets if t in ("matinale-mastodon", "sport-bluesky",
                                                 FACEBOOK_TARGET, THREADS_TARGET,
                                                 X_TARGET, INSTAGRAM_TARGET)]
        if faulty and platforms:
            with world._platform_lock:
                if platforms[0] == FACEBOOK_TARGET:
                    arm_platform_fault(world, "facebook", rng, path=f"/{world.page}/feed")
                elif platforms[0] == INSTAGRAM_TARGET:
                    # Step one (the container: made, then never published) or step two
                    # (`media_publish`: the post made, its answer lost).
                    step = rng.choice(("media", "media_publish"))
                    arm_platform_fault(world, "instagram", rng,
                                       path=f"/{world.insta}/{step}")
                elif platforms[0] == THREADS_TARGET:
                    arm_platform_fault(world, "threads", rng,
                                       path=f"/{world.profile}/threads_publish")
                elif platforms[0] == X_TARGET:
                    arm_platform_fault(world, "x", rng, path="/2/tweets")
                else:
                    arm_platform_fault(world, "mastodon" if platforms[0].startswith(
                        "matinale") else "bluesky", rng)
                _approve(world, driver, preview)
                until(lambda: _post_left_approval(world, post.id or 0), 60,
                      f"post {post.id} sent")
        else:
            _approve(world, driver, preview)


def _draft_modal(world: World, driver: SlackDriver, author: str) -> dict[str, Any]:
    for _attempt in range(6):
        before = {v["id"] for v in world.slack.views_for(author)}
        response = driver.command("/draft", "", user_id=author, channel_id="C0GENERAL")
        assert response.status_code == 200, f"/draft: HTTP {response.status_code}"
        try:
            return until(lambda before=before: next(  # type: ignore[misc]
                (v for v in world.slack.views_for(author) if v["id"] not in before), None),
                SLACK_TIMEOUT * 3 + 5, "draft modal")
        except Stuck:
            continue
    raise Stuck("the /draft modal never opened")


def _preview(world: World, post_id: int) -> dict[str, Any] | None:
    return next((m for m in world.slack.messages(APPROVALS, include_replies=False)
                 if (m.get("metadata") or {}).get("event_type") == PREVIEW_EVENT
                 and m["metadata"]["event_payload"].get("post_id") == post_id), None)


def _approve(world: World, driver: SlackDriver, preview: dict[str, Any]) -> None:
    response = driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, preview["ts"])
    assert response.status_code == 200, response.text
    world.figures.add("clicks")


def _post_left_approval(world: World, post_id: int) -> bool:
    with Session(world.engine) as session:
        post = session.get(Post, post_id)
        return post is not None and post.state not in (PostState.PENDING, PostState.APPROVED)


# -- the run -------------------------------------------------------------------------------------
def run_phase(world: World, plan: Plan, rng: random.Random, *, first: int, faulty_platforms: bool,
              kinds: list[str] | None = None) -> None:
    """Run the stories of one phase on `plan.workers` threads, each with its own seeded
    generator (drawn from `rng` in a fixed order)."""
    if kinds is None:
        kinds = ["mention"] * plan.mentions + ["reply"] * plan.replies + ["post"] * plan.posts
    rng.shuffle(kinds)
    stories = [(kind, first + n, random.Random(rng.getrandbits(64)))
               for n, kind in enumerate(kinds, 1)]
    with ThreadPoolExecutor(plan.workers, thread_name_prefix="desk") as pool:
        futures = []
        for kind, index, own in stories:
            futures.append(pool.submit(_noting_stuck, world, kind, index, own, faulty_platforms))
            time.sleep(rng.uniform(0.05, 0.25))  # a steady stream, not one burst
        for future in futures:
            future.result()


def _noting_stuck(world: World, kind: str, index: int, rng: random.Random,
                  faulty: bool) -> None:
    try:
        if kind == "mention":
            webhook_mention(world, index, rng)
        elif kind == "reply":
            platform_reply(world, index, rng, faulty=faulty)
        elif kind == "facebook_reply":
            facebook_reply(world, index, rng, faulty=faulty)
        elif kind == "threads_reply":
            threads_reply(world, index, rng, faulty=faulty)
        elif kind == "instagram_reply":
            instagram_reply(world, index, rng, faulty=faulty)
        elif kind == "instagram_post":
            other_post_story(world, index, rng, faulty=faulty, target=INSTAGRAM_TARGET)
        elif kind == "threads_post":
            other_post_story(world, index, rng, faulty=faulty, target=THREADS_TARGET)
        elif kind == "youtube_reply":
            youtube_reply(world, index, rng, faulty=faulty)
        elif kind == "x_reply":
            x_reply(world, index, rng, faulty=faulty)
        elif kind == "facebook_post":
            other_post_story(world, index, rng, faulty=faulty, target=FACEBOOK_TARGET)
        elif kind == "x_post":
            other_post_story(world, index, rng, faulty=faulty, target=X_TARGET)
        else:
            post_story(world, index, rng, faulty=faulty)
    except Stuck as stuck:
        with world.figures.lock:
            world.figures.stuck.append(str(stuck))
    except AssertionError as failed:  # Vigie answered what Slack or a user would not accept
        with world.figures.lock:
            world.figures.failed.append(f"{kind} {index}: {failed}")


def settle(world: World, timeout: float) -> None:
    """Faults off: wait until nothing is in flight any more (cards relayed, posts and
    replies past sending, looks for unconfirmed ones done or given up)."""
    waiting: list[str] = []

    vigie = world.vigie.vigie
    last_sweep = [0.0]

    def quiet() -> bool:
        waiting[:] = unsettled(world)
        if waiting and time.monotonic() - last_sweep[0] > 5:
            # What the scheduler does every minute, every 5 s: the looks for unconfirmed
            # posts and replies come due 10 s, 30 s, 1 min… after sending.
            last_sweep[0] = time.monotonic()
            vigie.replies.desk.sweep()
            vigie.posts.publishing.sweep()
        return not waiting

    try:
        until(quiet, timeout, "settling", interval=0.5)
    except Stuck:
        world.figures.stuck.append(f"not settled after {timeout:.0f} s: {'; '.join(waiting)}")


def unsettled(world: World) -> list[str]:
    """What Vigie is still sending. A post or reply marked unconfirmed is an end state for
    the checks (published once or marked unconfirmed, never twice), whose looks may go on
    for the platform's window (minutes)."""
    now = datetime.now(UTC)
    posts = {p.id: p for p in world.rows(Post)}
    waiting = [f"mention {m.id} without a card" for m in world.rows(Mention)
               if not m.slack_ts and m.relay_state != RelayState.HELD]
    waiting += [f"mention {m.id} held, not in a digest yet" for m in world.rows(Mention)
                if m.relay_state == RelayState.HELD and not m.digest_id]
    waiting += [f"reply {r.id} {r.state}" for r in world.rows(Reply)
                if r.state in (ReplyState.QUEUED, ReplyState.SENDING)]
    waiting += [f"post {p.id} {p.state}" for p in posts.values()
                if p.state == PostState.APPROVED
                and (p.publish_at is None or p.publish_at < now - timedelta(seconds=30))]
    waiting += [f"delivery {d.id} of post {d.post_id} {d.state}"
                for d in world.rows(PostDelivery)
                if posts[d.post_id].state == PostState.PUBLISHING
                and d.state in (DeliveryState.QUEUED, DeliveryState.SENDING)]
    return waiting


def _post_state(posts: list[Post], post_id: int) -> PostState | None:
    return next((PostState(p.state) for p in posts if p.id == post_id), None)


# -- the checks ----------------------------------------------------------------------------------
def check(world: World) -> None:
    """Compare what Vigie recorded with what Slack and the platforms hold."""
    figures = world.figures
    slack = world.slack
    channels = slack.channel_ids()
    cards: Counter[int] = Counter()
    outbox: Counter[int] = Counter()  # digests (and alerts) by outbox row
    for channel in channels:
        for message in slack.messages(channel):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == CARD_EVENT and \
                    message.get("thread_ts", message["ts"]) == message["ts"]:
                cards[int(metadata["event_payload"]["mention_id"])] += 1
            elif metadata.get("event_type") == OUTBOX_EVENT:
                outbox[int(metadata["event_payload"]["outbox_id"])] += 1
    for mention in world.rows(Mention):
        count = cards.get(mention.id or 0, 0)
        if mention.relay_state == RelayState.HELD:
            # Held in a spike (a bad-buzz day): listed in exactly one digest, no card.
            figures.digested += 1
            listed = outbox.get(mention.digest_id or 0, 0) if mention.digest_id else 0
            if count or listed > 1:
                figures.duplicated.append(f"mention {mention.id}: held, {count} cards, "
                                          f"{listed} digests")
            elif listed == 0:
                figures.lost.append(f"mention {mention.id}: held, in no digest")
        elif count == 0:
            figures.lost.append(f"mention {mention.id}: no card")
        elif count > 1:
            figures.duplicated.append(f"mention {mention.id}: {count} cards")
    _check_posts(world)
    _check_replies(world)
    _check_notes(world, channels)
    figures.breaches = sum(slack.ratelimited_channels.values())


def _check_posts(world: World) -> None:
    figures = world.figures
    sent: dict[tuple[int, str], int] = Counter()
    for target, channel in SLACK_TARGETS.items():
        for message in world.slack.messages(channel, include_replies=False):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == POST_EVENT:
                sent[(int(metadata["event_payload"]["post_id"]), target)] += 1
    posts = {p.id: p for p in world.rows(Post)}
    for status in world.mastodon.posted:
        post = next((p for p in posts.values() if p.text in status.get("_text", "")), None)
        if post is not None and post.id is not None:
            sent[(post.id, "matinale-mastodon")] += 1
    for record in world.bluesky.created:
        text = record.get("record", {}).get("text", "")
        post = next((p for p in posts.values() if p.text == text), None)
        if post is not None and post.id is not None:
            sent[(post.id, "sport-bluesky")] += 1
    for made in world.graph.children("fb_post", _page=world.page, _posted=True):
        post = next((p for p in posts.values() if p.text == made.get("message")), None)
        if post is not None and post.id is not None:
            sent[(post.id, FACEBOOK_TARGET)] += 1
    for made in world.graph.children("ig_media", _owner=world.insta, _posted=True):
        post = next((p for p in posts.values() if p.text == made.get("caption")), None)
        if post is not None and post.id is not None:
            sent[(post.id, INSTAGRAM_TARGET)] += 1
    for made in world.graph.children("th_media", _owner=world.profile, _reply_to=None,
                                      _posted=True):
        post = next((p for p in posts.values() if p.text == made.get("text")), None)
        if post is not None and post.id is not None:
            sent[(post.id, THREADS_TARGET)] += 1
    for made in world.x.posts_by("matinale"):
        post = next((p for p in posts.values() if p.text == made.get("text")), None)
        if post is not None and post.id is not None and not made.get("referenced_tweets"):
            sent[(post.id, X_TARGET)] += 1
    for delivery in world.rows(PostDelivery):
        count = sent.get((delivery.post_id, delivery.target_id), 0)
        name = f"post {delivery.post_id} → {delivery.target_id} ({delivery.state})"
        figures.outcomes[f"{delivery.target_id} {delivery.state}"] += 1
        if count > 1:
            figures.duplicated.append(f"{name}: {count} times")
        elif delivery.state == DeliveryState.PUBLISHED and count == 0:
            figures.lost.append(f"{name}: recorded published, not there")
        elif delivery.state == DeliveryState.FAILED and count == 1:
            figures.lost.append(f"{name}: recorded failed, but it went out")
        elif delivery.state == DeliveryState.UNCONFIRMED:
            figures.unconfirmed += 1
    previews: Counter[int] = Counter()
    for message in world.slack.messages(APPROVALS, include_replies=False):
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == PREVIEW_EVENT:
            previews[int(metadata["event_payload"]["post_id"])] += 1
    window = datetime.now(UTC) - timedelta(minutes=2, seconds=30)
    for post in posts.values():
        approved = any(r.get("name") == "white_check_mark" and EDITOR in r.get("users", [])
                       for m in world.slack.messages(APPROVALS, include_replies=False)
                       if m["ts"] == post.preview_ts for r in m.get("reactions", []))
        if previews[post.id or 0] > 1:
            figures.duplicated.append(f"post {post.id}: {previews[post.id or 0]} previews")
        elif previews[post.id or 0] == 0 and not (
                post.preview_claimed_at and post.preview_claimed_at > window):
            figures.lost.append(f"post {post.id}: no preview")
        if approved and post.state == PostState.PENDING:
            figures.lost.append(f"post {post.id}: approved by ✅ but still pending")


def _check_replies(world: World) -> None:
    figures = world.figures
    mentions = {m.id: m for m in world.rows(Mention)}
    for reply in world.rows(Reply):
        mention = mentions[reply.mention_id]
        if mention.platform == "mastodon" and mention.source_id == "masto-matinale":
            count = sum(1 for s in world.mastodon.posted
                        if str(s.get("in_reply_to_id")) == mention.external_id)
        elif mention.source_id == FACEBOOK_SOURCE:
            count = sum(1 for c in world.graph.children("fb_comment",
                                                        _parent=mention.platform_ref)
                        if c["from"]["id"] == world.page)
        elif mention.source_id == INSTAGRAM_SOURCE:
            count = sum(1 for c in world.graph.children("ig_comment",
                                                        parent_id=mention.platform_ref)
                        if c["username"] == INSTAGRAM_USERNAME)
        elif mention.source_id == THREADS_SOURCE:
            count = sum(1 for made in world.graph.children(
                "th_media", _reply_to=mention.platform_ref, _owner=world.profile))
        elif mention.source_id == YOUTUBE_SOURCE:
            count = sum(1 for made in world.youtube.replies_to(
                mention.root_ref or mention.platform_ref or "")
                if made["snippet"]["authorChannelId"]["value"] == YOUTUBE_CHANNEL)
        elif mention.source_id == X_SOURCE:
            count = sum(1 for made in world.x.posts_by("matinale")
                        if {"type": "replied_to", "id": mention.platform_ref}
                        in (made.get("referenced_tweets") or []))
        elif mention.source_id == "bsky-sport":
            count = sum(1 for r in world.bluesky.created
                        if (r.get("record", {}).get("reply") or {}).get("parent", {})
                        .get("uri") == mention.external_id)
        else:
            continue
        name = f"reply {reply.id} to mention {mention.id} ({reply.state})"
        figures.outcomes[f"{mention.platform} reply {reply.state}"] += 1
        if count > 1:
            figures.duplicated.append(f"{name}: {count} times")
        elif reply.state == ReplyState.SENT and count == 0:
            figures.lost.append(f"{name}: recorded sent, not there")
        elif reply.state == ReplyState.FAILED and count == 1:
            figures.lost.append(f"{name}: recorded failed, but it went out")
        elif reply.state == ReplyState.UNCONFIRMED:
            figures.unconfirmed += 1


def _check_notes(world: World, channels: list[str]) -> None:
    """No DM and no thread note twice: the same text twice in a DM or in one thread."""
    for channel in channels:
        seen: Counter[tuple[str | None, str]] = Counter()
        for message in world.slack.messages(channel):
            thread = message.get("thread_ts")
            if message.get("user") != world.slack.bot_user_id:
                continue
            if channel.startswith("D") or (thread and thread != message["ts"]):
                seen[(thread, message.get("text", ""))] += 1
        for (thread, text), count in seen.items():
            if count > 1:
                where = f"DM {channel}" if channel.startswith("D") else f"thread {thread}"
                world.figures.duplicated.append(f"{where}: {count}× {text[:80]!r}")


# -- main ----------------------------------------------------------------------------------------
def campaign(plan: Plan, seed: int, database_url: str | None, log: Path, *,
             settle_for: float) -> Figures:
    figures = Figures(seed=seed)
    rng = random.Random(seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        world = World(database_url or f"sqlite:///{tmp}/chaos.db", plan, figures)
        # After the migrations (Alembic's logging setup replaces the handlers).
        logging.basicConfig(filename=log, filemode="w", level=logging.INFO, force=True,
                            format="%(asctime)s %(threadName)s %(name)s %(levelname)s "
                                   "%(message)s")
        try:
            # Phase 1: Slack misbehaves; the platforms behave.
            world.slack.chaos(plan.slack_rate, seed=random.Random(rng.getrandbits(64)),
                              slow_seconds=2.0, hang_seconds=SLACK_TIMEOUT + 1.5)
            run_phase(world, plan, rng, first=0, faulty_platforms=False)
            world.slack.chaos(0)
            # Phase 2: the platforms misbehave; Slack only keeps its posting rate.
            run_phase(world, plan, rng, first=1000, faulty_platforms=True)
            # Phase 3: Facebook, Instagram, Threads (faults in Meta's shapes), X and
            # YouTube misbehave.
            run_phase(world, plan, rng, first=2000, faulty_platforms=True, kinds=[
                kind for platform in PHASE3_PLATFORMS
                for kind in [f"{platform}_reply"] * plan.other_replies
                + [f"{platform}_post"] * (plan.other_posts if platform != "youtube" else 0)])
            settle(world, settle_for)
            check(world)
        finally:
            figures.slack_faults = Counter(world.slack.chaos_played)
            world.close()
    figures.seconds = time.monotonic() - started
    return figures


def table(figures: Figures) -> str:
    slack = ", ".join(f"{k} {figures.slack_faults.get(k, 0)}" for k in CHAOS_KINDS)
    platform = ", ".join(f"{k} {v}" for k, v in sorted(figures.platform_faults.items()))
    rows = [
        ("seed", str(figures.seed)),
        ("duration", f"{figures.seconds:.0f} s"),
        ("Slack faults injected", f"{sum(figures.slack_faults.values())} ({slack})"),
        ("platform faults injected", f"{sum(figures.platform_faults.values())} ({platform})"),
        ("mentions (held in a spike's digests)", f"{figures.mentions} ({figures.digested})"),
        ("clicks (qualify, take, reply, send, ✅, retry)", str(figures.clicks)),
        ("posts (deliveries)", f"{figures.posts} ({figures.deliveries})"),
        ("replies (by platform)", f"{figures.replies} (" + ", ".join(
            f"{k} {v}" for k, v in sorted(figures.replies_by_platform.items())) + ")"),
        ("retried by hand after a failure", str(figures.retries_by_hand)),
        ("previews held in Slack's window (late)", str(figures.late_previews)),
        ("marked unconfirmed (never twice)", str(figures.unconfirmed)),
        ("how deliveries and replies ended", ", ".join(
            f"{k} {v}" for k, v in sorted(figures.outcomes.items()))),
        ("lost", str(len(figures.lost))),
        ("duplicated", str(len(figures.duplicated))),
        ("Slack rate-limit breaches", str(figures.breaches)),
        ("stories stuck", str(len(figures.stuck))),
        ("answers refused (e.g. a 500 from Vigie)", str(len(figures.failed))),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    for label, items in (("LOST", figures.lost), ("DUPLICATED", figures.duplicated),
                         ("STUCK", figures.stuck), ("FAILED", figures.failed)):
        lines += [f"  {label}: {item}" for item in items]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tens of seconds (CI)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run's choices")
    parser.add_argument("--database-url", default=None,
                        help="an empty PostgreSQL database (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    plan = QUICK if args.quick else FULL
    log = Path(tempfile.gettempdir()) / f"vigie-chaos-{seed}.log"
    print(f"campaign.chaos seed {seed} ({'quick' if args.quick else 'full'}); "
          f"rerun with --seed {seed}; Vigie's log: {log}", flush=True)
    figures = campaign(plan, seed, args.database_url, log, settle_for=60 if args.quick else 150)
    print(table(figures))
    broken = (figures.lost or figures.duplicated or figures.breaches or figures.stuck
              or figures.failed)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
