"""Block Kit for `/vigie sources` and `/vigie routes`: the list modals and the forms.
Pure functions; the handlers open, push and update them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.config import Config, Route, Source
from bot.i18n import catalogue
from bot.listen.catalog import StoredRoute
from bot.listen.models import ConfigChange, SourceState
from bot.platforms import PLATFORMS, platform
from bot.reasons import shown_reason
from bot.slack_format import date, escape, escaped_within, mrkdwn, plain

ROUTES_CALLBACK = "listen_routes"
SOURCES_CALLBACK = "listen_sources"
ROUTE_FORM = "listen_route_form"
SOURCE_FORM = "listen_source_form"
ROUTE_MENU = "listen_route_menu"
ROUTE_ADD = "listen_route_add"
SOURCE_MENU = "listen_source_menu"
SOURCE_ADD = "listen_source_add"
FIELD = "value"  # action_id of every input in the forms
# The "Add …" buttons: every platform a source can be of (text: `listen.ui.add_<name>`).
SOURCE_KINDS = tuple(p.name for p in sorted(PLATFORMS, key=lambda p: "push" in p.listens))


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"listen.ui.{key}", **params)


def _when(moment: datetime) -> str:
    return date(moment, moment.strftime("%Y-%m-%d %H:%M UTC"), "{date_short_pretty} {time}")


def _modal(title: str, blocks: list[dict[str, Any]], locale: str, *, callback_id: str,
           metadata: Mapping[str, Any] | None = None, submit: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal", "callback_id": callback_id, "title": plain(title[:24]),
        "close": plain(_t(locale, "close")), "blocks": blocks[:100],
        "private_metadata": json.dumps(dict(metadata or {})),
    }
    if submit:
        view["submit"] = plain(_t(locale, "save"))
    return view


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text[:75]), "value": value}


def _last_change(change: ConfigChange | None, locale: str) -> list[dict[str, Any]]:
    if change is None:
        return []
    text = _t(locale, "last_change", action=escape(change.action), subject=escape(change.subject),
              subject_id=escape(change.subject_id), user=escape(change.user_id),
              when=_when(change.at))
    return [{"type": "context", "elements": [mrkdwn(text, verbatim=False)]}]


# -- routes -------------------------------------------------------------------------------------
def route_conditions(rule: Route, locale: str) -> str:
    parts = []
    for key in ("accounts", "sources", "keywords", "languages", "authors"):
        values = getattr(rule, key)
        if values:
            parts.append(_t(locale, f"cond_{key}", values=escape(", ".join(values))))
    return " · ".join(parts)


def routes_view(routes: Sequence[StoredRoute], config: Config, *, locale: str,
                last: ConfigChange | None = None) -> dict[str, Any]:
    default = config.channels.mentions
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(_t(locale, "routes_intro", channel=default),
                                           verbatim=False)},
        {"type": "actions", "block_id": "routes_actions", "elements": [
            {"type": "button", "action_id": ROUTE_ADD, "text": plain(_t(locale, "add_route")),
             "value": "add", "style": "primary"}]},
        {"type": "divider"},
    ]
    if not routes:
        blocks.append({"type": "section", "text": mrkdwn(
            _t(locale, "no_routes", channel=default), verbatim=False)})
    for index, stored in enumerate(routes[:40]):
        rule = stored.rule
        text = _t(locale, "route_line", position=index + 1,
                  name=escaped_within(rule.name or "—", 80), channel=rule.channel,
                  conditions=route_conditions(rule, locale))
        options = [_option(_t(locale, "edit"), f"edit:{stored.id}")]
        if index > 0:
            options.append(_option(_t(locale, "move_up"), f"up:{stored.id}"))
        if index < len(routes) - 1:
            options.append(_option(_t(locale, "move_down"), f"down:{stored.id}"))
        options.append(_option(_t(locale, "delete"), f"delete:{stored.id}"))
        blocks.append({"type": "section", "block_id": f"route_{stored.id}",
                       "text": mrkdwn(text, verbatim=False),
                       "accessory": {"type": "overflow", "action_id": ROUTE_MENU,
                                     "options": options}})
    blocks.extend(_last_change(last, locale))
    return _modal(_t(locale, "routes_title"), blocks, locale, callback_id=ROUTES_CALLBACK)


def _text_input(block_id: str, label: str, *, initial: str | None = None, optional: bool = True,
                multiline: bool = False, hint: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": FIELD,
                               "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(label),
                             "optional": optional, "element": element}
    if hint:
        block["hint"] = plain(hint)
    return block


def _multi_select(block_id: str, label: str, options: list[dict[str, Any]],
                  initial: Sequence[str]) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "multi_static_select", "action_id": FIELD,
                               "options": options[:100]}
    chosen = [o for o in options if o["value"] in initial]
    if chosen:
        element["initial_options"] = chosen
    return {"type": "input", "block_id": block_id, "label": plain(label), "optional": True,
            "element": element}


def route_form(config: Config, sources: Sequence[Source], *, locale: str, root_view: str,
               stored: StoredRoute | None = None) -> dict[str, Any]:
    rule = stored.rule if stored else None
    channel: dict[str, Any] = {"type": "conversations_select", "action_id": FIELD,
                               "filter": {"include": ["public", "private"],
                                          "exclude_bot_users": True}}
    if rule:
        channel["initial_conversation"] = rule.channel
    blocks = [
        _text_input("name", _t(locale, "field_name"), initial=rule.name if rule else None),
        {"type": "input", "block_id": "channel", "label": plain(_t(locale, "field_channel")),
         "element": channel},
        _text_input("keywords", _t(locale, "field_keywords"), multiline=True,
                    initial=", ".join(rule.keywords) if rule else None,
                    hint=_t(locale, "hint_keywords")),
    ]
    if config.accounts:
        blocks.append(_multi_select("accounts", _t(locale, "field_accounts"),
                                    [_option(a.name, a.id) for a in config.accounts],
                                    rule.accounts if rule else []))
    if sources:
        blocks.append(_multi_select("sources", _t(locale, "field_sources"),
                                    [_option(s.id, s.id) for s in sources],
                                    rule.sources if rule else []))
    blocks += [
        _text_input("languages", _t(locale, "field_languages"),
                    initial=", ".join(rule.languages) if rule else None),
        _text_input("authors", _t(locale, "field_authors"),
                    initial=", ".join(rule.authors) if rule else None),
    ]
    title = _t(locale, "edit") if stored else _t(locale, "add_route")
    return _modal(title, blocks, locale, callback_id=ROUTE_FORM, submit=True,
                  metadata={"route_id": stored.id if stored else None, "root": root_view})


# -- sources ------------------------------------------------------------------------------------
def source_state_text(source: Source, state: SourceState | None, locale: str) -> str:
    if not source.enabled:
        return _t(locale, "state_off")
    if not source.polled:
        return ""
    if state is None or state.last_polled_at is None:
        return _t(locale, "state_never")
    if state.failures and state.failing_since:
        return _t(locale, "state_failing", when=_when(state.failing_since),
                  error=shown_reason(state.last_error, locale, limit=120))
    return _t(locale, "state_ok", when=_when(state.last_ok_at or state.last_polled_at))


def sources_view(sources: Sequence[Source], states: Mapping[str, SourceState], config: Config,
                 *, locale: str, last: ConfigChange | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "actions", "block_id": "sources_actions", "elements": [
            {"type": "button", "action_id": f"{SOURCE_ADD}_{kind}", "value": kind,
             "text": plain(_t(locale, f"add_{kind}"))}
            for kind in SOURCE_KINDS]},
        {"type": "divider"},
    ]
    if not sources:
        blocks.append({"type": "section", "text": mrkdwn(_t(locale, "no_sources"))})
    for source in sources[:40]:
        account = config.account(source.account)
        text = _t(locale, "source_line", id=escape(source.id), type=source.type,
                  account=_t(locale, "account_suffix", account=escape(account.name))
                  if account else "",
                  state=source_state_text(source, states.get(source.id), locale))
        detail = source.url or source.instance or source.handle or ""
        if detail:
            text += f"\n`{escaped_within(detail, 200)}`"
        toggle = ("disable", "disable") if source.enabled else ("enable", "enable")
        options = [_option(_t(locale, "edit"), f"edit:{source.id}"),
                   _option(_t(locale, toggle[0]), f"{toggle[1]}:{source.id}"),
                   _option(_t(locale, "delete"), f"delete:{source.id}")]
        blocks.append({"type": "section", "block_id": f"source_{source.id}",
                       "text": mrkdwn(text, verbatim=False),
                       "accessory": {"type": "overflow", "action_id": SOURCE_MENU,
                                     "options": options}})
    blocks.extend(_last_change(last, locale))
    return _modal(_t(locale, "sources_title"), blocks, locale, callback_id=SOURCES_CALLBACK)




def source_form(kind: str, config: Config, *, locale: str, root_view: str,
                source: Source | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if source is None:
        blocks.append(_text_input("id", _t(locale, "field_id"), optional=False))
    found = platform(kind)
    for field in found.source_fields if found else ():
        if not field.in_form:
            continue
        key = field.key
        value = source.setting(key) if source else None
        hint = _t(locale, "hint_env") if key.endswith("_env") else None
        blocks.append(_text_input(key, _t(locale, f"field_{key}"),
                                  initial=str(value) if value else None,
                                  optional=not field.required, hint=hint))
    if config.accounts:
        element: dict[str, Any] = {"type": "static_select", "action_id": FIELD,
                                   "options": [_option(a.name, a.id) for a in config.accounts]}
        chosen = next((a for a in config.accounts if source and a.id == source.account), None)
        if chosen:
            element["initial_option"] = _option(chosen.name, chosen.id)
        blocks.append({"type": "input", "block_id": "account", "optional": True,
                       "label": plain(_t(locale, "field_account")), "element": element})
    title = f"{source.id}"[:24] if source else _t(locale, f"add_{kind}")
    return _modal(title, blocks, locale, callback_id=SOURCE_FORM, submit=True,
                  metadata={"kind": kind, "source_id": source.id if source else None,
                            "root": root_view})


def form_values(state: Mapping[str, Any]) -> dict[str, Any]:
    """{block_id: value} from a view's state: text, selected option(s) or conversation."""
    values: dict[str, Any] = {}
    for block_id, actions in (state.get("values") or {}).items():
        answer = actions.get(FIELD) or {}
        if "selected_options" in answer:
            values[block_id] = [o["value"] for o in answer.get("selected_options") or []]
        elif "selected_option" in answer:
            values[block_id] = (answer.get("selected_option") or {}).get("value")
        elif "selected_conversation" in answer:
            values[block_id] = answer.get("selected_conversation")
        else:
            values[block_id] = answer.get("value")
    return values
