"""Block Kit for posts: the draft modal, the approval preview, thread notes, DMs and the
calendar. Pure functions of stored rows and config, tested without Slack.

Everything a person typed (post text, note, reason) is escaped before it reaches mrkdwn,
so a draft cannot ping `@channel` in the approvals channel either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import date as Date
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.config import Config, PostTarget
from bot.connectors.publishers import KIND_NAMES
from bot.connectors.slack_channel import linkified
from bot.i18n import catalogue
from bot.posts.models import DeliveryState, DraftForm, Post, PostDelivery, PostState
from bot.posts.service import FieldErrors, PostView
from bot.posts.templates import PostTemplate
from bot.posts.when import long_date
from bot.reasons import shown_reason
from bot.slack_format import Message, date, escape, escaped_within, link, mrkdwn, plain, truncate

DRAFT_CALLBACK = "posts.draft"
EDIT_CALLBACK = "posts.edit"
REJECT_CALLBACK = "posts.reject_reason"
CALENDAR_CALLBACK = "posts.calendar"
PREVIEW_EVENT_TYPE = "vigie_post_preview"
TEMPLATE_ACTION = "posts.template"
QUOTE_ACTION = "posts.quote"
VALUE = "value"  # action_id of every input element in the draft modal
BODY_LIMIT = 2900
STATE_EMOJI = {
    PostState.PENDING: ":hourglass_flowing_sand:",
    PostState.APPROVED: ":white_check_mark:",
    PostState.REJECTED: ":x:",
    PostState.EXPIRED: ":hourglass:",
    PostState.STALE: ":double_vertical_bar:",
    PostState.CANCELLED: ":no_entry_sign:",
    PostState.PUBLISHING: ":rocket:",
    PostState.PUBLISHED: ":mega:",
    PostState.FAILED: ":warning:",
}
# Modal fields → the input block that shows their error.
FIELD_BLOCKS = {"targets": "targets", "when_text": "when_text", "when_picker": "when_picker",
                "recurrence": "recurrence", "cron": "cron", "note": "note"}


def _t(locale: str, key: str, **params: Any) -> str:
    return catalogue().text(locale, key, **params)


def when_text(when: datetime | None, locale: str, timezone: str) -> str:
    """A date Slack shows in each reader's zone, with a fallback in the newsroom's."""
    if when is None:
        return _t(locale, "posts.preview.on_approval")
    local = when.astimezone(ZoneInfo(timezone))
    fallback = f"{long_date(local.date(), locale)} {local:%H:%M} ({timezone})"
    return date(when, fallback, "{date_long_pretty} {time}")


def target_label(target_id: str, config: Config) -> str:
    target = config.posts.target(target_id)
    if target is None:
        return target_id
    return f"{target.label} ({KIND_NAMES.get(target.kind, target.kind)})"


# -- the draft modal ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModalState:
    """What the modal carries in `private_metadata` between Slack round trips."""

    post_id: int | None = None
    version: int | None = None
    text_block: str = "text-0"
    channel: str | None = None

    def dump(self) -> str:
        return json.dumps({"post_id": self.post_id, "version": self.version,
                           "text_block": self.text_block, "channel": self.channel})

    @staticmethod
    def load(raw: str | None) -> ModalState:
        try:
            data = json.loads(raw or "{}")
        except json.JSONDecodeError:
            data = {}
        return ModalState(post_id=data.get("post_id"), version=data.get("version"),
                          text_block=str(data.get("text_block") or "text-0"),
                          channel=data.get("channel"))


class QuoteChoice(Protocol):
    """A saved mention `/draft` can quote (bot.moderation.curation.Quote fits)."""

    @property
    def mention_id(self) -> int: ...

    @property
    def handle(self) -> str: ...

    @property
    def text(self) -> str: ...


def draft_modal(*, locale: str, config: Config, templates: Sequence[PostTemplate],
                state: ModalState, text: str = "", post: Post | None = None,
                chosen_targets: Sequence[str] = (), notice: str | None = None,
                quotes: Sequence[QuoteChoice] = ()) -> dict[str, Any]:
    editing = state.post_id is not None
    tz = config.newsroom.timezone
    text_input: dict[str, Any] = {
        "type": "plain_text_input", "action_id": VALUE, "multiline": True, "max_length": 3000,
        "placeholder": plain(_t(locale, "posts.modal.text_placeholder")),
    }
    if text:
        text_input["initial_value"] = text[:3000]
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": state.text_block, "label": plain(_t(locale,
                                                                          "posts.modal.text")),
         "element": text_input},
    ]
    if templates:
        blocks.append({
            "type": "section", "block_id": "template",
            "text": mrkdwn(_t(locale, "posts.modal.template")),
            "accessory": {
                "type": "static_select", "action_id": TEMPLATE_ACTION,
                "placeholder": plain(_t(locale, "posts.modal.template_placeholder")),
                "options": [{"text": plain(truncate(t.title, 75)), "value": t.name}
                            for t in templates[:100]],
            },
        })
    if quotes:
        blocks.append({
            "type": "section", "block_id": "quote",
            "text": mrkdwn(_t(locale, "posts.modal.quote")),
            "accessory": {
                "type": "static_select", "action_id": QUOTE_ACTION,
                "placeholder": plain(_t(locale, "posts.modal.quote_placeholder")),
                "options": [{"text": plain(truncate(
                    f"{q.handle} · {' '.join(q.text.split())}", 75)),
                    "value": str(q.mention_id)} for q in quotes[:100]],
            },
        })
    if notice:
        blocks.append({"type": "context", "block_id": "notice",
                       "elements": [mrkdwn(escape(notice))]})
    options = [_target_option(t, locale) for t in config.posts.targets[:100]]
    targets_element: dict[str, Any] = {
        "type": "multi_static_select", "action_id": VALUE,
        "placeholder": plain(_t(locale, "posts.modal.targets_placeholder")),
        "options": options,
    }
    initial = [o for o in options if o["value"] in set(chosen_targets)]
    if initial:
        targets_element["initial_options"] = initial
    blocks.append({"type": "input", "block_id": "targets",
                   "label": plain(_t(locale, "posts.modal.targets")), "element": targets_element})
    blocks.append({
        "type": "input", "block_id": "when_text", "optional": True,
        "label": plain(_t(locale, "posts.modal.when_text")),
        "hint": plain(_t(locale, "posts.modal.when_text_hint", timezone=tz)),
        "element": {"type": "plain_text_input", "action_id": VALUE, "max_length": 100,
                    "placeholder": plain(_t(locale, "posts.modal.when_text_placeholder"))},
    })
    picker: dict[str, Any] = {"type": "datetimepicker", "action_id": VALUE}
    if post is not None and post.publish_at is not None:
        picker["initial_date_time"] = int(post.publish_at.timestamp())
    blocks.append({"type": "input", "block_id": "when_picker", "optional": True,
                   "label": plain(_t(locale, "posts.modal.when_picker")), "element": picker})
    repeat_options = [
        {"text": plain(_t(locale, f"posts.modal.recurrence_{value}")), "value": value}
        for value in ("none", "daily", "weekly")
    ]
    repeat: dict[str, Any] = {"type": "static_select", "action_id": VALUE,
                              "placeholder": plain(_t(locale, "posts.modal.recurrence_none")),
                              "options": repeat_options}
    if post is not None and post.recurrence in ("daily", "weekly"):
        repeat["initial_option"] = next(o for o in repeat_options
                                        if o["value"] == post.recurrence)
    blocks.append({"type": "input", "block_id": "recurrence", "optional": True,
                   "label": plain(_t(locale, "posts.modal.recurrence")), "element": repeat})
    cron: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE, "max_length": 100,
                            "placeholder": plain("30 8 * * 1-5")}
    if post is not None and post.cron:
        cron["initial_value"] = post.cron
    blocks.append({"type": "input", "block_id": "cron", "optional": True,
                   "label": plain(_t(locale, "posts.modal.cron")),
                   "hint": plain(_t(locale, "posts.modal.cron_hint")), "element": cron})
    note: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE, "multiline": True,
                            "max_length": 1000}
    if post is not None and post.note:
        note["initial_value"] = post.note
    blocks.append({"type": "input", "block_id": "note", "optional": True,
                   "label": plain(_t(locale, "posts.modal.note")), "element": note})
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK if editing else DRAFT_CALLBACK,
        "private_metadata": state.dump(),
        "title": plain(_t(locale, "posts.modal.title_edit" if editing
                          else "posts.modal.title_new")),
        "submit": plain(_t(locale, "posts.modal.submit_edit" if editing
                           else "posts.modal.submit_new")),
        "close": plain(_t(locale, "posts.modal.close")),
        "blocks": blocks,
    }


def _target_option(target: PostTarget, locale: str) -> dict[str, Any]:
    kind = KIND_NAMES.get(target.kind, target.kind)
    return {"text": plain(truncate(f"{target.label} · {kind}", 75)), "value": target.id}


def read_draft(view: Mapping[str, Any]) -> tuple[DraftForm, ModalState]:
    """The modal's answers as Slack reports them in `view.state.values`."""
    state = ModalState.load(view.get("private_metadata"))
    values: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> Mapping[str, Any]:
        return (values.get(block) or {}).get(VALUE) or {}

    picked = field("when_picker").get("selected_date_time")
    recurrence = (field("recurrence").get("selected_option") or {}).get("value")
    form = DraftForm(
        text=str(field(state.text_block).get("value") or ""),
        targets=tuple(str(o["value"]) for o in field("targets").get("selected_options") or []),
        when_text=field("when_text").get("value"),
        when_picked=(datetime.fromtimestamp(int(picked), tz=UTC)
                     if picked not in (None, "") else None),
        recurrence=recurrence,
        cron=field("cron").get("value"),
        note=field("note").get("value"),
    )
    return form, state


def current_text(view: Mapping[str, Any]) -> str:
    form, _ = read_draft(view)
    return form.text


def modal_errors(errors: FieldErrors, *, state: ModalState, locale: str,
                 timezone: str) -> dict[str, str]:
    """`response_action: errors` payload: each message under its input block."""
    shown: dict[str, str] = {}
    for field_name, (key, params) in errors.items():
        block = state.text_block if field_name == "text" else FIELD_BLOCKS[field_name]
        rendered = {k: (_local_time(v, locale, timezone) if isinstance(v, datetime) else v)
                    for k, v in params.items()}
        shown[block] = truncate(_t(locale, key, **rendered), 150)
    return shown


def _local_time(when: datetime, locale: str, timezone: str) -> str:
    local = when.astimezone(ZoneInfo(timezone))
    return f"{long_date(local.date(), locale)} {local:%H:%M}"


def reject_modal(post_id: int, *, locale: str, channel: str | None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": json.dumps({"post_id": post_id, "channel": channel}),
        "title": plain(_t(locale, "posts.reject_modal.title")),
        "submit": plain(_t(locale, "posts.reject_modal.submit")),
        "close": plain(_t(locale, "posts.modal.close")),
        "blocks": [{
            "type": "input", "block_id": "reason",
            "label": plain(_t(locale, "posts.reject_modal.reason")),
            "element": {"type": "plain_text_input", "action_id": VALUE, "multiline": True,
                        "max_length": 1000,
                        "placeholder": plain(_t(locale, "posts.reject_modal.placeholder"))},
        }],
    }


def read_reject(view: Mapping[str, Any]) -> tuple[int, str]:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get("reason") or {}).get(VALUE) or {}).get("value") or ""
    return int(meta.get("post_id") or 0), str(reason)


# -- the approval preview ----------------------------------------------------------------
def preview(view: PostView, *, config: Config, locale: str,
            last: PostView | None = None) -> Message:
    post = view.post
    tz = config.newsroom.timezone
    posts = config.posts
    title = _t(locale, "posts.preview.title", author=post.author_id)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "title", "text": mrkdwn(
            f"{STATE_EMOJI[post.state]} {title}", verbatim=False)},
        {"type": "section", "block_id": "body",
         "text": mrkdwn(_body(post.text))},
    ]
    facts = [
        _t(locale, "posts.preview.targets", targets=escape(", ".join(
            target_label(d.target_id, config) for d in view.deliveries))),
        _t(locale, "posts.preview.when", when=when_text(post.publish_at, locale, tz)),
    ]
    if post.recurrence:
        facts.append(_recurrence(post, locale))
    x_cost = _x_cost(view, config, locale)
    if x_cost:
        facts.append(x_cost)
    blocks.append({"type": "context", "block_id": "facts",
                   "elements": [mrkdwn("  ·  ".join(facts), verbatim=False)]})
    if post.note:
        blocks.append({"type": "context", "block_id": "note", "elements": [mrkdwn(
            _t(locale, "posts.preview.note", note=escaped_within(post.note, 1000)))]})
    blocks.append({"type": "section", "block_id": "status", "text": mrkdwn(
        status_line(view, locale=locale, timezone=tz,
                    required=posts.approvals_required), verbatim=False)})
    lines = [delivery_line(d, config=config, locale=locale) for d in view.deliveries
             if post.state in (PostState.PUBLISHING, PostState.PUBLISHED, PostState.FAILED)]
    if lines:
        blocks.append({"type": "section", "block_id": "deliveries",
                       "text": mrkdwn(truncate("\n".join(lines), 3000), verbatim=False)})
    if last is not None and last.id != view.id:
        links = [delivery_line(d, config=config, locale=locale) for d in last.deliveries]
        blocks.append({"type": "context", "block_id": "last", "elements": [mrkdwn(truncate(
            _t(locale, "posts.preview.last", when=when_text(last.post.publish_at, locale, tz),
               links=" · ".join(links) or "—"), 3000), verbatim=False)]})
    buttons = preview_buttons(view, locale=locale, required=posts.approvals_required)
    if buttons:
        blocks.append({"type": "actions", "block_id": "post_actions", "elements": buttons})
    fallback = _t(locale, "posts.preview.fallback", author=post.author_id,
                  state=_t(locale, f"posts.state.{PostState(post.state).value}"),
                  excerpt=escaped_within(post.text, 200))
    return Message(text=fallback, blocks=blocks,
                   metadata={"event_type": PREVIEW_EVENT_TYPE,
                             "event_payload": {"post_id": view.id}})


def _x_cost(view: PostView, config: Config, locale: str) -> str | None:
    """What X will bill for this post (far more with a link), shown before approval."""
    from bot.platforms.x.spend import dollars, micros
    from bot.platforms.x.text import has_link

    targets = [config.posts.target(d.target_id) for d in view.deliveries]
    count = sum(1 for t in targets if t is not None and t.kind == "x")
    if not count:
        return None
    prices = config.x.prices
    price = prices.post_create_with_link if has_link(view.post.text) else prices.post_create
    return _t(locale, "posts.preview.x_cost", cost=dollars(micros(price) * count),
              link=_t(locale, "posts.preview.x_link") if has_link(view.post.text) else "")


def _body(text: str) -> str:
    body = linkified(text)
    return body if len(body) <= BODY_LIMIT else escaped_within(text, BODY_LIMIT)


def _recurrence(post: Post, locale: str) -> str:
    if post.recurrence == "cron":
        return _t(locale, "posts.preview.recurrence_cron", cron=escape(post.cron or ""))
    return _t(locale, f"posts.preview.recurrence_{post.recurrence}")


def status_line(view: PostView, *, locale: str, timezone: str, required: int) -> str:
    post = view.post
    editors = ", ".join(f"<@{e}>" for e in view.approvers)
    when = when_text(post.publish_at, locale, timezone)
    key = f"posts.preview.status.{PostState(post.state).value}"
    if post.state == PostState.PENDING:
        line = _t(locale, key, count=len(view.approvers), required=required)
        if editors:
            line += _t(locale, "posts.preview.status.approved_so_far", editors=editors)
        return line
    if post.state == PostState.APPROVED:
        return _t(locale, key, editors=editors or "—", when=when)
    if post.state == PostState.REJECTED:
        if post.reason:
            return _t(locale, key, user=post.decided_by or "?",
                      reason=escaped_within(post.reason, 1000))
        return _t(locale, "posts.preview.status.rejected_no_reason", user=post.decided_by or "?")
    if post.state == PostState.CANCELLED:
        return _t(locale, key, user=post.decided_by or "?")
    if post.state in (PostState.EXPIRED, PostState.STALE):
        return _t(locale, key, when=when)
    return _t(locale, key, editors=editors or "—")


def delivery_line(delivery: PostDelivery, *, config: Config, locale: str) -> str:
    label = escape(target_label(delivery.target_id, config))
    error = shown_reason(delivery.error, locale)
    if delivery.state == DeliveryState.PUBLISHED:
        if delivery.url:
            return _t(locale, "posts.delivery.published", target=label,
                      link=link(delivery.url, _t(locale, "posts.delivery.open_link")))
        return _t(locale, "posts.delivery.published_no_link", target=label)
    if delivery.state == DeliveryState.FAILED:
        if delivery.gave_up or delivery.next_attempt_at is None:
            key = "posts.delivery.failed_absent" if delivery.checks else "posts.delivery.failed"
            return _t(locale, key, target=label, error=error)
        key = "posts.delivery.retrying_absent" if delivery.checks else "posts.delivery.retrying"
        return _t(locale, key, target=label, error=error,
                  when=date(delivery.next_attempt_at, delivery.next_attempt_at.strftime(
                      "%H:%M:%S UTC"), "{time_secs}"))
    if delivery.state == DeliveryState.UNCONFIRMED:
        if not delivery.gave_up:
            return _t(locale, "posts.delivery.checking", target=label, error=error)
        return _t(locale, "posts.delivery.unconfirmed", target=label, error=error)
    return _t(locale, f"posts.delivery.{DeliveryState(delivery.state).value}", target=label)


def preview_buttons(view: PostView, *, locale: str, required: int) -> list[dict[str, Any]]:
    post = view.post
    value = str(view.id)
    state = post.state
    buttons: list[dict[str, Any]] = []
    if state in (PostState.PENDING, PostState.EXPIRED) or (
            state == PostState.APPROVED and len(view.approvers) < required):
        buttons.append(_button(locale, "approve", value, style="primary"))
    if state in (PostState.PENDING, PostState.APPROVED, PostState.EXPIRED, PostState.STALE):
        buttons.append(_button(locale, "reject", value, style="danger"))
    if state == PostState.STALE:
        buttons.insert(0, _button(locale, "publish_now", value, style="primary"))
    if state in (PostState.PENDING, PostState.APPROVED, PostState.REJECTED, PostState.EXPIRED,
                 PostState.STALE):
        buttons.append(_button(locale, "edit", value))
        buttons.append(_cancel_button(locale, value))
    if state in (PostState.PUBLISHING, PostState.FAILED):
        buttons.extend(delivery_buttons(view.deliveries, locale=locale))
    return buttons[:25]


def delivery_buttons(deliveries: Sequence[PostDelivery], *, locale: str,
                     config: Config | None = None) -> list[dict[str, Any]]:
    buttons = []
    for delivery in deliveries:
        if not delivery.gave_up:
            continue
        target = delivery.target_id if config is None else target_label(delivery.target_id,
                                                                         config)
        value = str(delivery.id)
        if delivery.state == DeliveryState.UNCONFIRMED:
            buttons.append(_button(locale, "confirm", value, target=target))
            buttons.append(_button(locale, "resend", value, target=target, action="retry"))
        elif delivery.state == DeliveryState.FAILED:
            buttons.append(_button(locale, "retry", value, target=target))
    return buttons


def _button(locale: str, name: str, value: str, *, style: str | None = None,
            action: str | None = None, **params: Any) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button", "action_id": f"posts.{action or name}",
        "text": plain(truncate(_t(locale, f"posts.buttons.{name}", **params), 75)),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _cancel_button(locale: str, value: str) -> dict[str, Any]:
    button = _button(locale, "cancel", value)
    button["confirm"] = {
        "title": plain(_t(locale, "posts.buttons.cancel_confirm_title")),
        "text": plain(_t(locale, "posts.buttons.cancel_confirm_text")),
        "confirm": plain(_t(locale, "posts.buttons.cancel_confirm_yes")),
        "deny": plain(_t(locale, "posts.buttons.cancel_confirm_no")),
        "style": "danger",
    }
    return button


# -- notes in the thread and to the author -----------------------------------------------
def _params(params: Mapping[str, Any], locale: str, timezone: str) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            rendered[key] = when_text(value, locale, timezone)
        elif isinstance(value, str) and key in ("reason", "target"):
            rendered[key] = escaped_within(value, 1000)
        else:
            rendered[key] = value
    return rendered


def thread_note(view: PostView, event: str, params: Mapping[str, Any], *, config: Config,
                locale: str) -> Message:
    tz = config.newsroom.timezone
    post = view.post
    values = _params(params, locale, tz)
    values.setdefault("when", when_text(post.publish_at, locale, tz))
    key = f"posts.thread.{event}"
    if event == "rejected" and not values.get("reason"):
        key = "posts.thread.rejected_no_reason"
    text = _t(locale, key, **values)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(text, verbatim=False)}]
    if event == "stale" and post.state == PostState.STALE:
        blocks.append({"type": "actions", "block_id": "stale_actions", "elements": [
            _button(locale, "publish_now", str(view.id), style="primary"),
            _cancel_button(locale, str(view.id)),
        ]})
    return Message(text=text, blocks=blocks)


def report_note(view: PostView, delivery_ids: Sequence[int], *, config: Config,
                locale: str) -> Message:
    """How a publishing round went, target by target, with a human's choices."""
    chosen = [d for d in view.deliveries if d.id in set(delivery_ids)]
    lines = [delivery_line(d, config=config, locale=locale) for d in chosen]
    intro = _t(locale, "posts.thread.report", when=when_text(view.post.publish_at, locale,
                                                             config.newsroom.timezone))
    text = truncate("\n".join([intro, *lines]), 3000)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(text, verbatim=False)}]
    buttons = delivery_buttons(chosen, locale=locale, config=config)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons[:25]})
    return Message(text=text, blocks=blocks)


def author_note(view: PostView, event: str, params: Mapping[str, Any], *, config: Config,
                locale: str, preview_url: str | None) -> Message:
    tz = config.newsroom.timezone
    post = view.post
    values = _params(params, locale, tz)
    values.setdefault("when", when_text(post.publish_at, locale, tz))
    values["excerpt"] = escaped_within(post.text, 120)
    key = f"posts.author.{event}"
    if event == "rejected" and not values.get("reason"):
        key = "posts.author.rejected_no_reason"
    if event == "approved" and values.get("now"):
        key = "posts.author.approved_now"
    text = _t(locale, key, **values)
    if event in ("published", "failed"):
        lines = [delivery_line(d, config=config, locale=locale) for d in view.deliveries]
        text = "\n".join([text, *lines])
    if preview_url:
        text += "\n" + link(preview_url, _t(locale, "posts.author.open_preview"))
    text = truncate(text, 3000)
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(text, verbatim=False)}])


def resolved(text: str) -> Message:
    """What a thread question becomes once someone answered it (buttons gone)."""
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(text, verbatim=False)}])


def outcome_text(code: str, *, locale: str) -> str:
    return _t(locale, code)


# -- the calendar ------------------------------------------------------------------------
def calendar_window(period: str, now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """A rolling window around today: recent posts and upcoming ones."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return today - timedelta(days=7), today + timedelta(days=31)
    return today - timedelta(days=1), today + timedelta(days=8)


def calendar_modal(entries: Sequence[PostView], *, config: Config, locale: str, period: str,
                   start: datetime, end: datetime, notice: str | None = None
                   ) -> dict[str, Any]:
    tz = config.newsroom.timezone
    zone = ZoneInfo(tz)
    intro = _t(locale, "posts.calendar.intro",
               start=long_date(start.astimezone(zone).date(), locale),
               end=long_date((end - timedelta(seconds=1)).astimezone(zone).date(), locale),
               timezone=tz)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "intro", "text": mrkdwn(intro),
         "accessory": {
             "type": "button", "action_id": "posts.calendar_period",
             "text": plain(_t(locale, "posts.calendar.show_month" if period == "week"
                              else "posts.calendar.show_week")),
             "value": "month" if period == "week" else "week"}},
    ]
    if notice:
        blocks.append({"type": "context", "block_id": "notice",
                       "elements": [mrkdwn(escape(notice))]})
    if not entries:
        blocks.append({"type": "section", "block_id": "empty",
                       "text": mrkdwn(_t(locale, "posts.calendar.empty"))})
    budget = 95 - len(blocks)
    shown = 0
    day: Date | None = None
    unscheduled_header = False
    for entry in entries:
        post = entry.post
        if post.publish_at is None:
            if not unscheduled_header:
                if budget < 3:
                    break
                blocks.append({"type": "header", "text": plain(
                    _t(locale, "posts.calendar.unscheduled"))})
                budget -= 1
                unscheduled_header = True
        else:
            local_day = post.publish_at.astimezone(zone).date()
            if local_day != day:
                if budget < 3:
                    break
                day = local_day
                blocks.append({"type": "header", "text": plain(
                    long_date(local_day, locale, with_weekday=True).capitalize())})
                budget -= 1
        if budget < 2:
            break
        blocks.append(_calendar_item(entry, config=config, locale=locale))
        budget -= 1
        shown += 1
    if shown < len(entries):
        blocks.append({"type": "context", "elements": [mrkdwn(
            _t(locale, "posts.calendar.more", count=len(entries) - shown))]})
    return {
        "type": "modal",
        "callback_id": CALENDAR_CALLBACK,
        "private_metadata": json.dumps({"period": period}),
        "title": plain(_t(locale, "posts.calendar.title")),
        "close": plain(_t(locale, "posts.calendar.close")),
        "blocks": blocks,
    }


def _calendar_item(entry: PostView, *, config: Config, locale: str) -> dict[str, Any]:
    post = entry.post
    tz = config.newsroom.timezone
    time = (post.publish_at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
            if post.publish_at else "—")
    targets = ", ".join(target_label(d.target_id, config) for d in entry.deliveries)
    links = [link(d.url, target_label(d.target_id, config)) for d in entry.deliveries
             if d.url and d.state == DeliveryState.PUBLISHED]
    state = f"{STATE_EMOJI[post.state]} {_t(locale, 'posts.state.' + PostState(post.state).value)}"
    text = _t(locale, "posts.calendar.item", time=time, state=state,
              targets=escape(targets), author=post.author_id,
              excerpt=escaped_within(" ".join(post.text.split()), 150))
    if links:
        text += "\n" + " · ".join(links)
    if post.recurrence:
        text += "  " + _recurrence(post, locale)
    block: dict[str, Any] = {"type": "section", "block_id": f"post-{entry.id}",
                             "text": mrkdwn(truncate(text, 3000), verbatim=False)}
    if post.state in (PostState.PENDING, PostState.APPROVED, PostState.REJECTED,
                      PostState.EXPIRED, PostState.STALE):
        block["accessory"] = {
            "type": "overflow", "action_id": "posts.calendar_item",
            "options": [
                {"text": plain(_t(locale, "posts.calendar.edit")), "value": f"edit:{entry.id}"},
                {"text": plain(_t(locale, "posts.calendar.cancel")),
                 "value": f"cancel:{entry.id}"},
            ],
        }
    return block
