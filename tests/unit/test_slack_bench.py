"""Tests of the Slack test bench itself (FakeSlack + SlackDriver).

Why: every end-to-end test trusts the bench; it must behave like Slack for the real
``slack_sdk.WebClient`` and produce requests that ``slack_bolt`` accepts and routes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.driver import SlackDriver, build_state_values
from bot.sandbox.slack import FakeSlack

SECRET = "test-signing-secret"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "qualify",
    "title": {"type": "plain_text", "text": "Qualifier"},
    "submit": {"type": "plain_text", "text": "Valider"},
    "private_metadata": "C0001|1.2",
    "blocks": [
        {
            "type": "input",
            "block_id": "note",
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        },
        {
            "type": "input",
            "block_id": "topic",
            "label": {"type": "plain_text", "text": "Sujet"},
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "options": [
                    {"text": {"type": "plain_text", "text": "Politique"}, "value": "pol"},
                    {"text": {"type": "plain_text", "text": "Sport"}, "value": "sport"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "owner",
            "optional": True,
            "label": {"type": "plain_text", "text": "Qui"},
            "element": {"type": "users_select", "action_id": "who"},
        },
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.base_url)


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


# ----------------------------------------------------------------------------- Web API


def test_auth_test_answers_documented_fields(client: WebClient) -> None:
    """auth.test returns the identity fields bolt relies on."""
    data = client.auth_test().data
    assert isinstance(data, dict)
    for key in ("url", "team", "user", "team_id", "user_id", "bot_id"):
        assert data[key]
    assert data["user_id"] == "U0BOT"


def test_post_update_and_history_with_metadata(fake: FakeSlack, client: WebClient) -> None:
    """Posts get increasing ts, updates are kept, history is newest-first with metadata."""
    meta = {"event_type": "vigie_post", "event_payload": {"key": "abc"}}
    first = client.chat_postMessage(channel="C0001", text="one", metadata=meta)
    second = client.chat_postMessage(channel="C0001", text="two", blocks=[SECTION])
    assert first["ts"] < second["ts"] and first["channel"] == "C0001"
    assert second["message"]["blocks"][0]["block_id"]  # Slack fills missing block_id
    client.chat_update(channel="C0001", ts=first["ts"], text="one (edited)")

    hist = client.conversations_history(channel="C0001", include_all_metadata=True)
    assert [m["ts"] for m in hist["messages"]] == [second["ts"], first["ts"]]
    assert hist["messages"][1]["metadata"] == meta
    assert hist["messages"][1]["text"] == "one (edited)"
    plain = client.conversations_history(channel="C0001")
    assert all("metadata" not in m for m in plain["messages"])
    newer = client.conversations_history(channel="C0001", oldest=first["ts"], limit=5)
    assert [m["ts"] for m in newer["messages"]] == [second["ts"]]
    one = client.conversations_history(channel="C0001", limit=1)
    assert len(one["messages"]) == 1 and one["has_more"] is True
    assert fake.messages("C0001")[0]["text"] == "one (edited)"


def test_update_unknown_ts_is_message_not_found(client: WebClient) -> None:
    """chat.update on a ts that does not exist fails like Slack."""
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C0001", ts="1700000000.000001", text="x")
    assert _error(exc) == "message_not_found"


def test_post_without_content_is_no_text(client: WebClient) -> None:
    """A message with neither text, blocks nor attachments is rejected."""
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.postMessage", json={"channel": "C0001"})
    assert _error(exc) == "no_text"


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        [{"type": "fancy_block"}],
        [{"type": "divider"}] * 51,
        [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}],
    ],
    ids=["section-3001", "header-151", "11-fields", "field-2001", "unknown", "51", "empty"],
)
def test_invalid_blocks_are_rejected(client: WebClient, blocks: list[dict[str, Any]]) -> None:
    """Blocks Slack would refuse raise invalid_blocks with json-pointer details."""
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0001", text="fallback", blocks=blocks)
    assert _error(exc) == "invalid_blocks"
    messages = exc.value.response["response_metadata"]["messages"]
    assert messages and all(m.startswith("[ERROR]") and "json-pointer" in m for m in messages)


def test_text_over_40000_chars_is_msg_too_long(client: WebClient) -> None:
    """Top-level text is capped at 40,000 characters."""
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0001", text="x" * 40_001)
    assert _error(exc) == "msg_too_long"


def test_form_bodies_with_json_strings_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    """Form-encoded blocks/metadata given as JSON text are parsed and recorded as objects."""
    client.api_call(
        "chat.postMessage",
        params={
            "channel": "C0001",
            "text": "hi",
            "blocks": json.dumps([SECTION]),
            "metadata": json.dumps({"event_type": "t", "event_payload": {"a": 1}}),
        },
    )
    call = fake.calls_to("chat.postMessage")[-1]
    assert call.params["blocks"] == [SECTION] and call.params["metadata"]["event_payload"] == {
        "a": 1
    }
    assert call.token == fake.token and call.status == 200


def test_injected_429_carries_retry_after(fake: FakeSlack, client: WebClient) -> None:
    """fail_next answers HTTP 429 + Retry-After, visible to WebClient, then recovers."""
    fake.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0001", text="hi")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert _error(exc) == "ratelimited"
    assert client.chat_postMessage(channel="C0001", text="hi")["ok"]
    assert fake.ratelimited_count == 1 and len(fake.messages("C0001")) == 1


def test_injected_5xx_and_down(fake: FakeSlack, client: WebClient) -> None:
    """fail_next(status=5xx, times=n) and set_down answer HTTP errors without side effects."""
    fake.fail_next("chat.postMessage", status=503, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C0001", text="hi")
        assert exc.value.response.status_code == 503
    client.chat_postMessage(channel="C0001", text="hi")
    fake.set_down(True)
    with pytest.raises(SlackApiError) as exc:
        client.auth_test()
    assert exc.value.response.status_code == 503
    fake.set_down(False)
    assert client.auth_test()["ok"]
    assert len(fake.messages("C0001")) == 1


def test_hang_times_out_client_but_message_was_posted(fake: FakeSlack) -> None:
    """hang_next(then_apply=True) posts then answers late: the client times out, history
    (with metadata) shows the post went through; then_apply=False loses it."""
    # slack_sdk annotates timeout as int, but urllib takes float seconds.
    slow = WebClient(token=fake.token, base_url=fake.base_url, timeout=0.3)  # type: ignore[arg-type]
    meta = {"event_type": "vigie_post", "event_payload": {"key": "k1"}}
    fake.hang_next("chat.postMessage", 1.0)
    with pytest.raises(TimeoutError):
        slow.chat_postMessage(channel="C0001", text="hi", metadata=meta)
    hist = slow.conversations_history(channel="C0001", include_all_metadata=True)
    assert [m["metadata"]["event_payload"]["key"] for m in hist["messages"]] == ["k1"]

    fake.hang_next("chat.postMessage", 1.0, then_apply=False)
    with pytest.raises(TimeoutError):
        slow.chat_postMessage(channel="C0001", text="lost")
    assert len(fake.messages("C0001")) == 1


def test_channel_rate_limit_gives_429_after_burst() -> None:
    """With channel_rate_limit, bursts beyond Slack's ~1 msg/s per channel get 429s."""
    with FakeSlack(channel_rate_limit=(1, 1.0), channel_burst=2) as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        client.chat_postMessage(channel="C0001", text="1")
        client.chat_postMessage(channel="C0001", text="2")
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C0001", text="3")
        assert exc.value.response.status_code == 429
        assert int(exc.value.response.headers["Retry-After"]) >= 1
        client.chat_postMessage(channel="C0002", text="other channel is fine")
        assert fake.ratelimited_count == 1


def test_trigger_ids_expire_and_are_single_use(fake: FakeSlack, client: WebClient) -> None:
    """views.open accepts a fresh trigger once; unknown/old/reused ones fail like Slack."""
    trigger = fake.new_trigger_id(user_id="U1")
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "qualify"
    assert fake.views_for("U1")[0]["id"] == view["id"]
    cases = [
        (trigger, "exchanged_trigger_id"),
        ("123.456.deadbeef", "invalid_trigger_id"),
        (fake.new_trigger_id(age=3.5), "expired_trigger_id"),
    ]
    for trigger_id, expected in cases:
        with pytest.raises(SlackApiError) as exc:
            client.views_open(trigger_id=trigger_id, view=MODAL)
        assert _error(exc) == expected


def test_view_title_over_24_chars_is_invalid_arguments(fake: FakeSlack, client: WebClient) -> None:
    """Modal titles are limited to 24 characters."""
    view = {**MODAL, "title": {"type": "plain_text", "text": "T" * 25}}
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id=fake.new_trigger_id(), view=view)
    assert _error(exc) == "invalid_arguments"
    assert "/view/title/text" in exc.value.response["response_metadata"]["messages"][0]


def test_views_update_push_and_publish(fake: FakeSlack, client: WebClient) -> None:
    """views.update honours hash, views.push stacks on the trigger's view, publish homes."""
    opened = client.views_open(trigger_id=fake.new_trigger_id(user_id="U1"), view=MODAL)["view"]
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**MODAL, "callback_id": "v2"}
    )["view"]
    assert fake.view(opened["id"])["callback_id"] == "v2"  # type: ignore[index]
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id=opened["id"], hash="0.stale", view=MODAL)
    assert _error(exc) == "hash_conflict"
    pushed = client.views_push(trigger_id=fake.new_trigger_id(view_id=updated["id"]), view=MODAL)[
        "view"
    ]
    assert pushed["previous_view_id"] == opened["id"] and pushed["root_view_id"] == opened["id"]
    home = {"type": "home", "blocks": [SECTION]}
    client.views_publish(user_id="U1", view=home)
    assert fake.home_view("U1")["blocks"][0]["text"]["text"] == "hello"  # type: ignore[index]


def test_files_upload_v2_round_trip(fake: FakeSlack, client: WebClient) -> None:
    """files_upload_v2 goes through getUploadURLExternal, the upload URL and complete."""
    resp = client.files_upload_v2(
        channel="C0001",
        content=b"id;score\n1;42\n",
        filename="export.csv",
        title="Export",
        initial_comment="Voici l'export",
    )
    assert resp["file"]["title"] == "Export"
    (stored,) = fake.uploaded_files()
    assert stored.content == b"id;score\n1;42\n" and stored.completed
    assert stored.channel == "C0001" and stored.filename == "export.csv"
    assert fake.messages("C0001")[-1]["text"] == "Voici l'export"


def test_bad_or_missing_token(fake: FakeSlack) -> None:
    """Wrong token → invalid_auth, no token → not_authed (HTTP 200 like Slack)."""
    with pytest.raises(SlackApiError) as exc:
        WebClient(token="xoxb-wrong", base_url=fake.base_url).auth_test()
    assert _error(exc) == "invalid_auth" and exc.value.response.status_code == 200
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=fake.base_url).auth_test()
    assert _error(exc) == "not_authed"


def test_channels_users_and_groups() -> None:
    """Strict directory: unknown channels fail; DMs, users.info and usergroups work."""
    with FakeSlack(accept_any_channel=False, accept_any_user=False) as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        fake.add_channel("C0001", "veille")
        fake.add_user("U1", "marie", real_name="Marie Curie", locale="fr-FR")
        fake.add_usergroup("S1", ["U1"])
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C9999", text="x")
        assert _error(exc) == "channel_not_found"
        dm = client.conversations_open(users="U1")["channel"]["id"]
        assert dm.startswith("D") and client.chat_postMessage(channel=dm, text="x")["ok"]
        assert client.conversations_info(channel="C0001")["channel"]["name"] == "veille"
        user = client.users_info(user="U1", include_locale=True)["user"]
        assert user["profile"]["display_name"] == "marie" and user["locale"] == "fr-FR"
        assert user["tz"] == "Europe/Paris" and "locale" not in client.users_info(user="U1")["user"]
        assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1"]
        with pytest.raises(SlackApiError) as exc:
            client.users_info(user="U404")
        assert _error(exc) == "user_not_found"


def test_reactions_ephemeral_delete_permalink(fake: FakeSlack, client: WebClient) -> None:
    """reactions.add, chat.postEphemeral, chat.getPermalink and chat.delete behave."""
    ts = fake.add_message("C0001", "un commentaire", user="U1")
    client.reactions_add(channel="C0001", timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as exc:
        client.reactions_add(channel="C0001", timestamp=ts, name="eyes")
    assert _error(exc) == "already_reacted"
    eph = client.chat_postEphemeral(channel="C0001", user="U1", text="psst")
    assert eph["message_ts"] and fake.ephemerals("C0001", "U1")[0]["text"] == "psst"
    link = client.chat_getPermalink(channel="C0001", message_ts=ts)["permalink"]
    assert link.endswith("/archives/C0001/p" + ts.replace(".", ""))
    with pytest.raises(SlackApiError) as exc:
        client.chat_delete(channel="C0001", ts=ts)
    assert _error(exc) == "cant_delete_message"
    own = client.chat_postMessage(channel="C0001", text="bot")["ts"]
    client.chat_delete(channel="C0001", ts=own)
    assert [m["ts"] for m in fake.messages("C0001")] == [ts]


def test_wait_for_returns_value_or_times_out(fake: FakeSlack) -> None:
    """wait_for polls until truthy and raises TimeoutError otherwise."""
    threading.Timer(0.05, lambda: fake.add_message("C0001", "late", user="U1")).start()
    assert fake.wait_for(lambda: fake.messages("C0001"), timeout=2)[0]["text"] == "late"
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda: fake.calls_to("views.open"), timeout=0.05)


# ----------------------------------------------------------------------------- driver


def _capture() -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def _verify(request: httpx.Request) -> bool:
    return SignatureVerifier(SECRET).is_valid(
        body=request.content.decode(),
        timestamp=request.headers["X-Slack-Request-Timestamp"],
        signature=request.headers["X-Slack-Signature"],
    )


def test_driver_build_produces_valid_v0_signature() -> None:
    """build() signs with Slack's v0 scheme, verifiable by slack_sdk's SignatureVerifier."""
    driver = SlackDriver("http://bot/slack/events", SECRET)
    body, headers = driver.build(b'{"type":"event_callback"}')
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(
        body=body,
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
    )
    assert not SignatureVerifier("other").is_valid(
        body=body,
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
    )


def test_driver_requests_are_signed_and_shaped(fake: FakeSlack) -> None:
    """Events are JSON envelopes, interactions form payloads, commands forms; all signed."""
    http, seen = _capture()
    driver = SlackDriver("http://bot/slack/events", SECRET, fake=fake, client=http)
    fake.add_user("U1", "marie")
    driver.app_mention("U1", "surveille ce fil", channel="C0001")
    driver.redeliver(retry_num=1, retry_reason="http_timeout")
    driver.command("/vigie", "status", user_id="U1")
    posted = WebClient(token=fake.token, base_url=fake.base_url).chat_postMessage(
        channel="C0001",
        text="alerte",
        blocks=[
            {
                "type": "actions",
                "block_id": "b",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "take",
                        "value": "42",
                        "text": {"type": "plain_text", "text": "Je prends"},
                    }
                ],
            }
        ],
    )
    driver.click("U1", "take", "42", message=posted["message"], channel_id="C0001")
    assert all(_verify(r) for r in seen)

    event, retry, command, action = seen
    envelope = json.loads(event.content)
    assert event.headers["Content-Type"] == "application/json"
    assert envelope["type"] == "event_callback" and envelope["event_id"].startswith("Ev")
    assert envelope["event"]["text"].startswith("<@U0BOT>")
    assert envelope["authorizations"][0]["user_id"] == "U0BOT"
    assert fake.message("C0001", envelope["event"]["ts"]) is not None
    assert retry.headers["X-Slack-Retry-Num"] == "1"
    assert json.loads(retry.content)["event_id"] == envelope["event_id"]
    form = {k: v[0] for k, v in parse_qs(command.content.decode()).items()}
    assert form["command"] == "/vigie" and form["user_name"] == "marie"
    assert form["trigger_id"] and form["response_url"].startswith(fake.url)
    payload = json.loads(parse_qs(action.content.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["actions"][0]["value"] == "42"
    assert payload["container"]["message_ts"] == posted["ts"]
    with pytest.raises(ValueError):
        driver.click("U1", "missing", message=posted["message"], channel_id="C0001")


def test_state_values_follow_slack_shape() -> None:
    """view.state.values holds every input, typed like Slack (value/selected_option/...)."""
    values = build_state_values(MODAL, {"note": {"text": "ok"}, "topic": {"pick": "sport"}})
    assert values["note"]["text"] == {"type": "plain_text_input", "value": "ok"}
    assert values["topic"]["pick"]["selected_option"]["value"] == "sport"
    assert values["owner"]["who"] == {"type": "users_select", "selected_user": None}
    with pytest.raises(ValueError):
        build_state_values(MODAL, {"topic": {"pick": "not-an-option"}})


def test_driver_refuses_interactions_slack_would_not_send(fake: FakeSlack) -> None:
    """No block_actions for an input element without dispatch_action, nor for unknown ones."""
    driver = SlackDriver("http://bot/slack/events", SECRET, fake=fake, client=_capture()[0])
    client = WebClient(token=fake.token, base_url=fake.base_url)
    view = client.views_open(trigger_id=fake.new_trigger_id(), view=MODAL)["view"]
    with pytest.raises(ValueError, match="dispatch_action"):
        driver.select("U1", "pick", "sport", view=view)
    with pytest.raises(ValueError, match="no element"):
        driver.click("U1", "nope", view=view)


# ----------------------------------------------------------------------------- with bolt


class _BoltHandler(BaseHTTPRequestHandler):
    app: App

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in self.headers.items()}
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        data = response.body.encode()
        self.send_response(response.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def bolt(fake: FakeSlack) -> Iterator[tuple[App, SlackDriver]]:
    app = App(client=WebClient(token=fake.token, base_url=fake.base_url), signing_secret=SECRET)
    handler = type("Handler", (_BoltHandler,), {"app": app})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    with SlackDriver(url, SECRET, fake=fake) as driver:
        yield app, driver
    server.shutdown()
    server.server_close()


def test_bolt_routes_driver_requests_end_to_end(
    fake: FakeSlack, bolt: tuple[App, SlackDriver]
) -> None:
    """A real bolt App verifies, routes and answers the driver's command, modal and button."""
    app, driver = bolt
    got: dict[str, Any] = {}

    @app.command("/vigie")
    def open_modal(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        respond("Formulaire ouvert")

    @app.view("qualify")
    def submitted(ack: Ack, view: dict[str, Any]) -> None:
        got["values"] = view["state"]["values"]
        got["meta"] = view["private_metadata"]
        ack()

    @app.action("take")
    def take(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_update(channel=body["channel"]["id"], ts=body["message"]["ts"], text="pris")

    assert driver.url_verification("abc").json() == {"challenge": "abc"}
    assert driver.command("/vigie", user_id="U1").status_code == 200
    (opened,) = fake.wait_for(lambda: fake.views_for("U1"))
    (note,) = fake.wait_for(lambda: fake.ephemerals("C0001", "U1"))
    assert note["text"] == "Formulaire ouvert" and fake.calls_to("response_url")
    assert (
        driver.view_submission(
            user_id="U1", view=opened, values={"note": {"text": "rien"}, "topic": {"pick": "pol"}}
        ).status_code
        == 200
    )
    assert got["values"]["topic"]["pick"]["selected_option"]["value"] == "pol"
    assert got["meta"] == "C0001|1.2"

    posted = app.client.chat_postMessage(
        channel="C0001",
        text="alerte",
        blocks=[
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "take",
                        "value": "1",
                        "text": {"type": "plain_text", "text": "Je prends"},
                    }
                ],
            }
        ],
    )
    assert driver.click("U1", "take", message=posted["message"]).status_code == 200
    fake.wait_for(lambda: fake.message("C0001", posted["ts"])["text"] == "pris")  # type: ignore[index]

    stale = driver.raw(b'{"type":"event_callback"}', timestamp=int(time.time()) - 600)
    assert stale.status_code == 401
    forged = driver.raw(b'{"type":"event_callback"}', {"X-Slack-Signature": "v0=00"})
    assert forged.status_code == 401
