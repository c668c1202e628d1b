"""`vigie demo`: the real Vigie in a local newsroom workspace, in the browser.

One process runs the sandbox's Slack-compatible server (Web API for the bot, browser API
and web client for people), a local Mastodon-compatible instance, a local feed, and the
real bot in HTTP mode pointed at them, on a throw-away SQLite file in the data folder.
Sample mentions arrive by themselves through the real intake (signed webhook, feed,
Mastodon notifications); the demo's clock can be moved forward to see scheduled work run.
What the workspace shows is kept in the data folder too, so a restart continues where
it was; `--reset` starts over.
"""

from __future__ import annotations

import html
import json
import logging
import os
import secrets
import shutil
import socket
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import uvicorn

from bot.platforms.webhook.receiver import sign
from bot.sandbox.api import Person, SandboxApi, SandboxHooks
from bot.sandbox.driver import SlackDriver
from bot.sandbox.feed import FeedServer, rss
from bot.sandbox.manifest import read_manifest
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger("vigie.sandbox")

MARKER: Final = "sandbox.json"  # what `--reset` looks for before deleting a folder
STATE_FILE: Final = MARKER
SLACK_FILE: Final = "workspace.json"
MASTODON_FILE: Final = "mastodon.json"
CONFIG_FILE: Final = "vigie.toml"
DATABASE_FILE: Final = "vigie.db"
SAMPLE: Final = Path(__file__).with_name("data") / "mentions.jsonl"
NEWSROOM: Final = Path(__file__).with_name("newsroom.toml")
FEED_PATH: Final = "/alertes.rss"
BURST_AT: Final = 6  # the seventh delivery is a burst…
BURST_SIZE: Final = 10  # …of this many mentions at once, through the webhook
SAVE_EVERY: Final = 2.0  # seconds between two saves of the workspace, when it changed
#: How a sample mention opens when the feeder delivers it again (a later round).
_REPEAT_OPENINGS: Final = {
    "fr": ("Je relaie : ", "Vu passer : ", "Re : ", "Je repartage : "),
    "en": ("Passing this on: ", "Seen this: ", "Re: ", "Sharing again: "),
}

#: The sandbox workspace's people: who the browser can be.
PEOPLE: Final = (
    Person("U0EDITOR", "camille", "Camille Martin",
           "Rédactrice en chef / Editor-in-chief"),
    Person("U0CM1", "lea", "Léa Dubois", "Community manager"),
    Person("U0CM2", "karim", "Karim Benali", "Community manager"),
    Person("U0JOURNO", "paul", "Paul Morel", "Journaliste / Journalist"),
)
#: (id, name): every person is in every channel, and so is the bot.
CHANNELS: Final = (
    ("C0MENTIONS", "mentions"),
    ("C0APPROVALS", "validations"),
    ("C0DEBAT", "grand-debat"),
    ("C0ANNONCES", "annonces"),
    ("C0REPORTS", "rapports"),
)


class DemoClock:
    """The wall clock plus an offset a person moves forward (`POST /sandbox/api/clock`).

    Why: a draft planned for "demain 9h" must be seen going out without waiting a day.
    Every service reads this clock; the scheduler is told to run what fell due."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def sleep_until(self, when: datetime) -> None:
        wait = (when - self.now()).total_seconds()
        if wait > 0:
            time.sleep(wait)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()


@dataclass
class DemoOptions:
    data_dir: Path = Path(".vigie-demo")
    port: int = 3100  # 0: any free port
    host: str = "127.0.0.1"
    reset: bool = False
    locale: str = "fr"
    feed_every: float = 25.0  # seconds between two sample mentions (0: no feeder)
    first_after: float = 3.0  # seconds before the first one
    suggestions: bool = True  # the sentence model's hints, when installed
    trigger_ttl: float = 3.0  # Slack's: a modal must open within 3 s of the click


@dataclass
class _State:
    """What the demo keeps between runs, beside the database and the workspace."""

    bot_token: str
    signing_secret: str
    webhook_secret: str
    mastodon_token: str
    clock_offset_seconds: float = 0.0
    fed: int = 0  # sample mentions delivered so far
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def new(cls) -> _State:
        return cls(bot_token="xoxb-sandbox-" + secrets.token_hex(12),
                   signing_secret=secrets.token_hex(16),
                   webhook_secret=secrets.token_urlsafe(24),
                   mastodon_token="sandbox-" + secrets.token_urlsafe(16))


class Demo:
    """Everything `vigie demo` runs, started and stopped together."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.state = _State.new()
        self.clock = DemoClock()
        self.slack: FakeSlack | None = None
        self.mastodon: FakeMastodon | None = None
        self.feed: FeedServer | None = None
        self.vigie: Vigie | None = None
        self.api: SandboxApi | None = None
        self.bot_url = ""
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=15)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._state_lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._feed_items: list[dict[str, str]] = []
        self._sample = _load_sample()

    # ------------------------------------------------------------------ life cycle

    @property
    def url(self) -> str:
        assert self.slack is not None, "the demo is not started"
        host = "127.0.0.1" if self.options.host in ("0.0.0.0", "") else self.options.host
        return f"http://{host}:{self.slack.port}/"

    def start(self) -> Demo:
        self._prepare_folder()
        self.clock = DemoClock(timedelta(seconds=self.state.clock_offset_seconds))
        self.slack = self._start_slack()
        self.mastodon = self._start_mastodon()
        self.feed = FeedServer().__enter__()
        self._feed_items = self._saved_feed()
        self.feed.serve(FEED_PATH, rss(self._feed_items, title="Revue de presse"))
        self.vigie = self._start_vigie()
        self.bot_url = self._serve_bot(self.vigie)
        commands, shortcuts = read_manifest()
        driver = SlackDriver(f"{self.bot_url}/slack/events", self.state.signing_secret,
                             fake=self.slack, team_id=self.slack.team_id, record=False)
        self.api = SandboxApi(
            slack=self.slack, driver=driver, people=list(PEOPLE), commands=commands,
            shortcuts=shortcuts, locale=self.options.locale, mastodon=self.mastodon,
            hooks=SandboxHooks(paste_mention=self.paste_mention,
                               advance_clock=self.advance_clock, now=self.clock.now))
        self.api.install()
        self._spawn(self._save_loop, "sandbox-save")
        if self.options.feed_every > 0:
            self._spawn(self._feed_loop, "sandbox-feeder")
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        if self._server is not None:
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(15)
        if self.vigie is not None:
            self.vigie.stop()
        self._save()
        for server in (self.slack, self.mastodon):
            if server is not None:
                server.stop()
        if self.feed is not None:
            self.feed.__exit__()
        self._http.close()

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _prepare_folder(self) -> None:
        folder = self.data_dir
        if self.options.reset and folder.exists():
            if not (folder / MARKER).is_file() and any(folder.iterdir()):
                raise SystemExit(f"{folder} is not a sandbox folder (no {MARKER}): "
                                 "not deleting it")
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for partial in folder.glob("*.partial"):  # a save cut short: its old file stands
            partial.unlink(missing_ok=True)
        saved = folder / STATE_FILE
        if saved.is_file():
            self.state = _State(**json.loads(saved.read_text(encoding="utf-8")))
        self._write_state()

    def _write_state(self) -> None:
        with self._state_lock:
            self.state.clock_offset_seconds = self.clock.offset.total_seconds()
            data = json.dumps(vars(self.state), indent=2)
        _write_atomically(self.data_dir / STATE_FILE, data)

    # ------------------------------------------------------------------ the parts

    def _start_slack(self) -> FakeSlack:
        slack = FakeSlack(token=self.state.bot_token, team_name="Radio Exemple",
                          team_domain="radio-exemple", bot_name="vigie",
                          accept_any_channel=False, accept_any_user=False,
                          trigger_ttl=self.options.trigger_ttl, port=self.options.port,
                          host=self.options.host)
        everyone = [p.id for p in PEOPLE]
        for person in PEOPLE:
            slack.add_user(person.id, person.name, real_name=person.real_name,
                           locale="fr-FR" if self.options.locale == "fr" else "en-US",
                           is_admin=person.id == "U0EDITOR")
        for channel_id, name in CHANNELS:
            slack.add_channel(channel_id, name)
            slack.set_channel_members(channel_id, [*everyone, slack.bot_user_id])
        saved = self.data_dir / SLACK_FILE
        if saved.is_file():
            try:
                slack.restore(json.loads(saved.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("the saved workspace could not be read (%s): starting empty", exc)
        return slack.start()

    def _start_mastodon(self) -> FakeMastodon:
        mastodon = FakeMastodon(tokens={self.state.mastodon_token: "matinale"},
                                first_id=110_000_000_000_000_000
                                + int(time.time() * 1000) * 1000)
        saved = self.data_dir / MASTODON_FILE
        if saved.is_file():
            try:
                mastodon.restore(json.loads(saved.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("the saved Mastodon instance could not be read (%s): starting "
                            "empty", exc)
        return mastodon.start()

    def _newsroom(self) -> Path:
        assert self.mastodon is not None and self.feed is not None
        text = string.Template(NEWSROOM.read_text(encoding="utf-8")).substitute(
            locale=self.options.locale, feed_url=self.feed.url(FEED_PATH),
            mastodon_url=self.mastodon.url,
            suggestions="true" if self.options.suggestions else "false")
        path = self.data_dir / CONFIG_FILE
        _write_atomically(path, text)
        return path

    def _start_vigie(self) -> Vigie:
        from bot.app import build
        from bot.config import load_config
        from bot.settings import Settings
        from bot.store import at_head, make_engine, upgrade

        assert self.slack is not None
        config_path = self._newsroom()
        settings = Settings(
            slack_bot_token=self.state.bot_token,  # type: ignore[arg-type]
            slack_signing_secret=self.state.signing_secret,  # type: ignore[arg-type]
            slack_api_url=self.slack.base_url,
            database_url=f"sqlite:///{self.data_dir / DATABASE_FILE}",
            vigie_config=config_path,
            vigie_locale=self.options.locale,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        engine = make_engine(settings.database_url)
        if not at_head(engine):
            upgrade(engine)
        environ = {"VIGIE_SANDBOX_WEBHOOK_SECRET": self.state.webhook_secret,
                   "VIGIE_SANDBOX_MASTODON_TOKEN": self.state.mastodon_token}
        vigie = build(settings, load_config(config_path), clock=self.clock, engine=engine,
                      environ=environ, embedder="installed" if self.options.suggestions
                      else None)
        vigie.start_background()
        return vigie

    def _serve_bot(self, vigie: Vigie) -> str:
        from bot.web import create_web_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        config = uvicorn.Config(create_web_app(vigie), lifespan="off", log_level="warning",
                                log_config=None)
        self._server = uvicorn.Server(config)
        self._server_thread = threading.Thread(target=self._server.run,
                                               kwargs={"sockets": [sock]}, daemon=True,
                                               name="sandbox-bot")
        self._server_thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._server_thread.is_alive():
                raise RuntimeError("Vigie's HTTP server did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{port}"

    # ------------------------------------------------------------------ hooks

    def advance_clock(self, minutes: float) -> datetime:
        """Move the demo's clock, then run at once what fell due on it."""
        now = self.clock.advance(timedelta(minutes=minutes))
        self._write_state()
        if self.vigie is not None:
            self.vigie.scheduler.run_due(now)
        return now

    def paste_mention(self, body: dict[str, Any]) -> dict[str, Any]:
        """"Paste a mention": through the signed webhook, as a monitoring tool would, or
        (`via`) as a Mastodon notification or a feed entry, read at once by the source."""
        via = str(body.get("via") or "webhook")
        if via in ("mastodon", "rss"):
            return self._paste_polled(via, body)
        if via != "webhook":
            from bot.sandbox.api import ApiError

            raise ApiError(400, "invalid_via", "via: webhook, mastodon or rss")
        author = str(body.get("author") or "").strip() or "@lecteur@pouet.example"
        mention: dict[str, Any] = {
            "external_id": f"collage-{uuid.uuid4().hex[:12]}",
            "text": str(body["text"]),
            "author": {"handle": author},
            "created_at": self.clock.now().isoformat(),
            "platform": str(body.get("platform") or "web"),
        }
        if body.get("account"):
            mention["account"] = str(body["account"])
        answer = self._webhook("collage", mention)
        data = answer.json() if answer.content else {}
        if answer.status_code >= 400:
            from bot.sandbox.api import ApiError

            raise ApiError(422 if answer.status_code == 422 else 502, "intake_refused",
                           f"Vigie refused the mention (HTTP {answer.status_code}): "
                           f"{data.get('details') or data.get('error') or ''}")
        return {"id": data.get("id"), "duplicate": bool(data.get("duplicate")),
                "channel": data.get("channel")}

    def _paste_polled(self, via: str, body: dict[str, Any]) -> dict[str, Any]:
        text = str(body["text"])
        author = str(body.get("author") or "").strip()
        item = {"id": f"collage-{uuid.uuid4().hex[:12]}", "account": "matinale",
                "platform": "mastodon" if via == "mastodon" else "web", "text": text,
                "lang": str(body.get("lang") or body.get("language") or "fr"),
                "author": {"handle": author or ("@lecteur@pouet.example" if via == "mastodon"
                                                else "blog.example"),
                           "name": str(body.get("name") or "")}}
        self.deliver(item)
        source_id = "masto-matinale" if via == "mastodon" else "alertes"
        assert self.vigie is not None and self.vigie.listen is not None
        source = self.vigie.listen.catalog.source(source_id)
        poller = self.vigie.listen.poller
        if source is None or poller is None:
            return {"via": via, "stored": 0}
        result = poller.poll(source)  # the source's own read, now rather than in 10 s
        return {"via": via, "stored": result.stored, "duplicate": result.stored == 0,
                "error": result.error}

    def _webhook(self, source: str, mention: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(mention, ensure_ascii=False).encode("utf-8")
        sent_at = int(self.clock.now().timestamp())  # the bot checks it on its own clock
        return self._http.post(
            f"{self.bot_url}/ingest/{source}", content=raw,
            headers={"Content-Type": "application/json", "X-Vigie-Timestamp": str(sent_at),
                     "X-Vigie-Signature": sign(self.state.webhook_secret, sent_at, raw)})

    # ------------------------------------------------------------------ the feeder

    def _feed_loop(self) -> None:
        """Sample mentions arrive by themselves, through the three intakes, with one
        burst; once the sample is used up it starts again, each mention a new one (new
        id, its text lightly reworded), so a desk left open keeps working like a real one.
        """
        if self._stop.wait(self.options.first_after):
            return
        while not self._stop.is_set() and self._sample:
            try:
                if self.state.fed == BURST_AT:
                    for n in range(BURST_AT, BURST_AT + BURST_SIZE):
                        self._webhook("veille", self._webhook_body(self.sample_item(n)))
                    self._fed(BURST_SIZE)
                else:
                    self.deliver(self.sample_item(self.state.fed))
                    self._fed(1)
            except httpx.HTTPError as exc:  # the bot is stopping or busy: try again later
                log.info("sample mention not delivered yet: %s", exc)
            if self._stop.wait(self.options.feed_every):
                return

    def sample_item(self, n: int) -> dict[str, Any]:
        """The ``n``-th mention the feeder delivers: the sample in order, then again with
        new ids and a reworded opening on each later round."""
        item = self._sample[n % len(self._sample)]
        round_ = n // len(self._sample)
        if round_ == 0:
            return item
        openings = _REPEAT_OPENINGS["en" if item.get("lang") == "en" else "fr"]
        opening = openings[(round_ + n) % len(openings)]
        return {**item, "id": f"{item['id']}-r{round_}", "text": opening + str(item["text"])}

    def _fed(self, count: int) -> None:
        with self._state_lock:
            self.state.fed += count
        self._write_state()

    def deliver(self, item: dict[str, Any]) -> str:
        """One sample mention through the intake its platform would use; which one."""
        assert self.mastodon is not None and self.feed is not None
        handle = str(item["author"]["handle"])
        if item["platform"] == "mastodon" and item["account"] == "matinale":
            user, _, domain = handle.lstrip("@").partition("@")
            self.mastodon.mention("matinale", by=user, by_domain=domain or None,
                                  text=html.escape(str(item["text"])),
                                  language=str(item["lang"]))
            return "mastodon"
        if item["platform"] == "web":
            self._feed_items.insert(0, {
                "title": html.escape(str(item["text"])[:90]),
                "link": f"https://{handle}/{item['id']}",
                "guid": f"urn:sandbox:{item['id']}",
                "pubDate": format_datetime(self.clock.now(), usegmt=True),
                "description": html.escape(str(item["text"])),
                "author": f"redaction@{handle} ({html.escape(str(item['author']['name']))})",
            })
            self.feed.serve(FEED_PATH, rss(self._feed_items, title="Revue de presse"))
            _write_atomically(self.data_dir / "feed.json", json.dumps(self._feed_items))
            return "rss"
        self._webhook("veille", self._webhook_body(item))
        return "webhook"

    def _webhook_body(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"external_id": f"sample-{item['id']}", "text": item["text"],
                "author": {"handle": item["author"]["handle"],
                           "name": item["author"].get("name") or ""},
                "created_at": self.clock.now().isoformat(), "language": item["lang"],
                "account": item["account"], "platform": item["platform"],
                "url": _sample_url(item)}

    def _saved_feed(self) -> list[dict[str, str]]:
        saved = self.data_dir / "feed.json"
        if saved.is_file():
            try:
                loaded = json.loads(saved.read_text(encoding="utf-8"))
                return [dict(i) for i in loaded]
            except ValueError:
                pass
        return []

    # ------------------------------------------------------------------ saving

    def _save_loop(self) -> None:
        """Save what changed at most every SAVE_EVERY seconds, off the request path: many
        changes in between make one save."""
        saved: tuple[int, int] = (-1, -1)
        while not self._stop.wait(SAVE_EVERY):
            if self.slack is not None and self.mastodon is not None:
                now = (self.slack.cursor, len(self.mastodon.requests))
                if now != saved:
                    saved = now
                    self._save()

    def _save(self) -> None:
        if self.slack is None or self.mastodon is None:
            return
        with self._save_lock:
            try:
                _write_atomically(self.data_dir / SLACK_FILE, self.slack.dump())
                _write_atomically(self.data_dir / MASTODON_FILE,
                                  json.dumps(self.mastodon.snapshot()))
                self._write_state()
            except OSError as exc:
                log.warning("the workspace could not be saved: %s", exc)


def _load_sample() -> list[dict[str, Any]]:
    with SAMPLE.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _sample_url(item: dict[str, Any]) -> str:
    handle = str(item["author"]["handle"]).lstrip("@")
    if item["platform"] == "bluesky":
        return f"https://bsky.app/profile/{handle}/post/{item['id']}"
    user, _, domain = handle.partition("@")
    if item["platform"] == "mastodon" and domain:
        return f"https://{domain}/@{user}/{item['id']}"
    return f"https://{handle}/{item['id']}"


def _write_atomically(path: Path, text: str) -> None:
    """The new file whole or the old one: written aside, flushed to disk, then renamed
    over it, so a crash (or a full disk) mid-save leaves the last good copy."""
    partial = path.with_name(f"{path.name}.{threading.get_ident()}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    except OSError:
        pass
    finally:
        os.close(folder)


def open_browser(url: str) -> bool:
    """Open the page when there is a display to open it on; False otherwise."""
    import os
    import sys
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


__all__ = ["CHANNELS", "PEOPLE", "Demo", "DemoClock", "DemoOptions", "open_browser"]
