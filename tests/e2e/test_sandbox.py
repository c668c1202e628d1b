"""The sandbox (`vigie demo`): the real Vigie behind the browser API, as a person uses it."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.sandbox.demo import Demo, DemoOptions
from bot.sandbox.driver import build_state_values

T = TypeVar("T")
# The sandbox keeps its own SQLite file whatever the suite's database (`vigie demo` is the
# try-it-without-anything mode): the PostgreSQL pass leaves these tests out.
pytestmark = pytest.mark.own_database
EDITOR, CM, JOURNALIST = "U0EDITOR", "U0CM1", "U0JOURNO"
MENTIONS, APPROVALS = "C0MENTIONS", "C0APPROVALS"
WAIT = 30.0  # generous: CI is a busy 2-core machine


def options(data_dir: Path, **more: Any) -> DemoOptions:
    # No sentence model (it loads for seconds); modals may open late on a busy machine.
    base: dict[str, Any] = {"data_dir": data_dir, "port": 0, "suggestions": False,
                            "trigger_ttl": 30.0, "feed_every": 0}
    return DemoOptions(**{**base, **more})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with Demo(options(tmp_path_factory.mktemp("demo"), feed_every=600, first_after=0)) as running:
        yield running


@pytest.fixture(scope="module")
def page(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=40) as client:
        yield client


def wait(demo: Demo, found: Callable[[], T | None]) -> T:
    assert demo.slack is not None
    result = demo.slack.wait_for(found, timeout=WAIT, interval=0.05)
    assert result is not None
    return result


def history(page: httpx.Client, channel: str, user: str = CM) -> list[dict[str, Any]]:
    answer = page.get("/sandbox/api/history", params={"channel": channel, "user": user})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["messages"])


def cards(page: httpx.Client, channel: str) -> list[dict[str, Any]]:
    return [m for m in history(page, channel)
            if m.get("bot_id") and any(b.get("type") == "actions" for b in m.get("blocks", []))]


def post(page: httpx.Client, name: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = page.post(f"/sandbox/api/{name}", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["ok"] is True
    return dict(result)


def modals(page: httpx.Client, user: str) -> list[dict[str, Any]]:
    return list(page.get("/sandbox/api/views", params={"user": user}).json()["modals"])


def paste(demo: Demo, page: httpx.Client, text: str) -> dict[str, Any]:
    """A mention pasted in the page; its card, once it is in the mentions channel."""
    pasted = post(page, "mention", {"text": text, "author": "@auditeur@pouet.example"})
    assert pasted["duplicate"] is False
    return wait(demo, lambda: next((c for c in cards(page, MENTIONS)
                                    if text in json.dumps(c["blocks"], ensure_ascii=False)),
                                   None))


def test_the_page_and_the_workspace_are_served(page: httpx.Client) -> None:
    """The sandbox serves its page and a newsroom: people by role, channels, commands."""
    home = page.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    boot = page.get("/sandbox/api/bootstrap", params={"user": JOURNALIST}).json()
    roles = {u["id"]: u["role"] for u in boot["users"]}
    assert "Editor" in roles[EDITOR] and "Journalist" in roles[JOURNALIST]
    assert {"mentions", "validations"} <= {c["name"] for c in boot["channels"]}
    assert any(c["is_im"] for c in boot["channels"])
    assert {"/vigie", "/draft", "/calendar"} <= {c["command"] for c in boot["commands"]}
    assert boot["shortcuts"][0]["callback_id"] == "send_to_vigie"
    unknown = page.get("/sandbox/api/nothing")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_method"


def test_a_sample_mention_from_the_feeder_becomes_a_card(demo: Demo, page: httpx.Client
                                                          ) -> None:
    """The first sample mention arrives by itself and shows as a card in its channel."""
    first = demo._sample[0]
    channel = "C0DEBAT" if first["account"] == "grand-debat" else MENTIONS
    card = wait(demo, lambda: next((c for c in cards(page, channel)
                                    if first["text"][:40] in json.dumps(
                                        c["blocks"], ensure_ascii=False)), None))
    assert card["user"] == "U0BOT"


def test_clicking_a_card_button_reaches_the_bot_and_updates_the_card(
        demo: Demo, page: httpx.Client) -> None:
    """Take on a card: the card says who took it, for everyone."""
    card = paste(demo, page, "Bonjour, à quelle heure passe la chronique météo ?")
    post(page, "action", {"user": CM, "channel": MENTIONS, "message_ts": card["ts"],
                          "action_id": "qualify.take"})

    def taken() -> dict[str, Any] | None:
        now = next(c for c in history(page, MENTIONS, EDITOR) if c["ts"] == card["ts"])
        return now if "edited" in now and CM in json.dumps(now["blocks"]) else None

    wait(demo, taken)
    missing = page.post("/sandbox/api/action", json={
        "user": CM, "channel": MENTIONS, "message_ts": card["ts"], "action_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error"] == "element_not_found"


def open_draft(demo: Demo, page: httpx.Client, user: str, text: str) -> dict[str, Any]:
    before = {m["id"] for m in modals(page, user)}
    assert post(page, "message", {"user": user, "channel": MENTIONS,
                                  "text": f"/draft {text}"})["command"] == "/draft"
    return wait(demo, lambda: next((m for m in modals(page, user) if m["id"] not in before),
                                   None))


def draft_values(view: dict[str, Any], when: str) -> dict[str, Any]:
    return build_state_values(view, {"targets": {"value": ["matinale-mastodon"]},
                                     "when_text": {"value": when}})


def test_a_slash_command_opens_its_modal_and_bad_input_is_answered_in_it(
        demo: Demo, page: httpx.Client) -> None:
    """/draft opens the draft modal; an unreadable time comes back as an error under it."""
    view = open_draft(demo, page, CM, "Ce soir, le grand débat")
    assert view["type"] == "modal" and view["submit"]
    answer = post(page, "view_submission", {"user": CM, "view_id": view["id"],
                                            "values": draft_values(view, "à la saint-glinglin")})
    assert answer["response_action"] == "errors"
    assert "ne comprends pas" in answer["errors"]["when_text"]
    assert [m["id"] for m in modals(page, CM)] == [view["id"]]  # still open
    post(page, "view_closed", {"user": CM, "view_id": view["id"]})
    assert modals(page, CM) == []
    unknown = page.post("/sandbox/api/message", json={"user": CM, "channel": MENTIONS,
                                                      "text": "/météo"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_command"


def test_a_draft_approved_with_a_reaction_publishes_to_mastodon_when_the_clock_moves(
        demo: Demo, page: httpx.Client) -> None:
    """Draft "demain 9h" → the editor reacts ✅ → nothing yet → clock moved → on Mastodon."""
    text = "Demain dans La Matinale : le climat, avec vos questions."
    view = open_draft(demo, page, CM, text)
    answer = post(page, "view_submission", {"user": CM, "view_id": view["id"],
                                            "values": draft_values(view, "demain 9h")})
    assert "response_action" not in answer
    assert modals(page, CM) == []

    def preview() -> dict[str, Any] | None:
        return next((m for m in history(page, APPROVALS, EDITOR)
                     if text[:30] in json.dumps(m.get("blocks", []), ensure_ascii=False)),
                    None)

    card = wait(demo, preview)
    post(page, "reaction", {"user": EDITOR, "channel": APPROVALS, "ts": card["ts"],
                            "name": "white_check_mark", "add": True})
    wait(demo, lambda: "Approuvée" in json.dumps(preview(), ensure_ascii=False) or None)
    statuses = page.get("/sandbox/api/mastodon").json()["statuses"]
    assert not any(text in s["text"] for s in statuses)  # not before its time

    now = datetime.fromisoformat(page.get("/sandbox/api/bootstrap").json()["now"])
    paris = now.astimezone(ZoneInfo("Europe/Paris"))
    nine = (paris + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    minutes = (nine - paris).total_seconds() / 60 + 2
    moved = post(page, "clock", {"advance_minutes": minutes})
    assert datetime.fromisoformat(moved["now"]) >= nine

    def published() -> list[dict[str, Any]]:
        return [s for s in page.get("/sandbox/api/mastodon").json()["statuses"]
                if text in s["text"]]

    [status] = wait(demo, published)
    assert status["account"]["acct"] == "matinale"
    wrong = page.post("/sandbox/api/clock", json={"advance_minutes": -5})
    assert wrong.status_code == 400


def test_reset_starts_over_and_a_restart_continues(tmp_path: Path) -> None:
    """Stopped and started again, the workspace is as it was; with --reset it is empty."""
    text = "Le podcast d'hier est-il en ligne ?"

    def mention_cards(running: Demo) -> list[dict[str, Any]]:
        with httpx.Client(base_url=running.url, timeout=40) as client:
            return [c for c in cards(client, MENTIONS) if text in json.dumps(
                c["blocks"], ensure_ascii=False)]

    with Demo(options(tmp_path)) as first, httpx.Client(base_url=first.url, timeout=40) as pg:
        paste(first, pg, text)
    with Demo(options(tmp_path)) as again:
        assert len(mention_cards(again)) == 1
    with Demo(options(tmp_path, reset=True)) as fresh:
        assert mention_cards(fresh) == []
        assert fresh.state.fed == 0


def test_an_ephemeral_answer_is_seen_by_its_user_only(demo: Demo, page: httpx.Client) -> None:
    """/vigie help answers the person who typed it, in the channel, and nobody else."""
    post(page, "message", {"user": CM, "channel": "C0REPORTS", "text": "/vigie help"})

    def helps(user: str) -> list[dict[str, Any]]:
        return [m for m in history(page, "C0REPORTS", user)
                if m.get("ephemeral") and "/vigie" in m["text"]]

    [answer] = wait(demo, lambda: helps(CM))
    assert answer["user"] == CM
    assert helps(JOURNALIST) == []


def test_the_app_home_arrives_when_opened(demo: Demo, page: httpx.Client) -> None:
    """Opening the App Home publishes it for that person, and says so in the changes."""
    cursor = page.get("/sandbox/api/changes", params={"since": 0, "timeout": 0}).json()["cursor"]
    post(page, "home_opened", {"user": JOURNALIST})
    home = wait(demo, lambda: page.get("/sandbox/api/views",
                                       params={"user": JOURNALIST}).json()["home"])
    assert home["type"] == "home" and home["blocks"]
    changes = page.get("/sandbox/api/changes", params={"since": cursor, "timeout": 0}).json()
    assert {"kind": "home", "user": JOURNALIST} in [
        {"kind": c["kind"], "user": c.get("user")} for c in changes["changes"]]


def test_a_long_poll_returns_as_soon_as_a_card_arrives(demo: Demo, page: httpx.Client) -> None:
    """A browser waiting on /changes is woken by the new card, not by its timeout."""
    cursor = page.get("/sandbox/api/changes", params={"since": 0, "timeout": 0}).json()["cursor"]
    answers: list[dict[str, Any]] = []
    waiting = threading.Thread(target=lambda: answers.append(page.get(
        "/sandbox/api/changes", params={"since": cursor, "timeout": 30}).json()))
    waiting.start()
    post(page, "mention", {"text": "Quel est le titre joué à 8h12 ?"})
    waiting.join(WAIT)
    assert answers, "the long poll did not return"
    [answer] = answers
    assert answer["cursor"] > cursor and answer["changes"]
    assert all(c["cursor"] > cursor for c in answer["changes"])


def test_report_charts_are_served_as_files(demo: Demo, page: httpx.Client) -> None:
    """/vigie report posts its charts; the page can fetch them as images."""
    post(page, "message", {"user": EDITOR, "channel": "C0REPORTS", "text": "/vigie report"})

    def shared() -> list[dict[str, Any]]:
        return [f for m in history(page, "C0REPORTS", EDITOR) for f in m.get("files", [])]

    files = wait(demo, shared)
    assert all(f["url_private"] == f"/sandbox/api/files/{f['id']}" for f in files)
    charts = [f for f in files if f["mimetype"] == "image/png"]
    assert charts
    image = page.get(charts[0]["url_private"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_a_message_shortcut_opens_vigie_s_modal(demo: Demo, page: httpx.Client) -> None:
    """A person's message sent to Vigie with the shortcut opens the "Envoyer à Vigie" modal."""
    ts = post(page, "message", {"user": JOURNALIST, "channel": "C0DEBAT",
                                "text": "Un auditeur très en colère au standard"})["ts"]
    post(page, "shortcut", {"user": JOURNALIST, "channel": "C0DEBAT", "message_ts": ts,
                            "callback_id": "send_to_vigie"})
    modal = wait(demo, lambda: next(iter(modals(page, JOURNALIST)), None))
    assert "Un auditeur très en colère" in json.dumps(modal["blocks"], ensure_ascii=False)
    post(page, "view_closed", {"user": JOURNALIST, "view_id": modal["id"]})


def test_vigie_demo_starts_serves_its_page_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """`vigie demo` prints its address, serves the page there, and stops cleanly on Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "bot.cli", "demo", "--port", "0", "--no-browser",
         "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None

    def read() -> None:
        for line in process.stdout or ():
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        seen: list[str] = []
        while not any("Vigie sandbox: " in line for line in seen):
            seen.append(lines.get(timeout=90))
        url = next(line for line in seen if "Vigie sandbox: " in line).split(": ", 1)[1].strip()
        with httpx.Client(base_url=url, timeout=40) as client:
            assert client.get("/").status_code == 200
            boot = client.get("/sandbox/api/bootstrap").json()
            assert boot["bot_user_id"] == "U0BOT"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=90) == 0
        assert (tmp_path / "demo" / "workspace.json").is_file()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_mastodon_mention_is_answered_with_a_template_on_the_local_instance(
        demo: Demo, page: httpx.Client) -> None:
    """Pasted as a Mastodon notification → card → Reply → template → Send: the answer is a
    reply to the status on the local instance, and the page's Mastodon view shows it."""
    text = "À quelle heure passe la chronique météo ?"
    pasted = post(page, "mention", {"text": text, "author": "@kev59@mamot.example",
                                    "via": "mastodon"})
    assert pasted["stored"] == 1
    card = wait(demo, lambda: next((c for c in cards(page, MENTIONS)
                                    if text in json.dumps(c["blocks"], ensure_ascii=False)),
                                   None))
    post(page, "action", {"user": CM, "channel": MENTIONS, "message_ts": card["ts"],
                          "action_id": "reply.open"})
    def reply_form(after: int = 0) -> dict[str, Any] | None:
        """The reply modal once drawn (it opens as "Working…"), past text block `after`."""
        for modal in modals(page, CM):
            if modal["callback_id"] == "reply_modal" and modal["private_metadata"] and \
                    json.loads(modal["private_metadata"])["b"] > after:
                return modal
        return None

    form = wait(demo, reply_form)
    first_block = json.loads(form["private_metadata"])["b"]
    post(page, "action", {"user": CM, "view_id": form["id"], "action_id": "reply.template",
                          "selected_option": "fr/broadcast_time"})
    form = wait(demo, lambda: reply_form(first_block))
    block = f"text-{json.loads(form['private_metadata'])['b']}"
    written = next(b for b in form["blocks"] if b.get("block_id") == block)["element"][
        "initial_value"]
    assert written.startswith("Bonjour")
    answer = post(page, "view_submission", {"user": CM, "view_id": form["id"], "values": {
        block: {"reply.text": {"type": "plain_text_input", "value": written}}}})
    assert "response_action" not in answer

    def replied() -> list[dict[str, Any]]:
        return [s for s in page.get("/sandbox/api/mastodon").json()["statuses"]
                if s["in_reply_to_id"] and written in s["text"]]

    [status] = wait(demo, replied)
    assert status["text"].startswith("@kev59@mamot.example ")


def test_typing_in_a_modal_input_reaches_the_bot_only_on_submission(
        demo: Demo, page: httpx.Client) -> None:
    """An input's value is kept for the submission (Slack sends no action for it) and
    checked then; writing in one's DM with Vigie is refused, as its tab is read only."""
    view = open_draft(demo, page, CM, "Le grand débat de jeudi")
    kept = post(page, "action", {"user": CM, "view_id": view["id"], "action_id": "value",
                                 "block_id": "when_text", "value": "à la saint-glinglin"})
    assert kept["dispatched"] is False
    answer = post(page, "view_submission", {"user": CM, "view_id": view["id"], "values": {
        "targets": {"value": {"type": "multi_static_select", "selected_options": [
            {"text": {"type": "plain_text", "text": "#annonces"}, "value": "annonces"}]}}}})
    assert "ne comprends pas" in answer["errors"]["when_text"]
    post(page, "view_closed", {"user": CM, "view_id": view["id"]})
    dm = next(c["id"] for c in page.get("/sandbox/api/bootstrap", params={"user": CM}).json()[
        "channels"] if c["is_im"])
    refused = page.post("/sandbox/api/message", json={"user": CM, "channel": dm,
                                                      "text": "bonjour"})
    assert refused.status_code == 400 and refused.json()["error"] == "messages_tab_read_only"


def test_the_journalist_may_read_cards_but_not_triage_them(demo: Demo, page: httpx.Client
                                                           ) -> None:
    """Paul (journalist, not staff) clicks Take: he alone is told he may not; the card stays."""
    card = paste(demo, page, "Vous pouvez rediffuser l'interview du maire ?")
    post(page, "action", {"user": JOURNALIST, "channel": MENTIONS, "message_ts": card["ts"],
                          "action_id": "qualify.take"})

    def told(user: str) -> list[dict[str, Any]]:
        return [m for m in history(page, MENTIONS, user) if m.get("ephemeral")
                and m["user"] == JOURNALIST]

    [refusal] = wait(demo, lambda: told(JOURNALIST))
    assert "seule l'équipe réseaux sociaux peut qualifier" in refusal["text"]
    assert told(CM) == []
    now = next(m for m in history(page, MENTIONS, CM) if m["ts"] == card["ts"])
    assert JOURNALIST not in json.dumps(now["blocks"])


def test_history_comes_in_pages_newest_first_like_conversations_history(
        demo: Demo, page: httpx.Client) -> None:
    """A long channel is read a page at a time, following next_cursor back to its first
    message: each message once, the person's ephemerals among them, no one else's."""
    assert demo.slack is not None
    channel = "C0ANNONCES"
    posted = [demo.slack.add_message(channel, f"annonce {i}", user="U0CM2") for i in range(23)]
    post(page, "message", {"user": CM, "channel": channel, "text": "/vigie help"})
    wait(demo, lambda: demo.slack and demo.slack.ephemerals(channel, CM))
    posted += [demo.slack.add_message(channel, f"annonce {i}", user="U0CM2")
               for i in range(23, 25)]

    seen: list[dict[str, Any]] = []
    cursor = ""
    pages = 0
    while True:
        params = {"channel": channel, "user": CM, "limit": "10"}
        if cursor:
            params["cursor"] = cursor
        answer = page.get("/sandbox/api/history", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        assert len(body["messages"]) <= 10
        seen = body["messages"] + seen  # each page: older than the one before, oldest first
        cursor = body["response_metadata"]["next_cursor"]
        assert body["has_more"] is bool(cursor)
        if not body["has_more"]:
            break
    mine = [m["ts"] for m in seen if not m.get("ephemeral") and m.get("user") == "U0CM2"]
    assert mine[-25:] == posted and len(set(mine)) == len(mine)
    assert [m["ts"] for m in seen] == sorted((m["ts"] for m in seen), key=float)
    assert sum(1 for m in seen if m.get("ephemeral")) == 1
    assert pages >= 3
    first = page.get("/sandbox/api/history",
                     params={"channel": channel, "user": JOURNALIST, "limit": "3"}).json()
    assert [m["ts"] for m in first["messages"]] == posted[-3:] and first["has_more"] is True

    bad = page.get("/sandbox/api/history", params={"channel": channel, "cursor": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_cursor"
    zero = page.get("/sandbox/api/history", params={"channel": channel, "limit": "0"})
    assert zero.status_code == 400 and zero.json()["error"] == "invalid_limit"


class _WatchedLock:
    """A lock that says when someone had to wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_two_overlapping_clock_moves_are_both_answered_one_after_the_other(
        demo: Demo, page: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two quick clicks on the Horloge buttons: both moves answered and applied, the
    second after the first (they never run the scheduler's catch-up at the same time)."""
    assert demo.api is not None and demo.vigie is not None
    watched = _WatchedLock()
    monkeypatch.setattr(demo.api, "_clock_lock", watched, raising=False)
    real_run_due = demo.vigie.scheduler.run_due
    first_inside, second_inside = threading.Event(), threading.Event()
    running, overlaps = [0], []
    count = threading.Lock()

    def run_due(until: datetime) -> int:
        with count:
            running[0] += 1
            overlaps.append(running[0])
        try:
            if not first_inside.is_set():
                first_inside.set()
                # Hold the first move until the second arrived: waiting (serialized) or
                # in here too (overlapping).
                for _ in range(600):
                    if watched.contended.wait(0.05) or second_inside.is_set():
                        break
            else:
                second_inside.set()
            return real_run_due(until)
        finally:
            with count:
                running[0] -= 1

    monkeypatch.setattr(demo.vigie.scheduler, "run_due", run_due)
    before = demo.clock.offset
    answers: queue.Queue[httpx.Response] = queue.Queue()

    def move(minutes: int) -> None:
        with httpx.Client(base_url=demo.url, timeout=60) as client:
            answers.put(client.post("/sandbox/api/clock", json={"advance_minutes": minutes}))

    first = threading.Thread(target=move, args=(15,))
    first.start()
    assert first_inside.wait(WAIT)
    second = threading.Thread(target=move, args=(60,))
    second.start()
    first.join(WAIT)
    second.join(WAIT)
    got = [answers.get(timeout=WAIT), answers.get(timeout=WAIT)]
    assert [a.status_code for a in got] == [200, 200], [a.text for a in got]
    assert all(a.json()["ok"] and a.json()["now"] for a in got)
    assert demo.clock.offset - before == timedelta(minutes=75)
    assert max(overlaps) == 1, "the two moves ran at the same time"


def test_an_unexpected_failure_is_answered_not_dropped(
        demo: Demo, page: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong in the sandbox, the page gets a JSON answer that says so."""
    assert demo.api is not None

    def broken(minutes: float) -> datetime:
        raise RuntimeError("the scheduler fell over")

    monkeypatch.setattr(demo.api.hooks, "advance_clock", broken)
    answer = page.post("/sandbox/api/clock", json={"advance_minutes": 15})
    assert answer.status_code == 500
    body = answer.json()
    assert body["ok"] is False and body["error"] == "internal_error"
    assert "réessayez" in body["message"] and "try again" in body["message"]


def test_an_open_modal_is_still_open_after_a_restart(tmp_path: Path) -> None:
    """A draft modal left open when the demo stops is there again, and submits."""
    with Demo(options(tmp_path)) as first, httpx.Client(base_url=first.url, timeout=40) as pg:
        view = open_draft(first, pg, CM, "Ce soir : l'invité du Grand Débat répond.")
    with Demo(options(tmp_path)) as again, httpx.Client(base_url=again.url, timeout=40) as pg:
        assert [m["id"] for m in modals(pg, CM)] == [view["id"]]
        answer = post(pg, "view_submission", {"user": CM, "view_id": view["id"],
                                              "values": draft_values(view, "demain 9h")})
        assert "response_action" not in answer
        assert modals(pg, CM) == []


def test_a_crash_mid_save_leaves_the_last_saved_workspace(tmp_path: Path) -> None:
    """A save cut short (the process killed while writing) does not damage the workspace:
    the next start shows what the last complete save had."""
    text = "La rediffusion de l'émission de dimanche est-elle prévue ?"
    with Demo(options(tmp_path)) as first, httpx.Client(base_url=first.url, timeout=40) as pg:
        paste(first, pg, text)
    saved = tmp_path / "workspace.json"
    good = saved.read_bytes()
    (tmp_path / "workspace.json.1234.partial").write_bytes(good[: len(good) // 2])
    with Demo(options(tmp_path)) as again, httpx.Client(base_url=again.url, timeout=40) as pg:
        assert any(text in json.dumps(c["blocks"], ensure_ascii=False)
                   for c in cards(pg, MENTIONS))
    assert not list(tmp_path.glob("*.partial"))


def test_the_feeder_goes_on_after_the_sample_with_new_reworded_mentions(
        tmp_path: Path) -> None:
    """When the sample is used up, its mentions come again as new ones (new id, reworded
    opening): the desk keeps getting cards instead of falling silent."""
    demo = Demo(options(tmp_path, feed_every=0.2, first_after=0))
    demo._sample = [m for m in demo._sample
                    if m["platform"] == "bluesky" and m["account"] == "grand-debat"][:2]
    snippet = demo._sample[0]["text"][:40]
    with demo, httpx.Client(base_url=demo.url, timeout=40) as pg:
        def copies() -> list[dict[str, Any]] | None:
            found = [c for c in cards(pg, "C0DEBAT")
                     if snippet in json.dumps(c["blocks"], ensure_ascii=False)]
            return found if len(found) >= 3 else None

        found = wait(demo, copies)
        texts = [json.dumps(c["blocks"], ensure_ascii=False) for c in found]
        assert len(set(texts)) == len(texts)  # three different mentions, not one thrice
        assert demo.state.fed >= 5
