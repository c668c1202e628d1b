"""Plays Slack's side of the bot's HTTP endpoint: Events API, interactivity, slash commands.
The test suite drives the bot with it, and so does the sandbox when a person clicks.

Why: end-to-end tests must hit the bot exactly as Slack does (same body shapes, same
content types, same v0 signature, same retry headers) so that request verification, bolt
routing and our payload parsing are tested for real rather than against hand-made dicts.
Payload shapes follow Slack's reference pages (Events API envelope, ``block_actions``,
``view_submission``, ``view_closed``, slash commands) and bolt-python's scenario tests.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import string
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import urlencode

import httpx

from bot.sandbox.slack import FakeSlack

__all__ = ["SentRequest", "SlackDriver", "sign"]

_USER_AGENT: Final = "Slackbot 1.0 (+https://api.slack.com/robots)"
_JSON: Final = "application/json"
_FORM: Final = "application/x-www-form-urlencoded"
_ID_CHARS: Final = string.ascii_uppercase + string.digits
_UNSET: Final = object()

# element type -> (state key, initial_* key) for single-valued selections
_SELECTION_KEYS: Final[dict[str, tuple[str, str]]] = {
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}
_TEXT_INPUTS: Final = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
)
_SINGLE_OPTION: Final = frozenset({"static_select", "external_select", "radio_buttons", "overflow"})
_MULTI_OPTION: Final = frozenset({"multi_static_select", "multi_external_select", "checkboxes"})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature: ``v0=`` + HMAC-SHA256 of ``v0:{ts}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _slack_id(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def _now_ts() -> str:
    return f"{time.time():.6f}"


@dataclass(frozen=True)
class SentRequest:
    """What the driver sent (exact bytes and headers) and the HTTP status it got back."""

    body: bytes
    headers: dict[str, str]
    status: int


class SlackDriver:
    """Sends signed, Slack-shaped requests to the bot's HTTP endpoint.

    With ``fake`` given, trigger ids and response URLs are minted by the fake (so
    ``views.open``/``respond()`` work end to end), user names come from its directory, and
    messages a user "writes" through the driver also exist in the fake's history.
    """

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        *,
        fake: FakeSlack | None = None,
        team_id: str = "T0001",
        client: httpx.Client | None = None,
        api_app_id: str | None = None,
        team_domain: str | None = None,
        bot_user_id: str | None = None,
        verification_token: str = "legacy-verification-token",
        timeout: float = 10.0,
        record: bool = True,
    ) -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.fake = fake
        self.team_id = team_id
        self.api_app_id = api_app_id or (fake.app_id if fake else "A0001")
        self.team_domain = team_domain or (fake.team_domain if fake else "vigie-test")
        self.bot_user_id = bot_user_id or (fake.bot_user_id if fake else "U0BOT")
        self.verification_token = verification_token
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)
        self.sent: list[SentRequest] = []
        self.record = record  # False: a long-running sandbox keeps no log of its requests
        self.last_event: dict[str, Any] | None = None
        self.last_payload: dict[str, Any] | None = None
        self._last_envelope: dict[str, Any] | None = None

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> SlackDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ signing & sending

    def build(
        self,
        body: bytes | str,
        *,
        content_type: str = _JSON,
        timestamp: int | str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """Return ``(raw body, headers)`` exactly as Slack would send them (signed)."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "gzip,deflate",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(self.signing_secret, ts, raw),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return raw, headers

    def build_json(self, payload: Mapping[str, Any], **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        """Events API bodies are compact JSON."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return self.build(body, content_type=_JSON, **kwargs)

    def build_form(self, fields: Mapping[str, str], **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        """Slash commands and interactivity are form-encoded (interactivity as ``payload=``)."""
        return self.build(urlencode(dict(fields)), content_type=_FORM, **kwargs)

    def build_interaction(
        self, payload: Mapping[str, Any], **kwargs: Any
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return self.build_form({"payload": body}, **kwargs)

    def raw(
        self,
        body: bytes | str,
        headers: Mapping[str, str] | None = None,
        *,
        sign: bool = True,
        timestamp: int | str | None = None,
        content_type: str = _JSON,
    ) -> httpx.Response:
        """Send arbitrary bytes (tampering tests): stale timestamp, bad signature, no headers.

        ``sign=True`` signs ``body`` (at ``timestamp``) then applies ``headers`` on top, so a
        test can e.g. override ``X-Slack-Signature`` or ``X-Slack-Request-Timestamp``.
        """
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if sign:
            raw, built = self.build(raw, content_type=content_type, timestamp=timestamp)
        else:
            built = {"Content-Type": content_type, "User-Agent": _USER_AGENT}
        built.update(headers or {})
        return self._post(raw, built)

    def _post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        response = self.client.post(self.app_url, content=body, headers=headers)
        if self.record:
            self.sent.append(SentRequest(body, dict(headers), response.status_code))
        return response

    def _send_interaction(self, payload: dict[str, Any]) -> httpx.Response:
        self.last_payload = payload
        return self._post(*self.build_interaction(payload))

    # ------------------------------------------------------------------ common parts

    def _user(self, user_id: str) -> dict[str, Any]:
        name = user_id.lower()
        if self.fake is not None:
            found = self.fake.user(user_id)
            if found is not None:
                name = str(found["name"])
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    def _trigger(self, user_id: str, view_id: str | None = None) -> str:
        if self.fake is not None:
            return self.fake.new_trigger_id(user_id=user_id, view_id=view_id)
        return f"{secrets.randbelow(10**12)}.{int(time.time())}.{secrets.token_hex(16)}"

    def _response_url(
        self, kind: str, *, channel_id: str | None, user_id: str, message_ts: str | None = None
    ) -> str:
        if self.fake is not None:
            return self.fake.new_response_url(
                channel_id=channel_id, user_id=user_id, message_ts=message_ts
            )
        n = secrets.randbelow(10**13)
        return f"https://hooks.slack.com/{kind}/{self.team_id}/{n}/{secrets.token_urlsafe(18)}"

    def _channel_name(self, channel_id: str) -> str:
        if self.fake is not None:
            name = self.fake.channel_name(channel_id)
            if name:
                return name
        return "directmessage" if channel_id.startswith("D") else channel_id.lower()

    def _current_view(self, view: Mapping[str, Any]) -> dict[str, Any]:
        """Slack sends the view as currently displayed: prefer the fake's stored copy."""
        if self.fake is not None and view.get("id"):
            stored = self.fake.view(str(view["id"]))
            if stored is not None:
                return stored
        return copy.deepcopy(dict(view))

    def _current_message(
        self, message: Mapping[str, Any], channel_id: str | None
    ) -> tuple[dict[str, Any], str]:
        ts = str(message.get("ts", ""))
        if self.fake is not None and ts:
            if channel_id is not None:
                stored = self.fake.message(channel_id, ts)
                if stored is not None:
                    return stored, channel_id
            else:
                found = self.fake.find_message(ts)
                if found is not None:
                    return found[1], found[0]
        if channel_id is None:
            raise ValueError("channel_id is required when the message is not in the fake")
        return copy.deepcopy(dict(message)), channel_id

    # ------------------------------------------------------------------ Events API

    def url_verification(self, challenge: str) -> httpx.Response:
        """The handshake Slack performs when the Request URL is saved."""
        payload = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return self._post(*self.build_json(payload))

    def envelope(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
    ) -> dict[str, Any]:
        """The ``event_callback`` wrapper Slack puts around every event."""
        inner = dict(event)
        inner.setdefault("event_ts", inner.get("ts") or _now_ts())
        context = {
            "et": inner.get("type"),
            "tid": self.team_id,
            "aid": self.api_app_id,
            "cid": inner.get("channel") or (inner.get("item") or {}).get("channel"),
        }
        encoded = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or _slack_id("Ev"),
            "event_time": event_time if event_time is not None else int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{encoded}",
        }

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        event_time: int | None = None,
    ) -> httpx.Response:
        """Deliver one event; pass the same ``event_id`` + ``retry_num`` to mimic a retry."""
        envelope = self.envelope(event, event_id=event_id, event_time=event_time)
        self.last_event = envelope["event"]
        self._last_envelope = envelope
        body, headers = self.build_json(envelope, retry_num=retry_num, retry_reason=retry_reason)
        return self._post(body, headers)

    @property
    def last_event_id(self) -> str | None:
        return None if self._last_envelope is None else str(self._last_envelope["event_id"])

    def redeliver(
        self, *, retry_num: int = 1, retry_reason: str = "http_timeout"
    ) -> httpx.Response:
        """Resend the last envelope unchanged (same event_id) as Slack's retry would."""
        if self._last_envelope is None:
            raise RuntimeError("no event sent yet")
        body, headers = self.build_json(
            self._last_envelope, retry_num=retry_num, retry_reason=retry_reason
        )
        return self._post(body, headers)

    @staticmethod
    def _rich_text(text: str) -> list[dict[str, Any]]:
        """The ``rich_text`` block Slack attaches to user messages (mentions split out)."""
        elements: list[dict[str, Any]] = []
        rest = text
        while rest:
            start = rest.find("<@")
            end = rest.find(">", start) if start >= 0 else -1
            if start < 0 or end < 0:
                elements.append({"type": "text", "text": rest})
                break
            if start > 0:
                elements.append({"type": "text", "text": rest[:start]})
            elements.append({"type": "user", "user_id": rest[start + 2 : end].split("|")[0]})
            rest = rest[end + 1 :]
        return [
            {
                "type": "rich_text",
                "block_id": secrets.token_urlsafe(3)[:4],
                "elements": [{"type": "rich_text_section", "elements": elements}],
            }
        ]

    def _user_message(
        self,
        kind: str,
        user: str,
        text: str,
        channel: str,
        ts: str | None,
        thread_ts: str | None,
    ) -> dict[str, Any]:
        if self.fake is not None:
            ts = self.fake.add_message(channel, text, user=user, ts=ts, thread_ts=thread_ts)
        ts = ts or _now_ts()
        event: dict[str, Any] = {
            "user": user,
            "type": kind,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "text": text,
            "team": self.team_id,
            "blocks": self._rich_text(text),
            "channel": channel,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
            if self.fake is not None:
                parent = self.fake.message(channel, thread_ts)
                if parent is not None and parent.get("user"):
                    event["parent_user_id"] = parent["user"]
        return event

    def app_mention(
        self,
        user: str,
        text: str,
        *,
        channel: str = "C0001",
        ts: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
    ) -> httpx.Response:
        """A user mentions the bot; ``<@BOT>`` is prepended when ``text`` lacks it."""
        mention = f"<@{self.bot_user_id}>"
        if mention not in text:
            text = f"{mention} {text}"
        event = self._user_message("app_mention", user, text, channel, ts, thread_ts)
        return self.event(event, event_id=event_id)

    def message(
        self,
        user: str,
        text: str,
        *,
        channel: str = "C0001",
        ts: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
    ) -> httpx.Response:
        """A plain ``message`` event (channel, DM or thread reply)."""
        event = self._user_message("message", user, text, channel, ts, thread_ts)
        event["channel_type"] = {"D": "im", "G": "group"}.get(channel[:1], "channel")
        return self.event(event, event_id=event_id)

    def _reaction_event(
        self,
        kind: str,
        user: str,
        reaction: str,
        channel: str,
        ts: str,
        item_user: str | None,
    ) -> dict[str, Any]:
        if self.fake is not None:
            stored = self.fake.message(channel, ts)
            if stored is not None and item_user is None:
                item_user = stored.get("user")
            if kind == "reaction_added":
                self.fake.add_reaction(channel, ts, reaction, user=user)
            else:
                self.fake.remove_reaction(channel, ts, reaction, user=user)
        event: dict[str, Any] = {
            "type": kind,
            "user": user,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": _now_ts(),
        }
        if item_user is not None:
            event["item_user"] = item_user
        return event

    def reaction_added(
        self,
        user: str,
        reaction: str,
        channel: str,
        ts: str,
        item_user: str | None = None,
        *,
        event_id: str | None = None,
    ) -> httpx.Response:
        """``reaction_added`` on a message (``item_user`` looked up in the fake if omitted)."""
        event = self._reaction_event("reaction_added", user, reaction, channel, ts, item_user)
        return self.event(event, event_id=event_id)

    def reaction_removed(
        self,
        user: str,
        reaction: str,
        channel: str,
        ts: str,
        item_user: str | None = None,
        *,
        event_id: str | None = None,
    ) -> httpx.Response:
        event = self._reaction_event("reaction_removed", user, reaction, channel, ts, item_user)
        return self.event(event, event_id=event_id)

    def app_home_opened(
        self,
        user: str,
        *,
        tab: str = "home",
        channel: str | None = None,
        event_id: str | None = None,
    ) -> httpx.Response:
        """User opens the App Home; carries the published ``view`` when there is one."""
        if channel is None:
            channel = self.fake.dm_channel(user) if self.fake is not None else _slack_id("D", 8)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": channel,
            "tab": tab,
            "event_ts": _now_ts(),
        }
        if self.fake is not None and tab == "home":
            home = self.fake.home_view(user)
            if home is not None:
                event["view"] = home
        return self.event(event, event_id=event_id)

    # ------------------------------------------------------------------ interactivity

    def block_actions(
        self,
        *,
        user_id: str,
        actions: Sequence[Mapping[str, Any]],
        channel_id: str | None = None,
        message: Mapping[str, Any] | None = None,
        container: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """A ``block_actions`` payload from a message (``message``) or a view (``view``)."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
        }
        full_view: dict[str, Any] | None = None
        if view is not None:
            full_view = self._current_view(view)
            if state is not None:
                full_view["state"] = {"values": copy.deepcopy(dict(state))}
            elif not full_view.get("state", {}).get("values"):
                full_view["state"] = {"values": build_state_values(full_view, {})}
            payload["container"] = dict(container or {"type": "view", "view_id": full_view["id"]})
        elif message is not None:
            if channel_id is None:
                raise ValueError("channel_id is required for a message action")
            container_obj: dict[str, Any] = {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
            if message.get("thread_ts") and message.get("thread_ts") != message["ts"]:
                container_obj["thread_ts"] = message["thread_ts"]
            payload["container"] = dict(container or container_obj)
        else:
            payload["container"] = dict(container or {})
        view_id = full_view["id"] if full_view is not None else None
        payload["trigger_id"] = trigger_id or self._trigger(user_id, view_id)
        payload["team"] = self._team()
        payload["enterprise"] = None
        payload["is_enterprise_install"] = False
        if channel_id is not None:
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
        if message is not None:
            payload["message"] = copy.deepcopy(dict(message))
            payload["state"] = {"values": copy.deepcopy(dict(state or {}))}
            payload["response_url"] = response_url or self._response_url(
                "actions", channel_id=channel_id, user_id=user_id, message_ts=message["ts"]
            )
        elif response_url is not None:
            payload["response_url"] = response_url
        if full_view is not None:
            payload["view"] = full_view
        payload["actions"] = [
            {**dict(a), "action_ts": a.get("action_ts") or _now_ts()} for a in actions
        ]
        return self._send_interaction(payload)

    def _interactive(
        self,
        action_id: str,
        *,
        message: Mapping[str, Any] | None,
        view: Mapping[str, Any] | None,
        channel_id: str | None,
        block_id: str | None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None, str, dict[str, Any]]:
        if (message is None) == (view is None):
            raise ValueError("give exactly one of message= or view=")
        current_message: dict[str, Any] | None = None
        current_view: dict[str, Any] | None = None
        if message is not None:
            current_message, channel_id = self._current_message(message, channel_id)
            blocks = current_message.get("blocks", [])
        else:
            assert view is not None
            current_view = self._current_view(view)
            blocks = current_view.get("blocks", [])
        found_block, element = find_element(blocks, action_id, block_id=block_id)
        for block in blocks:
            if (
                isinstance(block, dict)
                and block.get("type") == "input"
                and block.get("block_id") == found_block
                and not block.get("dispatch_action", False)
            ):
                raise ValueError(
                    f"{action_id!r} sits in an input block without dispatch_action: Slack "
                    "sends no block_actions for it (only view_submission state)"
                )
        return current_message, current_view, channel_id, found_block, element

    def click(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        *,
        message: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        channel_id: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """Click a button that really is in the message/view as Slack currently shows it.

        Raises ``ValueError`` if the button is absent (e.g. the bot already removed it) or
        carries a different ``value``: a user cannot click what Slack does not display.
        """
        msg, cur_view, channel, found_block, element = self._interactive(
            action_id, message=message, view=view, channel_id=channel_id, block_id=block_id
        )
        if element.get("type") != "button":
            raise ValueError(f"{action_id!r} is a {element.get('type')}, not a button")
        if value is not None and element.get("value") != value:
            raise ValueError(
                f"button {action_id!r} has value {element.get('value')!r}, not {value!r}"
            )
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": found_block,
            "text": _with_emoji(element.get("text")),
            "type": "button",
        }
        if "value" in element:
            action["value"] = element["value"]
        if "style" in element:
            action["style"] = element["style"]
        return self.block_actions(
            user_id=user_id, actions=[action], channel_id=channel, message=msg, view=cur_view
        )

    def select(
        self,
        user_id: str,
        action_id: str,
        value: Any,
        *,
        message: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        channel_id: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """Choose in a menu/picker: option value(s) for static selects, a user id for
        ``users_select``, a date for ``datepicker``... (``selected_*`` shaped like Slack)."""
        msg, cur_view, channel, found_block, element = self._interactive(
            action_id, message=message, view=view, channel_id=channel_id, block_id=block_id
        )
        action: dict[str, Any] = {
            "type": element.get("type"),
            "action_id": action_id,
            "block_id": found_block,
            **_selection(element, value),
        }
        if "placeholder" in element:
            action["placeholder"] = copy.deepcopy(element["placeholder"])
        state: dict[str, Any] | None = None
        if cur_view is not None:
            state = build_state_values(cur_view, {found_block: {action_id: value}})
        return self.block_actions(
            user_id=user_id,
            actions=[action],
            channel_id=channel,
            message=msg,
            view=cur_view,
            state=state,
        )

    def view_submission(
        self,
        *,
        user_id: str,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, Any]] | None = None,
        private_metadata: str | None = None,
        callback_id: str | None = None,
        response_urls: Sequence[Mapping[str, Any]] = (),
    ) -> httpx.Response:
        """Submit a modal. ``values`` is ``{block_id: {action_id: answer}}`` where an answer is
        either Slack's own state dict (has ``type``) or a plain value converted according to
        the element in the view (option value, user id, date...). Unanswered inputs are sent
        with their initial value or ``null`` like Slack does. ``private_metadata``/
        ``callback_id`` default to the view's own.
        """
        full_view = self._current_view(view)
        full_view["state"] = {"values": build_state_values(full_view, values or {})}
        if private_metadata is not None:
            full_view["private_metadata"] = private_metadata
        if callback_id is not None:
            full_view["callback_id"] = callback_id
        self._fill_view_defaults(full_view)
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger(user_id, full_view.get("id")),
            "view": full_view,
            "response_urls": [dict(r) for r in response_urls],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._send_interaction(payload)

    def view_closed(
        self, *, user_id: str, view: Mapping[str, Any], is_cleared: bool = False
    ) -> httpx.Response:
        """The user dismissed a modal opened with ``notify_on_close``."""
        full_view = self._current_view(view)
        self._fill_view_defaults(full_view)
        full_view.setdefault("state", {"values": {}})
        payload: dict[str, Any] = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "view": full_view,
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._send_interaction(payload)

    def message_shortcut(
        self,
        user_id: str,
        callback_id: str,
        *,
        message: Mapping[str, Any],
        channel_id: str | None = None,
    ) -> httpx.Response:
        """A message shortcut (``message_action``) chosen in a message's ⋮ menu.

        Shape from Slack's shortcut payload reference and bolt's scenario tests: the full
        message as Slack shows it (the fake's stored copy when there is one), its channel,
        ``message_ts``, a fresh ``trigger_id`` and a ``response_url``.
        """
        current, channel = self._current_message(message, channel_id)
        payload: dict[str, Any] = {
            "type": "message_action",
            "token": self.verification_token,
            "action_ts": _now_ts(),
            "team": self._team(),
            "user": self._user(user_id),
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger(user_id),
            "response_url": self._response_url(
                "actions", channel_id=channel, user_id=user_id, message_ts=current["ts"]
            ),
            "message_ts": current["ts"],
            "message": current,
        }
        return self._send_interaction(payload)

    def _fill_view_defaults(self, view: dict[str, Any]) -> None:
        """Views not opened through the fake still get every field Slack sends."""
        view_id = view.setdefault("id", _slack_id("V", 8))
        defaults: dict[str, Any] = {
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": {"type": "plain_text", "text": "Vigie", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.api_app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.fake.bot_id if self.fake is not None else "B0BOT",
        }
        for key, value in defaults.items():
            view.setdefault(key, value)

    # ------------------------------------------------------------------ slash commands

    def command(
        self,
        command: str,
        text: str = "",
        *,
        user_id: str,
        channel_id: str = "C0001",
        user_name: str | None = None,
        channel_name: str | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> httpx.Response:
        """A slash command invocation, with every form field Slack sends."""
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name or self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": user_name or self._user(user_id)["name"],
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url
            or self._response_url("commands", channel_id=channel_id, user_id=user_id),
            "trigger_id": trigger_id or self._trigger(user_id),
        }
        self.last_payload = dict(fields)
        return self._post(*self.build_form(fields))


# ---------------------------------------------------------------------- Block Kit helpers


def _iter_elements(blocks: Sequence[Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """``(block_id, element, in_input_block)`` for every interactive element."""
    found: list[tuple[str, dict[str, Any], bool]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = str(block.get("block_id", ""))
        kind = block.get("type")
        if kind == "actions":
            for element in block.get("elements", []):
                if isinstance(element, dict):
                    found.append((block_id, element, False))
        elif kind == "section" and isinstance(block.get("accessory"), dict):
            found.append((block_id, block["accessory"], False))
        elif kind == "input" and isinstance(block.get("element"), dict):
            found.append((block_id, block["element"], True))
    return found


def find_element(
    blocks: Sequence[Any], action_id: str, *, block_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Locate an interactive element by ``action_id`` (and ``block_id``) in Block Kit."""
    for found_block, element, _ in _iter_elements(blocks):
        if element.get("action_id") == action_id and block_id in (None, found_block):
            return found_block, element
    where = f" in block {block_id!r}" if block_id else ""
    raise ValueError(f"no element with action_id {action_id!r}{where} is displayed")


def _all_options(element: Mapping[str, Any]) -> list[dict[str, Any]]:
    options = [o for o in element.get("options", []) if isinstance(o, dict)]
    for group in element.get("option_groups", []):
        options.extend(o for o in group.get("options", []) if isinstance(o, dict))
    return options


def _with_emoji(text: Any) -> Any:
    """Slack echoes ``plain_text`` objects back with ``"emoji": true`` filled in."""
    out = copy.deepcopy(text)
    if isinstance(out, dict) and out.get("type") == "plain_text":
        out.setdefault("emoji", True)
    return out


def _option(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return copy.deepcopy(dict(value))
    if element.get("type", "").endswith("external_select"):
        return {
            "text": {"type": "plain_text", "text": str(value), "emoji": True},
            "value": str(value),
        }
    for option in _all_options(element):
        if option.get("value") == value:
            found = copy.deepcopy(option)
            found["text"] = _with_emoji(found.get("text"))
            return found
    raise ValueError(f"option {value!r} is not offered by {element.get('action_id')!r}")


def _selection(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """The ``selected_*``/``value`` fields Slack reports for an element (``_UNSET``: initial)."""
    kind = str(element.get("type"))
    unset = value is _UNSET
    if kind in _TEXT_INPUTS:
        raw = element.get("initial_value") if unset else value
        return {"value": None if raw is None else str(raw)}
    if kind == "rich_text_input":
        if unset:
            return {"rich_text_value": element.get("initial_value")}
        return {
            "rich_text_value": {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": str(value)}],
                    }
                ],
            }
        }
    if kind in _SINGLE_OPTION:
        if unset:
            return {"selected_option": copy.deepcopy(element.get("initial_option"))}
        return {"selected_option": None if value is None else _option(element, value)}
    if kind in _MULTI_OPTION:
        if unset:
            return {"selected_options": copy.deepcopy(element.get("initial_options", []))}
        values = value if isinstance(value, list | tuple) else [value]
        return {"selected_options": [_option(element, v) for v in values]}
    if kind in _SELECTION_KEYS:
        key, initial = _SELECTION_KEYS[kind]
        raw = copy.deepcopy(element.get(initial)) if unset else value
        if raw is None and kind.startswith("multi_"):
            raw = []
        if isinstance(raw, datetime):
            raw = int(raw.timestamp()) if kind == "datetimepicker" else raw.date().isoformat()
        elif isinstance(raw, date):
            raw = raw.isoformat()
        elif isinstance(raw, tuple):
            raw = list(raw)
        return {key: raw}
    if kind == "button":
        return {"value": element.get("value")}
    return {"value": None if unset else value}


def build_state_values(
    view: Mapping[str, Any], answers: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``view.state.values`` as Slack builds it: every input block, answered or not.

    ``answers`` leaves are either Slack state dicts (with ``type``) used verbatim, or plain
    values converted using the element found in ``view`` (``ValueError`` if absent).
    """
    elements = {
        (bid, str(el.get("action_id"))): (el, in_input)
        for bid, el, in_input in _iter_elements(view.get("blocks", []))
    }
    values: dict[str, dict[str, Any]] = {}
    for (bid, aid), (element, in_input) in elements.items():
        if in_input:
            values.setdefault(bid, {})[aid] = {
                "type": element.get("type"),
                **_selection(element, _UNSET),
            }
    for bid, actions in answers.items():
        for aid, answer in actions.items():
            if isinstance(answer, Mapping) and "type" in answer:
                values.setdefault(bid, {})[aid] = copy.deepcopy(dict(answer))
                continue
            found = elements.get((bid, aid))
            if found is None:
                raise ValueError(f"the view has no element {bid}/{aid}")
            element = found[0]
            values.setdefault(bid, {})[aid] = {
                "type": element.get("type"),
                **_selection(element, answer),
            }
    return values
