"""The sandbox's browser API (`/sandbox/api/*`, contract in `bot/sandbox/API.md`) and the
web client's files, served by the Slack-compatible server itself.

Why: a person in the browser is a Slack user. Reading shows Slack's own state (messages,
ephemerals, views, files) as the bot left it through the Web API; acting is turned into
the signed payloads Slack would send the bot (`SlackDriver`), so what a person sees is
what the real Vigie did, not a second UI.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import mimetypes
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

import httpx

from bot.sandbox.driver import (
    SlackDriver,
    _selection,
    _with_emoji,
    build_state_values,
    find_element,
)
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack

log = logging.getLogger(__name__)

PREFIX: Final = "/sandbox/api/"
LONG_POLL_MAX: Final = 30.0  # seconds a `changes` request may wait
HISTORY_LIMIT: Final = 100  # messages in a `history` page unless `limit` says (Slack's)
HISTORY_MAX: Final = 999  # conversations.history's own maximum
_CURSOR_PREFIX: Final = "next_ts:"
WEB_DIR: Final = Path(__file__).with_name("web")
_VALUE_KEYS: Final = ("value", "selected_option", "selected_options", "selected_user",
                      "selected_users", "selected_date", "selected_time",
                      "selected_conversation", "selected_channel", "selected_date_time")
_FALLBACK_PAGE: Final = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Vigie — bac à sable / sandbox</title></head>
<body><main><h1>Vigie — bac à sable / sandbox</h1>
<p>Le client web n'est pas présent dans cette copie (bot/sandbox/web/).
The web client is not in this checkout (bot/sandbox/web/).</p>
<p>API: <a href="/sandbox/api/bootstrap">/sandbox/api/bootstrap</a></p></main></body></html>
"""

Route = tuple[int, bytes, str, dict[str, str]]


class ApiError(Exception):
    """Answered as HTTP 4xx ``{"ok": false, "error", "message"}``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True)
class Person:
    """Someone the browser can be: a Slack user of the sandbox workspace, with the label
    of the "who am I" menu."""

    id: str
    name: str
    real_name: str
    role: str


@dataclass(frozen=True)
class Command:
    """A slash command as the app's manifest declares it."""

    command: str
    description: str = ""
    usage_hint: str = ""


@dataclass(frozen=True)
class Shortcut:
    name: str
    callback_id: str
    type: str = "message"
    description: str = ""


@dataclass
class SandboxHooks:
    """What only the demo can do: paste a mention through the real intake, move the
    clock. Left None, those endpoints answer 404."""

    paste_mention: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    advance_clock: Callable[[float], datetime] | None = None
    now: Callable[[], datetime] | None = None


@dataclass
class SandboxApi:
    slack: FakeSlack
    driver: SlackDriver
    people: list[Person]
    commands: list[Command] = field(default_factory=list)
    shortcuts: list[Shortcut] = field(default_factory=list)
    locale: str = "fr"
    mastodon: FakeMastodon | None = None
    hooks: SandboxHooks = field(default_factory=SandboxHooks)
    web_dir: Path = WEB_DIR
    _clock_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def install(self) -> None:
        """Serve the browser API and the web client from the Slack server."""
        self.slack.extra_routes = self.route
        if self.mastodon is not None:
            self.mastodon.on_post = lambda status: self.slack.notify(
                "mastodon", status_id=status["id"])

    # ------------------------------------------------------------------ routing

    def route(self, method: str, path: str, query: str, raw: bytes,
              headers: Mapping[str, str]) -> Route | None:
        if not path.startswith(PREFIX):
            return self._static(path) if method in ("GET", "HEAD") else None
        name = path[len(PREFIX):]
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            if method == "GET":
                if name.startswith("files/"):
                    return self._file(name[len("files/"):])
                getter = self._getters().get(name)
                if getter is None:
                    raise ApiError(404, "unknown_method", f"No such endpoint: {path}")
                return _json(200, getter(params))
            if method == "POST":
                action = self._actions().get(name)
                if action is None:
                    raise ApiError(404, "unknown_method", f"No such endpoint: {path}")
                try:
                    body = json.loads(raw.decode("utf-8") or "{}")
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ApiError(400, "invalid_json", f"The body is not JSON: {exc}") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "invalid_json", "The body must be a JSON object.")
                return _json(200, {"ok": True, **action(body)})
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed here")
        except ApiError as exc:
            return _json(exc.status, {"ok": False, "error": exc.error, "message": exc.message})
        except httpx.HTTPError as exc:
            log.warning("the bot could not be reached: %s", exc)
            return _json(502, {"ok": False, "error": "bot_unreachable",
                               "message": f"Vigie did not answer: {exc}"})
        except Exception:  # the page must always get an answer, never a dropped connection
            log.exception("the sandbox API failed on %s %s", method, path)
            return _json(500, {"ok": False, "error": "internal_error", "message":
                               "Le bac à sable a rencontré une erreur (détails dans le "
                               "terminal de vigie demo) ; réessayez. / The sandbox hit an "
                               "error (details in vigie demo's terminal); try again."})

    def _getters(self) -> dict[str, Callable[[dict[str, str]], dict[str, Any]]]:
        return {"bootstrap": self.bootstrap, "history": self.history, "replies": self.replies,
                "views": self.views, "changes": self.changes, "mastodon": self.statuses}

    def _actions(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"message": self.message, "action": self.action, "reaction": self.reaction,
                "view_submission": self.view_submission, "view_closed": self.view_closed,
                "shortcut": self.shortcut, "home_opened": self.home_opened,
                "mention": self.mention, "clock": self.clock}

    def _static(self, path: str) -> Route | None:
        if path in ("/", "/index.html"):
            index = self.web_dir / "index.html"
            body = index.read_bytes() if index.is_file() else _FALLBACK_PAGE.encode()
            return 200, body, "text/html; charset=utf-8", {"Cache-Control": "no-cache"}
        if not path.startswith("/static/"):
            return None
        root = self.web_dir.resolve()
        target = (root / path[len("/static/"):]).resolve()
        if root not in target.parents or not target.is_file():
            return 404, b"not found", "text/plain", {}
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
            kind += "; charset=utf-8"
        return 200, target.read_bytes(), kind, {"Cache-Control": "no-cache"}

    # ------------------------------------------------------------------ reading

    def bootstrap(self, params: dict[str, str]) -> dict[str, Any]:
        me = params.get("user") or (self.people[0].id if self.people else "")
        people = {p.id: p for p in self.people}
        users = []
        for user in self.slack.users():
            person = people.get(user["id"])
            users.append({"id": user["id"], "name": user["name"],
                          "real_name": user.get("real_name", user["name"]),
                          "is_bot": bool(user.get("is_bot")),
                          "role": person.role if person else ""})
        channels: list[dict[str, Any]] = [
            {**c, "is_im": False} for c in self.slack.channels()
            if c["is_member"] or me in c["members"]]
        if me:
            channels.append({"id": self.slack.dm_channel(me), "name": self.slack.bot_name,
                             "is_im": True, "is_private": True, "is_member": True,
                             "user": self.slack.bot_user_id,
                             "members": [me, self.slack.bot_user_id]})
        return {
            "team": {"id": self.slack.team_id, "name": self.slack.team_name,
                     "domain": self.slack.team_domain},
            "bot_user_id": self.slack.bot_user_id,
            "me": me,
            "users": users,
            "channels": channels,
            "commands": [vars(c) for c in self.commands],
            "shortcuts": [vars(s) for s in self.shortcuts],
            "locale": self.locale,
            "now": self.hooks.now().isoformat() if self.hooks.now else None,
        }

    def history(self, params: dict[str, str]) -> dict[str, Any]:
        """A page of the channel, as conversations.history pages: the newest ``limit``
        messages older than ``cursor`` (the person's ephemerals among them), and the
        cursor of the next, older page.

        Why: a channel of 1,000 cards is 4 MB; the page opens on its latest ones and
        reads older pages as the reader scrolls up."""
        channel = _required(params, "channel")
        limit = _int(params.get("limit"), HISTORY_LIMIT)
        if not 1 <= limit <= HISTORY_MAX:
            raise ApiError(400, "invalid_limit", f"limit: de 1 à {HISTORY_MAX}. / "
                           f"limit: from 1 to {HISTORY_MAX}.")
        before = _cursor_ts(params.get("cursor"))
        newest = self.slack.top_level_before(channel, before, limit + 1)
        newest += [m for m in self._ephemerals(channel, params.get("user"))
                   if not m.get("thread_ts")
                   and (before is None or _ts_key(m["ts"]) < _ts_key(before))]
        newest.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
        page, has_more = newest[:limit], len(newest) > limit
        page.reverse()  # oldest → newest, as the page shows them
        return {"messages": [self._decorate(m) for m in page], "has_more": has_more,
                "response_metadata": {
                    "next_cursor": _next_cursor(page[0]["ts"]) if has_more else ""}}

    def replies(self, params: dict[str, str]) -> dict[str, Any]:
        channel, ts = _required(params, "channel"), _required(params, "ts")
        thread = self.slack.thread(channel, ts)
        if not any(m["ts"] == ts for m in thread):
            raise ApiError(404, "thread_not_found", "This message does not exist (any more).")
        thread += [m for m in self._ephemerals(channel, params.get("user"))
                   if m.get("thread_ts") == ts]
        thread.sort(key=lambda m: (m["ts"] != ts, _ts_key(m["ts"])))
        return {"messages": [self._decorate(m) for m in thread]}

    def views(self, params: dict[str, str]) -> dict[str, Any]:
        user = _required(params, "user")
        return {"modals": self.slack.open_modals(user), "home": self.slack.home_view(user)}

    def changes(self, params: dict[str, str]) -> dict[str, Any]:
        since = _int(params.get("since"), 0)
        timeout = min(max(_float(params.get("timeout"), 25.0), 0.0), LONG_POLL_MAX)
        cursor, changes = self.slack.changes_since(since, timeout)
        return {"cursor": cursor, "changes": changes}

    def statuses(self, params: dict[str, str]) -> dict[str, Any]:
        if self.mastodon is None:
            return {"statuses": [], "instance": None}
        posted = list(reversed(self.mastodon.posted))
        return {"instance": self.mastodon.domain, "statuses": [
            {"id": s["id"], "account": {k: s["account"][k] for k in
                                        ("id", "username", "acct", "display_name", "url")},
             "content": s["content"], "text": s.get("_text", ""),
             "in_reply_to_id": s["in_reply_to_id"], "created_at": s["created_at"],
             "url": s["url"], "visibility": s["visibility"]} for s in posted]}

    def _file(self, file_id: str) -> Route:
        stored = self.slack.file(file_id)
        if stored is None or not stored.uploaded:
            return _json(404, {"ok": False, "error": "file_not_found",
                               "message": "No such file."})
        kind = mimetypes.guess_type(stored.filename)[0] or "application/octet-stream"
        disposition = "inline" if kind.startswith("image/") else "attachment"
        return 200, stored.content, kind, {
            "Content-Disposition": f'{disposition}; filename="{_safe_name(stored.filename)}"'}

    def _ephemerals(self, channel: str, user: str | None) -> list[dict[str, Any]]:
        if not user:
            return []
        return [{**m, "ephemeral": True} for m in self.slack.ephemerals(channel, user)]

    def _decorate(self, message: dict[str, Any]) -> dict[str, Any]:
        """Files get a URL the browser can fetch; the bot's metadata stays Slack's."""
        for item in message.get("files", []) or []:
            if isinstance(item, dict) and item.get("id"):
                item["url_private"] = f"{PREFIX}files/{item['id']}"
        return message

    # ------------------------------------------------------------------ acting

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        user, channel = self._person(body), _required(body, "channel")
        text = str(body.get("text") or "")
        if not text.strip():
            raise ApiError(400, "no_text", "Écrivez un message. / Type a message.")
        thread_ts = body.get("thread_ts") or None
        if text.startswith("/"):
            name, _, rest = text.partition(" ")
            command = next((c for c in self.commands if c.command == name.lower()), None)
            if command is None:
                known = ", ".join(c.command for c in self.commands)
                raise ApiError(400, "unknown_command",
                               f"{name} n'est pas une commande connue ({known}). / "
                               f"{name} is not a known command ({known}).")
            answer = self.driver.command(command.command, rest.strip(), user_id=user,
                                         channel_id=channel)
            _check(answer, "command")
            reply = _json_body(answer)
            if reply and (reply.get("text") or reply.get("blocks")):
                self.slack.respond(channel, user, reply)
            return {"command": command.command}
        if channel == self.slack.dm_channel(user):
            raise ApiError(400, "messages_tab_read_only",
                           "On n'écrit pas à Vigie ici (onglet Messages en lecture seule) ; "
                           "les commandes / fonctionnent. / Vigie's Messages tab is read "
                           "only; slash commands work.")
        text = re.sub(rf"(?i)(?<![<\w])@{re.escape(self.slack.bot_name)}\b",
                      f"<@{self.slack.bot_user_id}>", text)
        if f"<@{self.slack.bot_user_id}>" in text:
            # app_mention is the only message event Vigie subscribes to (manifest.yml).
            _check(self.driver.app_mention(user, text, channel=channel, thread_ts=thread_ts),
                   "app_mention")
            event = self.driver.last_event or {}
            return {"ts": event.get("ts")}
        ts = self.slack.add_message(channel, text, user=user, thread_ts=thread_ts)
        return {"ts": ts}

    def action(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._person(body)
        action_id = _required(body, "action_id")
        block_id = body.get("block_id") or None
        view_id, message_ts = body.get("view_id"), body.get("message_ts")
        if view_id:
            view = self.slack.view(str(view_id))
            if view is None:
                raise ApiError(404, "view_not_found", "Cette fenêtre est fermée. / "
                               "This modal is closed.")
            found_block, element = self._element(view.get("blocks", []), action_id, block_id)
            state = body.get("state")
            if isinstance(state, dict) and isinstance(state.get("values"), dict):
                state = state["values"]  # Slack's own shape: {"values": {…}}
            if isinstance(state, dict):  # what the person typed in the other inputs
                self.slack.set_view_state(view["id"], state)
            answer = _answer_of(body, element)
            values = build_state_values(self.slack.view(view["id"]) or view, {})
            if isinstance(state, dict):
                values.update(copy.deepcopy(state))
            block = next((b for b in view.get("blocks", []) if isinstance(b, dict)
                          and b.get("block_id") == found_block), {})
            if block.get("type") == "input":
                values.setdefault(found_block, {})[action_id] = {
                    "type": element.get("type"), **_selected(element, answer)}
                if not block.get("dispatch_action"):
                    # Slack sends nothing for it: the value waits for the submission.
                    self.slack.set_view_state(view["id"], values)
                    return {"dispatched": False}
            result = self.driver.block_actions(
                user_id=user, view=view, state=values,
                actions=[_action(found_block, action_id, element, answer)])
            _check(result, "block_actions")
            return {"dispatched": True}
        channel = _required(body, "channel")
        if not message_ts:
            raise ApiError(400, "missing_argument", "message_ts or view_id is required")
        message = self.slack.message(channel, str(message_ts))
        ephemeral = False
        if message is None:
            message = next((m for m in self.slack.ephemerals(channel, user)
                            if m["ts"] == message_ts), None)
            ephemeral = True
        if message is None:
            raise ApiError(404, "message_not_found", "Ce message n'existe plus. / "
                           "This message is gone.")
        found_block, element = self._element(message.get("blocks", []), action_id, block_id)
        answer = _answer_of(body, element)
        container: dict[str, Any] | None = None
        if ephemeral:
            container = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                         "is_ephemeral": True}
        result = self.driver.block_actions(
            user_id=user, channel_id=channel, message=message, container=container,
            actions=[_action(found_block, action_id, element, answer)])
        _check(result, "block_actions")
        return {"dispatched": True}

    def reaction(self, body: dict[str, Any]) -> dict[str, Any]:
        user, channel = self._person(body), _required(body, "channel")
        ts, name = _required(body, "ts"), _required(body, "name").strip(":")
        if self.slack.message(channel, ts) is None:
            raise ApiError(404, "message_not_found", "Ce message n'existe plus. / "
                           "This message is gone.")
        send = self.driver.reaction_added if body.get("add", True) else \
            self.driver.reaction_removed
        _check(send(user, name, channel, ts), "reaction")
        return {}

    def view_submission(self, body: dict[str, Any]) -> dict[str, Any]:
        user, view_id = self._person(body), _required(body, "view_id")
        view = self.slack.view(view_id)
        if view is None or view_id not in [v["id"] for v in self.slack.open_modals(user)]:
            raise ApiError(404, "view_not_found", "Cette fenêtre est fermée. / "
                           "This modal is closed.")
        given = body.get("values") or {}
        if not isinstance(given, dict):
            raise ApiError(400, "invalid_values", "values must be {block_id: {action_id: …}}")
        # What was kept from earlier inputs (`action` on an input), then what is sent now.
        values: dict[str, Any] = copy.deepcopy(view.get("state", {}).get("values") or {})
        for block_id, actions in given.items():
            if isinstance(actions, dict):
                values.setdefault(block_id, {}).update(copy.deepcopy(actions))
        try:
            answer = self.driver.view_submission(user_id=user, view=view, values=values)
        except ValueError as exc:
            raise ApiError(400, "invalid_values", str(exc)) from None
        _check(answer, "view_submission")
        reply = _json_body(answer) or {}
        action = reply.get("response_action")
        if action == "errors":
            return {"response_action": "errors", "errors": reply.get("errors") or {}}
        if action == "update" and isinstance(reply.get("view"), dict):
            self.slack.replace_modal(user, view_id, reply["view"])
        elif action == "push" and isinstance(reply.get("view"), dict):
            self.slack.push_modal(user, view_id, reply["view"])
        else:
            self.slack.close_modal(user, view_id, all_views=action == "clear")
        return {"response_action": action} if action else {}

    def view_closed(self, body: dict[str, Any]) -> dict[str, Any]:
        user, view_id = self._person(body), _required(body, "view_id")
        view = self.slack.view(view_id)
        if view is None:
            raise ApiError(404, "view_not_found", "Cette fenêtre est fermée. / "
                           "This modal is closed.")
        self.slack.close_modal(user, view_id)
        if view.get("notify_on_close"):  # Slack tells the app only when it asked
            _check(self.driver.view_closed(user_id=user, view=view), "view_closed")
        return {}

    def shortcut(self, body: dict[str, Any]) -> dict[str, Any]:
        user, channel = self._person(body), _required(body, "channel")
        ts, callback = _required(body, "message_ts"), _required(body, "callback_id")
        if callback not in {s.callback_id for s in self.shortcuts}:
            raise ApiError(400, "unknown_shortcut", f"No shortcut {callback!r}")
        message = self.slack.message(channel, ts)
        if message is None:
            raise ApiError(404, "message_not_found", "Ce message n'existe plus. / "
                           "This message is gone.")
        _check(self.driver.message_shortcut(user, callback, message=message, channel_id=channel),
               "shortcut")
        return {}

    def home_opened(self, body: dict[str, Any]) -> dict[str, Any]:
        _check(self.driver.app_home_opened(self._person(body)), "app_home_opened")
        return {}

    def mention(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.hooks.paste_mention is None:
            raise ApiError(404, "unknown_method", "No intake to paste into here.")
        if not str(body.get("text") or "").strip():
            raise ApiError(400, "no_text", "Collez le texte d'une mention. / "
                           "Paste a mention's text.")
        return self.hooks.paste_mention(body)

    def clock(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.hooks.advance_clock is None:
            raise ApiError(404, "unknown_method", "This sandbox has no clock to move.")
        minutes = body.get("advance_minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or \
                not 0 < minutes <= 60 * 24 * 31:
            raise ApiError(400, "invalid_minutes", "advance_minutes: un nombre de minutes "
                           "entre 1 et 44640. / a number of minutes from 1 to 44640.")
        with self._clock_lock:  # two quick clicks: one move after the other, both answered
            now = self.hooks.advance_clock(float(minutes))
            self.slack.notify("clock", now=now.isoformat())
        return {"now": now.isoformat()}

    # ------------------------------------------------------------------ helpers

    def _person(self, body: Mapping[str, Any]) -> str:
        user = str(body.get("user") or "")
        if self.slack.user(user) is None or user == self.slack.bot_user_id:
            raise ApiError(400, "unknown_user", f"No such person: {user!r}")
        return user

    @staticmethod
    def _element(blocks: list[Any], action_id: str, block_id: str | None
                 ) -> tuple[str, dict[str, Any]]:
        try:
            return find_element(blocks, action_id, block_id=block_id)
        except ValueError as exc:
            raise ApiError(404, "element_not_found", str(exc)) from None


def _answer_of(body: Mapping[str, Any], element: Mapping[str, Any]) -> Any:
    """The person's choice, as given by the browser (an option's value or the option
    itself, a user id, a date…); a button's value is its own."""
    if element.get("type") == "button":
        return element.get("value")
    for key in _VALUE_KEYS:
        if key in body:
            value = body[key]
            if key == "selected_options" and isinstance(value, list):
                return [o.get("value") if isinstance(o, dict) else o for o in value]
            if key == "selected_option" and isinstance(value, dict):
                return value.get("value")
            return value
    raise ApiError(400, "missing_value", "Say what was chosen (value, selected_option…).")


def _selected(element: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    try:
        return _selection(element, answer)
    except ValueError as exc:
        raise ApiError(400, "invalid_value", str(exc)) from None


def _action(block_id: str, action_id: str, element: Mapping[str, Any], answer: Any
            ) -> dict[str, Any]:
    """One entry of ``actions`` as Slack reports it for this element."""
    action: dict[str, Any] = {"action_id": action_id, "block_id": block_id,
                              "type": element.get("type")}
    if element.get("type") == "button":
        action["text"] = _with_emoji(element.get("text"))
        if "value" in element:
            action["value"] = element["value"]
        if "style" in element:
            action["style"] = element["style"]
        return action
    action.update(_selected(element, answer))
    if "placeholder" in element:
        action["placeholder"] = copy.deepcopy(element["placeholder"])
    return action


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise ApiError(502, "bot_error", f"Vigie answered HTTP {response.status_code} "
                       f"to the {what}.")


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        loaded = response.json()
    except ValueError:
        return {"text": response.text} if response.text.strip() else None
    return loaded if isinstance(loaded, dict) else None


def _json(status: int, body: Mapping[str, Any]) -> Route:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return status, data, "application/json; charset=utf-8", {"Cache-Control": "no-store"}


def _required(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if value in (None, ""):
        raise ApiError(400, "missing_argument", f"{key} is required")
    return str(value)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise ApiError(400, "invalid_argument", f"not a whole number: {value!r}") from None


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        raise ApiError(400, "invalid_argument", f"not a number: {value!r}") from None


def _next_cursor(ts: str) -> str:
    """Slack's cursors are opaque base64 (``next_ts:…`` inside, for history)."""
    return base64.b64encode((_CURSOR_PREFIX + ts).encode()).decode()


def _cursor_ts(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeError):
        text = ""
    ts = text[len(_CURSOR_PREFIX):]
    if not text.startswith(_CURSOR_PREFIX) or not re.fullmatch(r"\d+\.\d+", ts):
        raise ApiError(400, "invalid_cursor", "Ce curseur ne vient pas de history. / "
                       "This cursor did not come from history.")
    return ts


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec or 0), int((frac + "000000")[:6])


def _safe_name(name: str) -> str:
    return re.sub(r'[^\w.\- ]', "_", name)
