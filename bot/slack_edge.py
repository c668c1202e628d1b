"""What `/slack/events` accepts before Bolt sees a byte: Slack's signature, then Slack's shapes.

Bolt parses a body (and crashes on a bad one) before its middleware checks the signature,
so anyone could fill the log with tracebacks. Here the v0 signature is checked on the raw
bytes first (`check_signature`), and only a signed body is parsed (`parse`), strictly and
without ever raising anything but `Refused`: the envelope each kind of request carries is
checked against what Slack documents (the fields Bolt routes on and listeners read), so
what reaches Bolt cannot crash its routing. A click is also checked against what its
listener reads (`ACTION_NEEDS`: the modal it sits in, the option picked, the id of a row),
so a hand-made payload is refused here in one line, never a traceback in a listener.
These errors are for Slack's delivery log and
the operator, so they are in English and say what is wrong, never echo the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from bot.events import ProcessedEvent

MAX_AGE_SECONDS = 300
MAX_BODY_BYTES = 1024 * 1024  # Slack's largest payloads (a full modal) are a few 100 KiB
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"

EVENT_ID_LENGTH: int = ProcessedEvent.__table__.c.event_id.type.length  # type: ignore[attr-defined]
Check = Callable[[Any, str], None]


@dataclass
class Refused(Exception):
    """The request is answered `status` with `reason`, and nothing else happens."""

    status: int
    reason: str


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of `body` sent at `timestamp`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def check_signature(*, secret: str, timestamps: Sequence[str], signatures: Sequence[str],
                    body: bytes, now: float) -> None:
    """Raise `Refused(401)` unless exactly one fresh, matching v0 signature came with `body`."""
    if len(timestamps) != 1 or len(signatures) != 1:
        raise Refused(401, "one X-Slack-Request-Timestamp and one X-Slack-Signature "
                           "header are required")
    timestamp, signature = timestamps[0], signatures[0]
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refused(401, "X-Slack-Request-Timestamp must be Unix time in seconds")
    age = int(now) - int(timestamp)
    if abs(age) > MAX_AGE_SECONDS:
        raise Refused(401, f"request timestamp is {age} s off (at most {MAX_AGE_SECONDS} s)")
    expected = sign(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.encode("latin-1")):
        raise Refused(401, "invalid signature")


def parse(body: bytes, content_types: Sequence[str]) -> dict[str, Any]:
    """The request as Bolt will read it, or `Refused(400)` if Slack would never send it.

    Bolt decides by itself how to read a body (JSON if the content type is exactly
    `application/json` or the body starts with `{`, else a form, its `payload` field as
    JSON when the body mentions one); only bodies where that reading and the declared
    content type agree get through, so Bolt reads the very dict checked here (but for a
    form that mentions "payload" without being one, which `bot.web` corrects).
    """
    if not body:
        raise Refused(400, "empty body")
    if len(content_types) != 1:
        raise Refused(400, "one Content-Type header is required")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    media = content_types[0].split(";")[0].strip().lower()
    if media == JSON_TYPE:
        if not text.startswith("{"):
            raise Refused(400, "a JSON body must be one object")
        return _checked(_json(text, "body"), form=False)
    if media == FORM_TYPE:
        if text.startswith("{"):
            raise Refused(400, "a form body cannot start with '{'")
        fields = _form(text)
        if "payload" in fields:
            return _checked(_json(fields["payload"], "payload"), form=True)
        # A command whose text merely mentions "payload" is a form like any other (Bolt
        # reads it as empty; `bot.web` hands Bolt this reading instead).
        return _checked_form(fields)
    raise Refused(400, f"unsupported content type (Slack sends {JSON_TYPE} or {FORM_TYPE})")


def _json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise Refused(400, f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, too many digits
        raise Refused(400, f"{what} is not valid JSON: {_short(exc)}") from None
    if not isinstance(value, dict):
        raise Refused(400, f"{what} must be a JSON object")
    if _holds_nul(value):
        raise Refused(400, f"{what} holds a NUL character")  # Slack never sends one
    return value


def _holds_nul(value: Any) -> bool:
    """Whether a NUL hides in any string of the document (PostgreSQL cannot store one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _form(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                          encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "body is not form-encoded") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Refused(400, "a form field is repeated")
    if _holds_nul(fields):
        raise Refused(400, "a form field holds a NUL character")
    return fields


# ---------------------------------------------------------------- shapes Slack documents


def _string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise Refused(400, f"{path} must be a string")


def _object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise Refused(400, f"{path} must be an object")


def _field(obj: dict[str, Any], key: str, check: Check, path: str, *,
           required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            raise Refused(400, f"{path}.{key} is missing")
        return
    check(value, f"{path}.{key}")


def _strings(obj: dict[str, Any], path: str, *keys: str, required: bool = False) -> None:
    for key in keys:
        _field(obj, key, _string, path, required=required)


def _with_id(value: Any, path: str) -> None:
    _object(value, path)
    _field(value, "id", _string, path)


def _id_or_object(value: Any, path: str) -> None:
    """`user`, `channel`, `team` are ids in events and objects elsewhere."""
    if not isinstance(value, str):
        _with_id(value, path)


def _identities(obj: dict[str, Any], path: str, *, top: bool = False) -> None:
    """What Bolt reads from every level it searches for ids (body, event, message, item…).

    Events name users and channels by id; the envelope and interactivity payloads carry
    objects (the error handler reads `body["user"]["id"]`)."""
    for key in ("user", "channel", "team", "enterprise"):
        _field(obj, key, _with_id if top and key != "enterprise" else _id_or_object, path)
    _strings(obj, path, "user_id", "channel_id", "team_id", "enterprise_id", "thread_ts",
             "response_url")
    for key in ("message", "previous_message", "item", "assistant_thread"):
        _field(obj, key, _nested, path)


def _nested(value: Any, path: str) -> None:
    _object(value, path)
    _identities(value, path)
    _strings(value, path, "type", "subtype", "ts", "text", "bot_id")


def _list_of(check: Check, *, non_empty: bool = False) -> Check:
    def check_list(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise Refused(400, f"{path} must be a list")
        if non_empty and not value:
            raise Refused(400, f"{path} is empty")
        for index, item in enumerate(value):
            check(item, f"{path}[{index}]")
    return check_list


def _authorization(value: Any, path: str) -> None:
    _object(value, path)
    _strings(value, path, "team_id", "user_id", "enterprise_id")


INTERACTIONS = frozenset({
    "block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut",
    "message_action", "interactive_message", "dialog_submission", "dialog_cancellation",
    "dialog_suggestion", "workflow_step_edit",
})
EVENTS_API = frozenset({"event_callback", "url_verification", "app_rate_limited"})


def _checked(body: dict[str, Any], *, form: bool) -> dict[str, Any]:
    """Events API bodies come as JSON, interactivity payloads as a form's `payload`."""
    path = "payload" if form else "body"
    _field(body, "type", _string, path, required=True)
    kind = body["type"]
    if kind in INTERACTIONS and not form:
        raise Refused(400, "interactivity payloads come form-encoded, as payload=")
    if kind in EVENTS_API and form:
        raise Refused(400, "Events API bodies come as JSON")
    _identities(body, path, top=True)
    _strings(body, path, "token", "api_app_id", "trigger_id", "callback_id", "action_id",
             "block_id", "event_id", "challenge")
    _field(body, "authorizations", _list_of(_authorization), path)
    _field(body, "response_urls", _list_of(_response_url), path)
    if kind == "url_verification":
        _field(body, "challenge", _string, path, required=True)
    elif kind == "event_callback":
        _field(body, "event_id", _event_id, path, required=True)
        _field(body, "event", _event, path, required=True)
    elif kind in INTERACTIONS:
        _interaction(kind, body, path)
    else:  # a type Slack may add later reaches Bolt (a 404), but what Bolt reads is checked
        _field(body, "view", _any_view, path)
        _field(body, "container", _object, path)
        _field(body, "state", _state, path)
        _field(body, "actions", _list_of(_object), path)
    return body


def _event_id(value: Any, path: str) -> None:
    """Slack's are a dozen characters; the ledger of handled events keeps up to 64."""
    _string(value, path)
    if not 0 < len(value) <= EVENT_ID_LENGTH:
        raise Refused(400, f"{path} must be 1 to {EVENT_ID_LENGTH} characters")


def _response_url(value: Any, path: str) -> None:
    _object(value, path)
    _strings(value, path, "response_url", "block_id", "action_id", "channel_id")


def _event(event: Any, path: str) -> None:
    _object(event, path)
    _nested(event, path)
    _field(event, "type", _string, path, required=True)
    _strings(event, path, "event_ts", "reaction", "tab", "item_user")
    kind = event["type"]
    if kind in ("reaction_added", "reaction_removed"):
        _field(event, "item", _object, path, required=True)
        _strings(event, path, "user", "reaction", required=True)
        if event["item"].get("type") == "message":
            _strings(event["item"], f"{path}.item", "channel", "ts", required=True)
    elif kind == "app_mention":
        _strings(event, path, "channel", "ts", required=True)
    elif kind == "app_home_opened":
        _strings(event, path, "user", required=True)


def _interaction(kind: str, body: dict[str, Any], path: str) -> None:
    """The interactivity payloads: who acted, on what, and the ids Bolt routes on."""
    _field(body, "user", _with_id, path, required=True)
    _field(body["user"], "id", _string, f"{path}.user", required=True)
    _field(body, "view", _view, path, required=kind in ("view_submission", "view_closed"))
    _field(body, "container", _object, path)
    _field(body, "state", _state, path)
    _field(body, "channel", _with_id, path)
    if kind == "block_actions":
        _field(body, "trigger_id", _string, path, required=True)
        _field(body, "actions", _list_of(_action, non_empty=True), path, required=True)
        _fits_listener(body, path)
    elif kind == "interactive_message":
        _field(body, "actions", _list_of(_object, non_empty=True), path, required=True)
    elif kind == "block_suggestion":
        _strings(body, path, "action_id", "value", required=True)
    elif kind in ("shortcut", "message_action"):
        _strings(body, path, "callback_id", "trigger_id", required=True)
        if kind == "message_action":
            _field(body, "channel", _with_id, path, required=True)
            _field(body["channel"], "id", _string, f"{path}.channel", required=True)
            _field(body, "message", _nested, path, required=True)
            _field(body["message"], "ts", _string, f"{path}.message", required=True)


def _view(view: Any, path: str) -> None:
    _object(view, path)
    _strings(view, path, "id", "type", "callback_id", required=True)
    _strings(view, path, "hash", "root_view_id", "previous_view_id", "external_id",
             "team_id", "app_id")
    _field(view, "private_metadata", _metadata, path)
    _field(view, "state", _state, path)
    _field(view, "blocks", _list_of(_object), path)


def _any_view(view: Any, path: str) -> None:
    """A view's shape, when the payload's type does not say which fields it must have."""
    _object(view, path)
    _strings(view, path, "id", "type", "callback_id", "hash", "root_view_id",
             "previous_view_id", "external_id", "team_id", "app_id", "private_metadata")
    _field(view, "state", _state, path)
    _field(view, "blocks", _list_of(_object), path)


def _metadata(value: Any, path: str) -> None:
    """Every Vigie view carries its subject as a JSON object here (or nothing), and Slack
    only echoes it back, at most 3,000 characters."""
    _string(value, path)
    if len(value) > 3000:
        raise Refused(400, f"{path} is over 3000 characters")
    if value:
        _json(value, path)


def _state(state: Any, path: str) -> None:
    _object(state, path)
    _field(state, "values", _state_values, path)


def _state_values(values: Any, path: str) -> None:
    """`{block_id: {action_id: {"type": …, "value"/"selected_…": …}}}`."""
    _object(values, path)
    for block_id, block in values.items():
        _object(block, f"{path}.{block_id}")
        for action_id, action in block.items():
            _action_value(action, f"{path}.{block_id}.{action_id}")


def _action(action: Any, path: str) -> None:
    _action_value(action, path)
    _field(action, "action_id", _string, path, required=True)
    _strings(action, path, "block_id", "action_ts")


def _action_value(action: Any, path: str) -> None:
    _object(action, path)
    _strings(action, path, "type", "value", "selected_date", "selected_time",
             "selected_user", "selected_channel", "selected_conversation")
    _field(action, "selected_option", _option, path)
    _field(action, "selected_options", _list_of(_option), path)


def _option(option: Any, path: str) -> None:
    _object(option, path)
    _field(option, "value", _string, path)


@dataclass(frozen=True)
class Needs:
    """What a click's listener reads besides the envelope."""

    in_view: bool = False  # it redraws the modal it sits in (`view.id`, its metadata)
    option: bool = False  # a menu: `selected_option.value`
    value: re.Pattern[str] | None = None  # the shape of `value` (a row's id)
    option_value: re.Pattern[str] | None = None  # the shape of `selected_option.value`


ROW_ID = re.compile(r"\d{0,18}")  # the id of a mention, post or reply ("" reads as none)
VERB_AND_ID = re.compile(r"[a-z_]+:\d{1,18}")  # a menu's "edit:12", "delete:12"
_BUTTON, _MENU = Needs(value=ROW_ID), Needs(option=True)
_IN_MODAL = Needs(in_view=True)
# Every action whose listener reads more than the envelope; the ids are the listeners'
# own (bot.posts.messages, bot.replies.messages, bot.listen.views, bot.posts.templates).
ACTION_NEEDS: dict[str, Needs] = {
    **dict.fromkeys(("posts.approve", "posts.reject", "posts.edit", "posts.cancel",
                     "posts.publish_now", "posts.retry", "posts.confirm", "reply.open",
                     "reply.retry", "reply.confirm", "reply.approve", "reply.reject"),
                    _BUTTON),
    **dict.fromkeys(("posts.template", "posts.quote", "posts.calendar_item",
                     "posts.calendar_period", "reply.template", "reply.text",
                     "templates.add", "templates.menu"), _IN_MODAL),
    "listen_route_menu": Needs(in_view=True, option=True, option_value=VERB_AND_ID),
    "listen_source_menu": Needs(in_view=True, option=True),
}


def _fits_listener(body: dict[str, Any], path: str) -> None:
    """Each action carries what its listener reads (`ACTION_NEEDS`)."""
    for index, action in enumerate(body["actions"]):
        needs = ACTION_NEEDS.get(action["action_id"])
        if needs is None:
            continue
        where = f"{path}.actions[{index}]"
        if needs.in_view and not isinstance(body.get("view"), dict):
            raise Refused(400, f"{action['action_id']} acts in a modal: {path}.view is "
                               "missing")
        option = action.get("selected_option")
        if needs.option and not isinstance(option, dict):
            raise Refused(400, f"{where}.selected_option is missing (a menu's choice)")
        value = action.get("value")
        if needs.value is not None and value is not None \
                and not needs.value.fullmatch(value):
            raise Refused(400, f"{where}.value is not what {action['action_id']} gives")
        if needs.option_value is not None and not needs.option_value.fullmatch(
                str((option or {}).get("value") or "")):
            raise Refused(400, f"{where}.selected_option.value is not what "
                               f"{action['action_id']} gives")


def _checked_form(fields: dict[str, str]) -> dict[str, Any]:
    """A slash command (or Slack's `ssl_check`): every value of a form is a string."""
    if fields.get("ssl_check") == "1":
        return dict(fields)
    command = fields.get("command")
    if command is None:
        raise Refused(400, "form has no command, payload or ssl_check")
    if not command.startswith("/"):
        raise Refused(400, "command must start with '/'")
    for key in ("user_id", "channel_id", "trigger_id"):
        if not fields.get(key):
            raise Refused(400, f"command has no {key}")
    return dict(fields)
