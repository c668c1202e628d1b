"""Security checks of a running Vigie, each a promise an attacker would test.

    python -m campaign.security            # everything, printing the findings
    python -m campaign.security --quick    # the same, fewer template and fuzz rounds (CI)

1. Signatures, on every edge: a request replayed (Slack and the webhook: within their
   five minutes; Meta has no timestamp, so a replay is only neutralised by dedupe),
   stale, from the future, forged or unsigned stores nothing new and posts nothing.
2. Untrusted text (`HOSTILE`: `<!channel>`, `<@U…>`, `<https://evil|bank>`, `*bold*`,
   `=HYPERLINK(…)`…) arriving by the webhook and by Facebook is shown on the card,
   the App Home, the report and the CSV export without pinging anyone, hiding a link or
   running as a formula. A burst of it (a bad-buzz day) is checked the same way in the
   spike alert, its digests and the on-call editor's alert DM.
3. Secrets: every token and secret is given a distinctive value; after the whole run,
   no log record, HTTP answer or Slack message holds any of them.
4. Template sandbox escapes (reply templates saved from Slack, post template files):
   refused with a clear message, quickly.
5. Everyone who is neither staff nor an editor tries every action, view and slash
   command the Bolt app registers (enumerated from the app, not listed by hand): only
   the few meant for everyone may change anything.

A broken promise is a finding; the run exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import re
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from slack_bolt import App
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Alerts, Bursts
from bot.mentions.models import Mention
from bot.models import metadata
from bot.platforms.meta.webhook import SIGNATURE_HEADER
from bot.platforms.meta.webhook import signature as meta_signature
from bot.platforms.webhook.receiver import sign as sign_webhook
from bot.posts.models import DraftIn
from bot.posts.templates import PostTemplateError, PostTemplates
from bot.replies.templates import TemplateProblem
from bot.sandbox.driver import SlackDriver
from bot.sandbox.driver import sign as sign_slack
from bot.sandbox.slack import FakeSlack
from bot.settings import Settings
from campaign._report import Figures, summary, table
from tests.support.edge import Answer, Edge, recording_logs, tracebacks
from tests.support.fuzzing import meta_newsroom, meta_seeds
from tests.support.newsroom import FIXTURES, newsroom

STAFF, EDITOR, OUTSIDER = "U0STAFF1", "U0EDITOR", "U0OUTSIDER"
# Distinctive values for every secret Vigie is given: none may ever be seen again.
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-campaign-7f3a9c2e51d84b06",
    "SLACK_SIGNING_SECRET": "signing-campaign-4d1e8a7b9c2f",
    "VIGIE_TEST_WEBHOOK_SECRET": "webhook-campaign-b7c1d9e3f5a2",
    "VIGIE_TEST_ALERTS_SECRET": "alerts-campaign-e2f4a6b8c0d1",
    "VIGIE_FUZZ_META_SECRET": "meta-app-campaign-9a8b7c6d5e4f",
    "VIGIE_FUZZ_META_VERIFY": "verify-campaign-1a2b3c4d5e6f",
    "VIGIE_FUZZ_FB_TOKEN": "EAAG-fb-campaign-0f9e8d7c6b5a",
    "VIGIE_FUZZ_IG_TOKEN": "IGQV-ig-campaign-5a4b3c2d1e0f",
    "VIGIE_FUZZ_THREADS_TOKEN": "THQV-threads-campaign-6c5d4e",
}
HOSTILE_TEXT = ("<!channel> <!here> <@U0HACKER> <!subteam^S0DESK> "
                "<https://evil.example/login|Banque de France> *URGENT officiel* "
                "=HYPERLINK(\"https://evil.example\",\"clic\") ```code``` &amp; &lt;b&gt;")
HOSTILE_NAME = "*Vigie officiel* <!everyone>"
HOSTILE_HANDLE = "=cmd|' /C calc'!A0"
# What must never reach Slack as is (Slack would ping, or show a label over a link).
RAW_MARKUP = ("<!channel>", "<!here>", "<!everyone>", "<@U0HACKER>", "<!subteam^",
              "<https://evil.example")
# A bad-buzz day, small: past BAD_BUZZ.threshold mentions of one account, cards stop and
# the rest are listed in digests under a spike alert; the alert word DMs the on-call
# editor. Both show strangers' text, so both are checked like the cards.
# The threshold stays above what the other checks send one account (about 16 mentions).
BAD_BUZZ = Bursts(threshold=30, window=300, digest_size=4, digest_every=1, pace=0.1)
ALERT_WORD = "urgent"
BUZZ_ACCOUNT, BUZZ_CHANNEL = "sport-talk", "C0SPORT"
FORMULA_SIGNS = frozenset("=+-@")  # compared after NFKC: ＝ ＋ － ＠ ﹦ ﹢ ﹣ ﹫ are the same
CONTROL_START = ("\t", "\r", "\n")
# A formula disguised for a check that looks only at an ASCII first character (OWASP's
# CSV injection cases): full-width and small signs, whitespace or a control before it.
DISGUISES = ("\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66", " =", "\u3000\uff0b",
             "\u00a0@", "\t=", "\r=", "\n\uff20", "\r\n-")

TEMPLATE_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ author.__dict__ }}",
    "{{ author['__class__'] }}",
    "{{ author.name|attr('__class__') }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}ok",
    "{% set s = 'x' * 10000 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ 'x' * 10**9 }}",
    "{{ 9 ** (9 ** 9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{0.__class__}'.format(author) }}",
    "{% set a = 'x' * 10000 %}" + "{% set a = a ~ a %}" * 16 + "{{ a|length }}",
]
POST_TEMPLATE_ESCAPES = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "globals": "{{ cycler.__init__.__globals__ }}",
    "zero": "{{ 1 / 0 }}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "range": "{% for i in range(10**9) %}x{% endfor %}",
    "unknown": "{{ nobody.there }}",
    "format": "{{ '{0.__class__}'.format(author) }}",
}
# Listeners open to everyone by design, changing only what is the person's own: the
# pages of their App Home; sending a post to Vigie (every member may flag, staff qualify
# later); saying they are away or back (people on a round-robin rota need not be staff).
OPEN_TO_ALL = re.compile(r"^(home_page_|flags\.|flag)|^/vigie( (help|add|away|back))?$")


@dataclass
class Finding:
    check: str
    what: str


@dataclass
class Run:
    findings: list[Finding] = field(default_factory=list)
    inputs: int = 0
    faults: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def fail(self, check: str, what: str) -> None:
        self.findings.append(Finding(check, what))

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


# ------------------------------------------------------------------ the app under attack


@dataclass
class Registered:
    """What the Bolt app listens to, recorded as the handlers register it."""

    actions: list[Any] = field(default_factory=list)
    views: list[Any] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    options: list[Any] = field(default_factory=list)
    shortcuts: list[Any] = field(default_factory=list)
    subcommands: list[str] = field(default_factory=list)


@contextmanager
def recording_registrations() -> Iterator[Registered]:
    """Record every `app.action/view/command/options/shortcut` constraint, and the
    `/vigie` sub-commands, while an app is built."""
    import handlers.commands

    seen = Registered()
    originals: dict[str, Any] = {}
    for name, bucket in (("action", seen.actions), ("view", seen.views),
                         ("command", seen.commands), ("options", seen.options),
                         ("shortcut", seen.shortcuts)):
        original = getattr(App, name)
        originals[name] = original

        def recorder(self: App, constraints: Any, *args: Any, _original: Any = original,
                     _bucket: list[Any] = bucket, **kwargs: Any) -> Any:
            _bucket.append(constraints)
            return _original(self, constraints, *args, **kwargs)

        setattr(App, name, recorder)
    register_commands = handlers.commands.register

    def capture(app: App, vigie: Any, subcommands: Any) -> None:
        seen.subcommands.extend(sorted(subcommands))
        register_commands(app, vigie, subcommands)

    handlers.commands.register = capture
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(App, name, original)
        handlers.commands.register = register_commands


def _settings(database_url: str, slack: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=SECRETS["SLACK_BOT_TOKEN"],  # type: ignore[arg-type]
        slack_signing_secret=SECRETS["SLACK_SIGNING_SECRET"],  # type: ignore[arg-type]
        slack_api_url=slack.base_url, database_url=database_url,
        vigie_config=FIXTURES / "newsroom.toml", _env_file=None,  # type: ignore[call-arg]
    )


@contextmanager
def attacked(directory: Path) -> Iterator[tuple[Edge, FakeSlack, Registered]]:
    """A Vigie with every edge open and every secret distinctive, its registrations
    recorded, its logs captured at DEBUG, over a fresh database."""
    from tests.support.fuzzing import fresh_database

    url = fresh_database(directory)
    config, environ = meta_newsroom(newsroom().model_copy(update={
        "bursts": BAD_BUZZ, "alerts": Alerts(oncall=[EDITOR], dm_every=0,
                                            words={"fr": [ALERT_WORD]})}))
    environ = {**environ, **{k: v for k, v in SECRETS.items() if k in environ}}
    with FakeSlack(token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        for user, name in ((STAFF, "marie"), (EDITOR, "eve"), (OUTSIDER, "oscar")):
            slack.add_user(user, name)
        with recording_registrations() as registered:
            vigie = build(_settings(url, slack), config, clock=SystemClock(),
                          environ=environ, platform_timeout=0.5)
        with recording_logs(logging.DEBUG) as recorder:
            edge = Edge(vigie, recorder)
            try:
                yield edge, slack, registered
            finally:
                edge.settle()
                vigie.click_pool.shutdown(wait=True)
                vigie.listener_pool.shutdown(wait=True)
                vigie.engine.dispose()


def slack_body(slack: FakeSlack, send: Callable[[SlackDriver], object]) -> bytes:
    """The body a `SlackDriver` call would send (with the fake's live trigger ids)."""
    sent: list[bytes] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(record)) as client, SlackDriver(
            "http://vigie.invalid/slack/events", SECRETS["SLACK_SIGNING_SECRET"],
            client=client, fake=slack) as driver:
        send(driver)
    return sent[-1]


def to_slack(edge: Edge, body: bytes, *, stamp: int | None = None,
             secret: str | None = None) -> Answer:
    ts = str(int(time.time()) if stamp is None else stamp)
    signature = sign_slack(secret or SECRETS["SLACK_SIGNING_SECRET"], ts, body)
    kind = "application/json" if body.startswith(b"{") else \
        "application/x-www-form-urlencoded"
    return edge.post("/slack/events", body, {"Content-Type": kind,
                                             "X-Slack-Request-Timestamp": ts,
                                             "X-Slack-Signature": signature})


def to_webhook(edge: Edge, source: str, body: bytes, *, stamp: int | None = None,
               secret: str | None = None) -> Answer:
    sent_at = int(time.time()) if stamp is None else stamp
    key = secret or SECRETS["VIGIE_TEST_WEBHOOK_SECRET"]
    return edge.post(f"/ingest/{source}", body, {
        "Content-Type": "application/json", "X-Vigie-Timestamp": str(sent_at),
        "X-Vigie-Signature": sign_webhook(key, sent_at, body)})


def to_meta(edge: Edge, path: str, body: bytes, *, secret: str | None = None,
            header: str | None = None) -> Answer:
    signed = header if header is not None else meta_signature(
        body, secret or SECRETS["VIGIE_FUZZ_META_SECRET"])
    return edge.post(path, body, {"Content-Type": "application/json",
                                  SIGNATURE_HEADER: signed})


def snapshot(edge: Edge) -> dict[str, str]:
    """A digest of every table's rows."""
    digests = {}
    with edge.vigie.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in connection.execute(sql_select(table)))
            digests[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in after if before.get(name) != after[name])


def hostile_mention(external_id: str) -> dict[str, Any]:
    return {"external_id": external_id, "url": "https://pouet.example/@x/1",
            "author": {"handle": HOSTILE_HANDLE, "name": HOSTILE_NAME},
            "text": HOSTILE_TEXT, "created_at": "2026-11-02T07:04:39Z", "language": "fr",
            "account": "matinale", "platform": "mastodon"}


# ------------------------------------------------------------------ 1. signatures


def check_signatures(edge: Edge, slack: FakeSlack, run: Run) -> None:
    """Replayed, stale, future, forged and unsigned requests on every edge change nothing."""
    check = "signatures"

    def expect(answer: Answer, statuses: tuple[int, ...], what: str,
               *, stores: bool = False) -> None:
        run.inputs += 1
        run.faults += 1
        if answer.status not in statuses:
            run.fail(check, f"{what}: answered {answer.status}, expected {statuses}")
        if not stores and answer.stored and set(answer.stored) != {"processed_event"}:
            run.fail(check, f"{what}: stored {answer.stored}")
        run.count(check)

    # Slack: an app_mention (a member sends a post to Vigie), as Slack signs it.
    body = slack_body(slack, lambda d: d.app_mention(STAFF, "regarde ça", ts="1700000001.1",
                                                     event_id="Ev0CAMPAIGN1"))
    first = to_slack(edge, body)
    if first.status != 200:
        run.fail(check, f"a genuine Slack event was answered {first.status}")
    before = snapshot(edge)
    expect(to_slack(edge, body), (200,), "a Slack event replayed within 5 minutes")
    if changed(before, snapshot(edge)):
        run.fail(check, f"a replayed Slack event changed {changed(before, snapshot(edge))}")
    old = int(time.time()) - 301
    expect(to_slack(edge, body.replace(b"Ev0CAMPAIGN1", b"Ev0CAMPAIGN2"), stamp=old),
           (401,), "a Slack event signed 301 s ago")
    expect(to_slack(edge, body.replace(b"Ev0CAMPAIGN1", b"Ev0CAMPAIGN3"),
                    stamp=int(time.time()) + 360), (401,), "a Slack event from the future")
    expect(to_slack(edge, body.replace(b"Ev0CAMPAIGN1", b"Ev0CAMPAIGN4"),
                    secret="not-the-signing-secret"), (401,), "a forged Slack event")
    expect(edge.post("/slack/events", body, {"Content-Type": "application/json"}), (401,),
           "an unsigned Slack event")
    command = slack_body(slack, lambda d: d.command("/vigie", "report 7d", user_id=STAFF,
                                                    channel_id="C0MENTIONS"))
    expect(to_slack(edge, command, secret="not-the-signing-secret"), (401,),
           "a forged slash command")
    expect(to_slack(edge, command, stamp=old), (401,), "a slash command signed 301 s ago")

    # The webhook: a mention, replayed, stale, forged, signed for the other source.
    mention = json.dumps(hostile_mention("campaign-webhook-1")).encode()
    answer = to_webhook(edge, "monitoring", mention)
    if answer.status != 201:
        run.fail(check, f"a genuine webhook mention was answered {answer.status}")
    expect(to_webhook(edge, "monitoring", mention), (200,),
           "a webhook mention replayed within 5 minutes (dedupe)", stores=False)
    other = json.dumps(hostile_mention("campaign-webhook-2")).encode()
    expect(to_webhook(edge, "monitoring", other, stamp=old), (401,),
           "a webhook mention signed 301 s ago")
    expect(to_webhook(edge, "monitoring", other, stamp=int(time.time()) + 360), (401,),
           "a webhook mention from the future")
    expect(to_webhook(edge, "monitoring", other, secret="not-the-secret"), (401,),
           "a forged webhook mention")
    expect(to_webhook(edge, "monitoring", other, secret=SECRETS["VIGIE_TEST_ALERTS_SECRET"]),
           (401,), "a webhook mention signed with another source's secret")
    expect(edge.post("/ingest/monitoring", other, {"Content-Type": "application/json"}),
           (401,), "an unsigned webhook mention")

    # Meta: no timestamp; a replay must meet the dedupe, a forgery the signature.
    for path, deliveries in meta_seeds().items():
        body = json.dumps(deliveries[0]).encode()
        genuine = to_meta(edge, path, body)
        if genuine.status != 200:
            run.fail(check, f"a genuine {path} delivery was answered {genuine.status}")
        before = snapshot(edge)
        expect(to_meta(edge, path, body), (200,), f"a {path} delivery replayed")
        if changed(before, snapshot(edge)):
            run.fail(check, f"a replayed {path} delivery changed "
                     f"{changed(before, snapshot(edge))}")
        forged = body[:-1] + b', "forged": true}'  # another body
        expect(to_meta(edge, path, forged, secret="not-the-app-secret"), (403,),
               f"a forged {path} delivery")
        expect(to_meta(edge, path, forged, header=meta_signature(body, SECRETS[
            "VIGIE_FUZZ_META_SECRET"])), (403,), f"a {path} delivery with another's signature")
        expect(to_meta(edge, path, forged, secret=SECRETS["VIGIE_FUZZ_META_VERIFY"]), (403,),
               f"a {path} delivery signed with the verify token")
        expect(edge.post(path, forged, {"Content-Type": "application/json"}), (403,),
               f"an unsigned {path} delivery")
        run.inputs += 2
        wrong = httpx.QueryParams({"hub.mode": "subscribe", "hub.verify_token": "guess",
                                   "hub.challenge": "42"})
        handshake = _get(edge, f"{path}?{wrong}")
        if handshake.status_code != 403 or "42" in handshake.text:
            run.fail(check, f"{path} handshake with a wrong verify token: "
                     f"{handshake.status_code}")
        right = httpx.QueryParams({"hub.mode": "subscribe", "hub.challenge": "42",
                                   "hub.verify_token": SECRETS["VIGIE_FUZZ_META_VERIFY"]})
        if _get(edge, f"{path}?{right}").text != "42":
            run.fail(check, f"{path} handshake with the right verify token failed")


def _get(edge: Edge, url: str) -> httpx.Response:
    import anyio

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=edge.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigie") as client:
            return await client.get(url)

    return anyio.run(send)


# ------------------------------------------------------------------ 2. untrusted text


def check_untrusted_text(edge: Edge, slack: FakeSlack, run: Run) -> None:
    """A hostile mention's text pings no one, hides no link, runs no formula anywhere."""
    check = "mrkdwn/CSV injection"
    delivery = meta_seeds()["/webhooks/facebook"][0]
    value = delivery["entry"][0]["changes"][0]["value"]
    from_stranger = {**delivery, "entry": [{**delivery["entry"][0], "changes": [
        {"field": "feed", "value": {**value, "comment_id": "999_1", "message": HOSTILE_TEXT,
                                    "from": {"id": "66", "name": HOSTILE_NAME}}}]}]}
    to_meta(edge, "/webhooks/facebook", json.dumps(from_stranger).encode())
    to_webhook(edge, "monitoring", json.dumps(hostile_mention("campaign-webhook-3")).encode())
    for number, sign in enumerate(DISGUISES):
        disguised = {**hostile_mention(f"campaign-disguised-{number}"),
                     "text": f'{sign}HYPERLINK("https://evil.example/{number}",'
                             f'"URGENT clic {number}")',
                     "author": {"handle": f"{sign}cmd|' /C calc'!A{number + 1}",
                                "name": f"{sign}SUM(1+1)*cmd|' /C calc'!A0"}}
        answer = to_webhook(edge, "monitoring", json.dumps(disguised).encode())
        if answer.status >= 300:
            run.fail(check, f"disguised formula {sign!r} refused: {answer.status}")
    run.count("disguised formulas sent (text, handle, name)", len(DISGUISES))

    def hostile() -> list[Mention]:
        with Session(edge.vigie.engine) as session:
            return list(session.exec(select(Mention).where(
                col(Mention.text).contains("URGENT"))).all())

    def relayed() -> bool:  # the relay posts a card per channel a round, paced by Slack
        edge.vigie.relay.run_due()
        return all(m.slack_ts for m in hostile())

    _wait(relayed, 60)
    mentions = hostile()
    if not mentions or not all(m.slack_ts for m in mentions):
        run.fail(check, f"hostile mentions without a card: {[m.id for m in mentions]}")
    to_slack(edge, slack_body(slack, lambda d: d.app_home_opened(STAFF, channel="D0STAFF")))
    to_slack(edge, slack_body(slack, lambda d: d.command("/vigie", "report 7d", user_id=STAFF,
                                                         channel_id="C0MENTIONS")))
    to_slack(edge, slack_body(slack, lambda d: d.command(
        "/vigie", "export mentions 30d", user_id=STAFF, channel_id="C0MENTIONS")))
    edge.settle()
    _wait(lambda: any(f.completed for f in slack.uploaded_files()), 30)
    surfaces = {"chat.postMessage": "card", "chat.update": "card", "views.publish": "App Home",
                "chat.postEphemeral": "ephemeral", "views.open": "modal",
                "files.completeUploadExternal": "report"}
    shown = 0
    for call in slack.calls:
        if call.method not in surfaces:
            continue
        text = json.dumps(call.params, ensure_ascii=False)
        shown += "URGENT" in text
        for raw in RAW_MARKUP:
            if raw in text:
                run.fail(check, f"{surfaces[call.method]} ({call.method}) shows {raw!r} as is")
    run.count("Slack messages and views holding hostile text", shown)
    if not shown:
        run.fail(check, "no Slack message showed the hostile mention: nothing was checked")
    exports = [f for f in slack.uploaded_files() if f.filename.endswith(".csv")]
    if not exports:
        run.fail(check, "the CSV export was not uploaded: nothing was checked")
    inert = 0
    for export in exports:
        text = export.content.decode("utf-8-sig")
        # The separator from the header (`;` in French): a sniffed dialect may take the
        # apostrophe that makes a cell inert for a quote character and merge rows.
        separator = ";" if ";" in text.splitlines()[0] else ","
        for row in csv.reader(io.StringIO(text), delimiter=separator):
            for cell in row:
                run.count("CSV cells checked")
                if _runs_as_formula(cell):
                    run.fail(check, f"CSV cell a spreadsheet would run: {cell[:40]!r}")
                elif cell.startswith("'") and _runs_as_formula(cell[1:]):
                    inert += 1
    run.count("CSV cells made inert", inert)
    if exports and inert < 3 * len(DISGUISES):  # each one's text, handle and name
        run.fail(check, f"only {inert} CSV cells made inert of {3 * len(DISGUISES)} "
                 "disguised formulas sent: some were not exported")


def _runs_as_formula(cell: str) -> bool:
    """A spreadsheet would run it: a tab, CR or LF first, or a formula sign (in any width)
    as its first visible character — a number (`-12`) aside."""
    if cell.startswith(CONTROL_START):
        return True
    visible = cell.lstrip()[:1]
    return bool(visible) and unicodedata.normalize("NFKC", visible) in FORMULA_SIGNS \
        and not _number(cell)


def check_bad_buzz(edge: Edge, slack: FakeSlack, run: Run) -> None:
    """On a bad-buzz day the hostile text reaches Slack through the spike alert, its
    digests and the on-call DM: none of them pings, hides a link or shows a raw mention."""
    check = "mrkdwn injection (digest, alert DM)"
    burst = BAD_BUZZ.threshold + 2 * BAD_BUZZ.digest_size
    for i in range(burst):
        body = {**hostile_mention(f"campaign-buzz-{i}"), "account": BUZZ_ACCOUNT,
                "url": f"https://pouet.example/@x/buzz-{i}",  # one text, one URL: one mention
                "text": f"{HOSTILE_TEXT} ({i})"}
        answer = to_webhook(edge, "alerts", json.dumps(body).encode(),
                            secret=SECRETS["VIGIE_TEST_ALERTS_SECRET"])
        if answer.status != 201:
            run.fail(check, f"burst mention {i} answered {answer.status}: {answer.text[:120]}")
    run.count("bad-buzz mentions sent", burst)

    def buzz() -> list[dict[str, Any]]:
        return slack.messages(BUZZ_CHANNEL)

    def digested() -> bool:
        edge.vigie.relay.run_due()
        listed = sum(json.dumps(m, ensure_ascii=False).count("URGENT") for m in buzz()
                     if m.get("thread_ts") not in (None, m.get("ts")))
        return listed >= burst - BAD_BUZZ.threshold

    if not _wait(digested, 60):
        run.fail(check, "the burst's digests never listed every held mention")
    threads = [m for m in buzz() if m.get("thread_ts") not in (None, m.get("ts"))]
    dms = slack.messages(slack.dm_channel(EDITOR))
    if not threads:
        run.fail(check, "no digest was posted under a spike alert")
    shown = {"spike alert or digest": buzz(), "alert DM": dms}
    for where, messages in shown.items():
        if not messages:
            run.fail(check, f"no {where} was posted: nothing was checked")
        for message in messages:
            text = json.dumps(message, ensure_ascii=False)
            for raw in RAW_MARKUP:
                if raw in text:
                    run.fail(check, f"{where} shows {raw!r} as is")
        run.count(f"{where} messages checked", len(messages))


def _number(cell: str) -> bool:
    try:
        float(cell.replace(",", "."))
    except ValueError:
        return False
    return True


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# ------------------------------------------------------------------ 3. templates


def check_templates(edge: Edge, run: Run, directory: Path) -> None:
    """Sandbox escapes are refused with a message, in both languages, in seconds."""
    check = "template sandbox"
    library = edge.vigie.replies.library
    for body in TEMPLATE_ESCAPES:
        run.inputs += 1
        began = time.monotonic()
        try:
            library.check(body, "fr")
        except TemplateProblem as problem:
            message = problem.problem.text("fr")
            if not message or "Traceback" in message:
                run.fail(check, f"{body[:50]!r}: refused without a clear message")
        except Exception as exc:  # what escaped is the finding
            run.fail(check, f"{body[:50]!r}: {type(exc).__name__} escaped the check")
        else:
            run.fail(check, f"reply template {body[:50]!r} was accepted")
        run.count("reply template escapes refused")
        if time.monotonic() - began > 10:
            run.fail(check, f"{body[:50]!r} took {time.monotonic() - began:.0f} s to refuse")
    folder = directory / "posts" / "fr"
    folder.mkdir(parents=True)
    for name, body in POST_TEMPLATE_ESCAPES.items():
        (folder / f"{name}.j2").write_text(body)
    templates = PostTemplates(directory / "posts")
    for name in POST_TEMPLATE_ESCAPES:
        run.inputs += 1
        try:
            text = templates.render(name, "fr", newsroom="R", author="A", now=edge.vigie.clock
                                    .now(), timezone="Europe/Paris")
        except PostTemplateError as error:
            if not str(error):
                run.fail(check, f"post template {name}: refused without a message")
        except Exception as exc:
            run.fail(check, f"post template {name}: {type(exc).__name__} escaped: {exc}"[:200])
        else:
            run.fail(check, f"post template {name} rendered: {text[:60]!r}")
        run.count("post template escapes refused")


# ------------------------------------------------------------------ 4. who may do what


def _expand(pattern: re.Pattern[str], known: set[str]) -> list[str]:
    """Concrete ids for a regex constraint: those the app's own surfaces use, else the
    alternatives spelled in the pattern."""
    found = sorted(k for k in known if pattern.search(k))
    if found:
        return found
    text = pattern.pattern.strip("^$")
    match = re.fullmatch(r"(.*?)\((?:\?:)?([^()]*)\)(.*)", text)
    if match:
        head, options, tail = match.groups()
        return [re.sub(r"\\(.)", r"\1", f"{head}{o}{tail}") for o in options.split("|")]
    return [re.sub(r"\\(.)", r"\1", text)]


def _action_ids(blocks: Any) -> set[str]:
    found: set[str] = set()
    stack = [blocks]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("action_id"), str):
                found.add(item["action_id"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


Send = Callable[[SlackDriver], object]


def _click(action_id: str, value: str, channel: str | None, card: dict[str, Any]) -> Send:
    return lambda d: d.block_actions(
        user_id=OUTSIDER, channel_id=channel, message=card,
        actions=[{"action_id": action_id, "block_id": "b", "type": "button", "value": value}])


def _submit(callback: str, metadata: str) -> Send:
    return lambda d: d.view_submission(user_id=OUTSIDER, view={
        "id": "V0CAMPAIGN", "type": "modal", "callback_id": callback,
        "private_metadata": metadata, "blocks": []})


def _command(command: str, text: str, channel: str) -> Send:
    return lambda d: d.command(command, text, user_id=OUTSIDER, channel_id=channel)


def _send_only(edge: Edge, body: bytes) -> None:
    """Send without waiting for the listeners (`Edge.settle` waits for them all)."""
    import anyio

    ts = str(int(time.time()))
    kind = "application/json" if body.startswith(b"{") else \
        "application/x-www-form-urlencoded"
    anyio.run(edge._send, "/slack/events", body, {
        "Content-Type": kind, "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign_slack(SECRETS["SLACK_SIGNING_SECRET"], ts, body)})


def check_permissions(edge: Edge, slack: FakeSlack, registered: Registered,
                      run: Run, *, quick: bool) -> None:
    """Someone neither staff nor editor tries every registered action, view and command."""
    check = "permissions"
    vigie = edge.vigie
    with Session(vigie.engine) as session:
        mention = session.exec(select(Mention).order_by(col(Mention.id))).first()
    if mention is None or not mention.slack_ts:
        run.fail(check, "no mention with a card to act on")
        return
    post = vigie.posts.desk.draft(STAFF, DraftIn(text="Campagne", targets=("annonces",),
                                                 publish_at=None))
    known: set[str] = set()
    for call in slack.calls:
        known |= _action_ids(call.params.get("blocks"))
        known |= _action_ids(call.params.get("view"))
    subject = {"mention_id": mention.id, "post_id": post.id, "id": mention.id}
    values = [str(mention.id)] if quick else [str(mention.id), json.dumps(subject),
                                              str(post.id)]
    card = {"ts": mention.slack_ts, "type": "message", "user": "U0BOT", "text": "card",
            "blocks": []}
    tried: list[tuple[str, Send]] = []
    for constraint in registered.actions:
        ids = _expand(constraint, known) if isinstance(constraint, re.Pattern) else \
            [constraint if isinstance(constraint, str) else str(constraint.get("action_id"))]
        for action_id in ids:
            for value in values:
                tried.append((action_id, _click(action_id, value, mention.channel_id, card)))
    for constraint in registered.views:
        callback = constraint.pattern if isinstance(constraint, re.Pattern) else \
            str(constraint if isinstance(constraint, str) else constraint.get("callback_id"))
        tried.append((f"view {callback}", _submit(callback, json.dumps(subject))))
    for command in registered.commands:
        name = str(command)
        if name == "/vigie":
            for sub in ["", "help", *registered.subcommands]:
                tried.append((f"/vigie {sub}".strip(), _command(
                    "/vigie", f"{sub} {mention.id}".strip(),
                    mention.channel_id or "C0MENTIONS")))
        else:
            tried.append((name, _command(name, "", "C0MENTIONS")))
    writes = {"chat.postMessage", "chat.update", "chat.delete", "reactions.add",
              "reactions.remove", "files.completeUploadExternal"}
    refused = 0
    def effects(before: dict[str, str], seen: int) -> list[str]:
        """Tables changed and Slack writes since `before` / call `seen` (the outsider's
        own App Home excepted: publishing it is how a refusal may be shown)."""
        touched = [t for t in changed(before, snapshot(edge)) if t != "processed_event"]
        calls = slack.calls[seen:]
        wrote = sorted({c.method for c in calls if c.method in writes})
        published = sorted({str(c.params.get("user_id")) for c in calls
                            if c.method == "views.publish"} - {OUTSIDER})
        return touched + wrote + [f"the App Home of {user}" for user in published]

    crashed: dict[str, str] = {}  # listener → the first traceback it logged
    logged_before = len(edge.recorder.records)

    def one(label: str, send: Send) -> list[str]:
        before, seen, logged = snapshot(edge), len(slack.calls), len(edge.recorder.records)
        answer = to_slack(edge, slack_body(slack, send))
        edge.settle()
        if answer.status >= 500:
            run.fail(check, f"{label}: answered {answer.status}")
        logged_now = tracebacks(edge.recorder.records[logged:])
        if logged_now:
            crashed.setdefault(label, logged_now[0])
        return effects(before, seen)

    open_to_all = [(label, send) for label, send in tried if OPEN_TO_ALL.search(label)]
    guarded = [(label, send) for label, send in tried if not OPEN_TO_ALL.search(label)]
    for label, send in open_to_all:
        one(label, send)
    if quick:  # all at once (clicks are handled side by side), one look at the effects
        before, seen = snapshot(edge), len(slack.calls)
        for _, send in guarded:
            _send_only(edge, slack_body(slack, send))
        edge.settle()
        if not effects(before, seen):
            guarded = []
    for label, send in guarded:  # one by one, to name what changed something
        found = one(label, send)
        if found:
            run.fail(check, f"{label} by a non-staff member changed {found}")
    run.inputs += len(tried)
    refused = len(tried) - len(open_to_all) - len(
        [f for f in run.findings if f.check == check])
    # Never a traceback: a malformed or foreign request is refused in one log line.
    logged_all = tracebacks(edge.recorder.records[logged_before:])
    run.count("tracebacks logged while an outsider tried everything", len(logged_all))
    for label, first in sorted(crashed.items()):
        run.fail(check, f"{label} logged a traceback: {first[:160]}")
    if logged_all and not crashed:
        run.fail(check, f"{len(logged_all)} tracebacks logged, the first: "
                 f"{logged_all[0][:160]}")
    run.count("actions, views and commands tried by a non-staff member", len(tried))
    run.count("of which changed nothing", refused)
    run.count("registered actions", len(registered.actions))
    run.count("registered views", len(registered.views))
    run.count("registered commands and /vigie sub-commands",
              len(registered.commands) + len(registered.subcommands))


# ------------------------------------------------------------------ 5. secrets


def check_secrets(edge: Edge, slack: FakeSlack, answers: list[str], run: Run) -> None:
    """No secret in any log record, HTTP answer or Slack call (the bot token excepted
    where Slack needs it: the Authorization header, which the fake keeps apart)."""
    check = "secrets"
    records = edge.recorder.records
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info:
            import traceback as tb

            texts.append("".join(tb.format_exception(*record.exc_info)))
        if record.exc_text:
            texts.append(record.exc_text)
    logs = "\n".join(texts)
    messages = "\n".join(json.dumps(c.params, ensure_ascii=False) for c in slack.calls)
    replies = "\n".join(answers)
    for name, value in SECRETS.items():
        for where, haystack in (("logs", logs), ("Slack messages", messages),
                                ("HTTP answers", replies)):
            if value in haystack:
                run.fail(check, f"{name} appears in the {where}")
    run.count("log records searched", len(records))
    run.count("Slack calls searched", len(slack.calls))
    run.count("secrets searched for", len(SECRETS))


# ------------------------------------------------------------------ the run


def run(*, quick: bool) -> tuple[Figures, Run]:
    outcome = Run()
    started = time.monotonic()
    answers: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vigie-security-") as directory, \
            attacked(Path(directory)) as (edge, slack, registered):
        post = edge.post

        def keeping(*args: Any, **kwargs: Any) -> Answer:
            answer = post(*args, **kwargs)
            answers.append(answer.text)
            return answer

        edge.post = keeping  # type: ignore[method-assign]
        steps: list[tuple[str, Callable[[], None]]] = [
                ("signatures", lambda: check_signatures(edge, slack, outcome)),
                ("untrusted text", lambda: check_untrusted_text(edge, slack, outcome)),
                ("bad buzz", lambda: check_bad_buzz(edge, slack, outcome)),
                ("templates", lambda: check_templates(edge, outcome, Path(directory))),
                ("permissions", lambda: check_permissions(edge, slack, registered, outcome,
                                                           quick=quick))]
        for name, step in steps:
            began = time.monotonic()
            try:
                step()
            except Exception as exc:  # a check that crashed is a finding
                outcome.fail(name, f"the check crashed: {type(exc).__name__}: {exc}"[:300])
            print(f"{name}: done in {time.monotonic() - began:.1f} s", flush=True)
        check_secrets(edge, slack, answers, outcome)
        with Session(edge.vigie.engine) as session:
            mentions = len(session.exec(select(Mention)).all())
    figures = Figures(part="security", inputs=outcome.inputs, faults=outcome.faults,
                      seconds=time.monotonic() - started, mentions=mentions,
                      failures=len(outcome.findings))
    return figures, outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m campaign.security", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the CI run: every action tried once, not with every value")
    args = parser.parse_args(argv)
    figures, outcome = run(quick=args.quick)
    print()
    print(table(["checked", "count"], sorted(outcome.counts.items())))
    print()
    print(summary([figures]))
    if outcome.findings:
        print()
        print(table(["check", "finding"], [[f.check, f.what] for f in outcome.findings]))
    return 1 if outcome.findings else 0


if __name__ == "__main__":
    sys.exit(main())
