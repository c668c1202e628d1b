"""Block Kit of the respond flow: the reply modal, what the card shows about replies
(and its Reply button), the approval preview, and the `/vigie templates` modals. Pure
functions, tested without Slack. Everything a stranger or a template wrote is escaped;
answers are shown in code blocks, so what is shown is exactly what goes out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.i18n import catalogue
from bot.mentions.models import Mention
from bot.platforms import platform
from bot.reasons import shown_reason
from bot.replies.models import Reply, ReplyKind, ReplyState, ReplyTemplateRevision
from bot.replies.platforms import Target
from bot.replies.templates import VARIABLES, ReplyTemplate
from bot.slack_format import Message, date, escape, escaped_within, link, mrkdwn, plain

REPLY_MODAL = "reply_modal"
REJECT_MODAL = "reply_reject"
TEMPLATES_LIST = "templates_list"
TEMPLATE_FORM = "templates_form"
TEMPLATE_INFO = "templates_info"
OPEN = "reply.open"
PICK = "reply.template"
TEXT = "reply.text"
RETRY = "reply.retry"
CONFIRM = "reply.confirm"
APPROVE = "reply.approve"
REJECT = "reply.reject"
TEMPLATE_ADD = "templates.add"
TEMPLATE_MENU = "templates.menu"
APPROVAL_EVENT = "vigie_reply_approval"
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}
SHOWN_REPLIES = 3
QUOTE_LIMIT = 1200


def _t(locale: str, name: str, /, **params: object) -> str:
    return catalogue().text(locale, f"replies.{name}", **params)


def _when(moment: datetime) -> str:
    return date(moment, moment.strftime("%Y-%m-%d %H:%M UTC"), "{date_short_pretty} {time}")


def code(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` in a code block: shown exactly as typed, nothing formatted or linked."""
    safe = escaped_within(text, limit).replace("```", "`\u200b``")
    return f"```{safe}```"


def _author(mention: Mention) -> str:
    name = escaped_within(mention.author_name or mention.author_handle, 80)
    if mention.author_name and mention.author_name != mention.author_handle:
        return f"*{name}* ({escaped_within(mention.author_handle, 120)})"
    return f"*{name}*"


# -- the card -------------------------------------------------------------------------------------
def card_blocks(replies: Sequence[Reply], *, platform: str, approvals: str | None,
                locale: str) -> list[dict[str, Any]]:
    """What the card says about its replies: the latest in full, older ones in a line."""
    if not replies:
        return []
    latest, older = replies[-1], list(replies[:-1])[-(SHOWN_REPLIES - 1):]
    blocks: list[dict[str, Any]] = [{"type": "divider"}]
    if older:
        lines = [_reply_line(r, platform=platform, locale=locale) for r in older]
        blocks.append({"type": "context", "block_id": "replies_older",
                       "elements": [mrkdwn("\n".join(lines))]})
    blocks.append({"type": "section", "block_id": "reply_latest",
                   "text": mrkdwn(_reply_detail(latest, platform=platform, approvals=approvals,
                                                locale=locale))})
    return blocks


def _reply_line(reply: Reply, *, platform: str, locale: str) -> str:
    state = ReplyState(reply.state)
    when = _when(reply.sent_at or reply.updated_at)
    return _t(locale, f"card.line.{state.value}", user=f"<@{reply.author_id}>", when=when,
              platform=escape(platform))


def _reply_detail(reply: Reply, *, platform: str, approvals: str | None, locale: str) -> str:
    state = ReplyState(reply.state)
    params: dict[str, object] = {
        "user": f"<@{reply.author_id}>", "platform": escape(platform),
        "when": _when(reply.sent_at or reply.updated_at),
        "editor": f"<@{reply.decided_by}>" if reply.decided_by else "",
        "reason": _why(reply, locale, failure_first=True),
        "channel": f"<#{approvals}>" if approvals else "",
        "why": escape(reply.sensitive or ""),
    }
    key = "checking" if state == ReplyState.UNCONFIRMED and reply.next_check_at else state.value
    if state == ReplyState.QUEUED and reply.next_check_at and reply.error:
        key = "waiting"  # the platform takes it later (a quota reset): it goes by itself
    head = _t(locale, f"card.{key}", **params)
    if state == ReplyState.SENT and reply.remote_url:
        head += "  " + link(reply.remote_url, _t(locale, "card.see_reply"))
    if state == ReplyState.REJECTED and not reply.reason:
        head = _t(locale, "card.rejected_no_reason", **params)
    return f"{head}\n{code(reply.text)}"


def reply_actions(mention: Mention, latest: Reply | None, locale: str) -> dict[str, Any]:
    """The card's Reply button, and what a person can do about a reply that did not go."""
    elements: list[dict[str, Any]] = [
        {"type": "button", "action_id": OPEN, "style": "primary", "value": str(mention.id),
         "text": plain(_t(locale, "card.reply"))},
    ]
    if latest is not None and latest.state == ReplyState.FAILED:
        elements.append({"type": "button", "action_id": RETRY, "value": str(latest.id),
                         "text": plain(_t(locale, "card.retry"))})
    checking = latest is not None and latest.next_check_at is not None
    if latest is not None and latest.state == ReplyState.UNCONFIRMED and not checking:
        elements.append({
            "type": "button", "action_id": RETRY, "value": str(latest.id),
            "text": plain(_t(locale, "card.send_again")),
            "confirm": {"title": plain(_t(locale, "card.send_again_title")),
                        "text": plain(_t(locale, "card.send_again_text")),
                        "confirm": plain(_t(locale, "card.send_again")),
                        "deny": plain(_t(locale, "cancel")), "style": "danger"}})
    if latest is not None and latest.state == ReplyState.UNCONFIRMED:
        elements.append({"type": "button", "action_id": CONFIRM, "value": str(latest.id),
                         "text": plain(_t(locale, "card.went_out"))})
    return {"type": "actions", "block_id": f"reply:{mention.id}:{mention.version}",
            "elements": elements}


def with_replies(message: Message, mention: Mention, replies: Sequence[Reply], *,
                 platform: str, approvals: str | None, locale: str) -> Message:
    """A card with its replies after the state lines and the Reply button at the end.
    Collapsed cards (closed, ignored) are left as they are."""
    blocks = list(message.blocks)
    if not any(b.get("block_id") == "state" for b in blocks):
        return message
    at = next(i + 1 for i, b in enumerate(blocks) if b.get("block_id") == "state")
    blocks[at:at] = card_blocks(replies, platform=platform, approvals=approvals, locale=locale)
    blocks.append(reply_actions(mention, replies[-1] if replies else None, locale))
    return Message(text=message.text, blocks=blocks, metadata=message.metadata)


# -- the reply modal --------------------------------------------------------------------------
@dataclass(frozen=True)
class ModalState:
    """What the modal carries in `private_metadata`: the subject, the template chosen,
    the text block's number (a new block id is the only way to replace typed text) and
    the newest reply the writer has seen."""

    mention_id: int
    template: str | None = None
    block: int = 1
    seen: int = 0

    @property
    def text_block(self) -> str:
        return f"text-{self.block}"

    def dump(self) -> str:
        return json.dumps({"m": self.mention_id, "t": self.template, "b": self.block,
                           "s": self.seen})

    @staticmethod
    def load(raw: str | None) -> ModalState:
        data = json.loads(raw or "{}")
        return ModalState(int(data.get("m") or 0), data.get("t"), int(data.get("b") or 1),
                          int(data.get("s") or 0))


@dataclass
class ReplyForm:
    """Everything the reply modal shows, gathered by the service."""

    mention: Mention
    target: Target
    account: str
    templates: Sequence[ReplyTemplate]
    text: str
    sensitive: str | None
    approvals_channel: str | None
    state: ModalState
    notices: list[str] = field(default_factory=list)
    # "Answer like last time": templates used for the most similar answered mentions.
    like_last_time: Sequence[str] = ()


def loading_modal(locale: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": REPLY_MODAL, "title": plain(_t(locale, "modal.title")),
            "close": plain(_t(locale, "cancel")),
            "blocks": [{"type": "section", "text": mrkdwn(_t(locale, "modal.loading"))}]}


def notice_modal(locale: str, text: str) -> dict[str, Any]:
    """A modal that only says something (a refusal, a mention gone)."""
    return {"type": "modal", "callback_id": REPLY_MODAL, "title": plain(_t(locale, "modal.title")),
            "close": plain(_t(locale, "close")),
            "blocks": [{"type": "section", "text": mrkdwn(text, verbatim=False)}]}


def count_line(target: Target, text: str, locale: str) -> str:
    length = target.length(text)
    if target.limit is None:
        return _t(locale, "modal.count_free", length=length)
    if length > target.limit or target.too_long(text):
        return ":warning: " + _t(locale, "modal.count_over", length=length, limit=target.limit,
                                 over=max(length - target.limit, 1),
                                 platform=escape(target.platform))
    return _t(locale, "modal.count", length=length, limit=target.limit,
              left=target.limit - length)


def _how_line(form: ReplyForm, locale: str) -> str:
    target = form.target
    if target.kind == ReplyKind.BY_HAND:
        return ":memo: " + _t(locale, f"modal.by_hand.{target.by_hand_reason or 'platform'}",
                              platform=escape(target.platform), account=escape(form.account))
    speaker = platform(str(target.kind))
    visibility = _t(locale, f"modal.visibility.{target.visibility or 'default'}")
    line = f"{speaker.emoji if speaker else ':speech_balloon:'} " + _t(
        locale, f"modal.how_{target.kind}", visibility=visibility, account=escape(form.account))
    if target.cost:  # a platform that bills per post (X): say what it costs first
        line += " :money_with_wings: " + _t(locale, "modal.cost", cost=target.cost,
                                            with_link=target.cost_with_link or target.cost)
    return line


def template_options(templates: Iterable[ReplyTemplate], locale: str,
                     first: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Option groups, one per language, in the order given (the mention's first); the
    templates in `first` ("answer like last time") in a group of their own before them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    ahead: dict[str, dict[str, Any]] = {}
    for template in templates:
        option = {"text": plain(template.title[:75]), "value": template.key}
        if template.key in first:
            ahead[template.key] = option
        else:
            groups.setdefault(template.locale, []).append(option)
    result = [{"label": plain(LANGUAGE_NAMES.get(lang, lang)), "options": options[:100]}
              for lang, options in groups.items()]
    if ahead:
        options = [ahead[key] for key in first if key in ahead]
        result.insert(0, {"label": plain(_t(locale, "modal.like_last_time")),
                          "options": options})
    return result


def reply_modal(form: ReplyForm, locale: str) -> dict[str, Any]:
    mention, target, state = form.mention, form.target, form.state
    blocks: list[dict[str, Any]] = []
    for notice in form.notices:
        blocks.append({"type": "section", "block_id": f"notice-{len(blocks)}",
                       "text": mrkdwn(":warning: " + notice)})
    intro = _t(locale, "modal.to", author=_author(mention), platform=escape(target.platform),
               account=escape(form.account))
    blocks.append({"type": "section", "block_id": "mention",
                   "text": mrkdwn(f"{intro}\n{code(mention.text, 600)}")})
    blocks.append({"type": "context", "block_id": "how",
                   "elements": [mrkdwn(_how_line(form, locale))]})
    if form.sensitive:
        blocks.append({"type": "context", "block_id": "sensitive", "elements": [mrkdwn(
            ":lock: " + _t(locale, "modal.sensitive", why=escape(form.sensitive)))]})
    options = template_options(form.templates, locale, form.like_last_time)
    picker: dict[str, Any] = {"type": "static_select", "action_id": PICK,
                              "placeholder": plain(_t(locale, "modal.pick"))}
    if options:
        picker["option_groups"] = options
        chosen = next((o for g in options for o in g["options"]
                       if o["value"] == state.template), None)
        if chosen is not None:
            picker["initial_option"] = chosen
        blocks.append({"type": "section", "block_id": "template",
                       "text": mrkdwn(_t(locale, "modal.template")), "accessory": picker})
    blocks.append({
        "type": "input", "block_id": state.text_block, "dispatch_action": True,
        "label": plain(_t(locale, "modal.text")),
        "element": {"type": "plain_text_input", "action_id": TEXT, "multiline": True,
                    "max_length": 3000, "initial_value": form.text,
                    "dispatch_action_config": {"trigger_actions_on": ["on_character_entered"]},
                    "placeholder": plain(_t(locale, "modal.text_placeholder"))},
        "hint": plain(_t(locale, "modal.text_hint")),
    })
    blocks.extend(live_blocks(target, form.text, locale))
    if not form.sensitive and form.approvals_channel:
        blocks.append({
            "type": "input", "block_id": "approval", "optional": True,
            "label": plain(_t(locale, "modal.approval_label")),
            "element": {"type": "checkboxes", "action_id": "approval", "options": [
                {"text": plain(_t(locale, "modal.approval_option")), "value": "approval"}]},
        })
    needs_approval = bool(form.sensitive)
    submit = "modal.submit_approval" if needs_approval else (
        "modal.submit_by_hand" if target.kind == ReplyKind.BY_HAND else "modal.submit")
    return {"type": "modal", "callback_id": REPLY_MODAL, "title": plain(_t(locale, "modal.title")),
            "submit": plain(_t(locale, submit)), "close": plain(_t(locale, "cancel")),
            "private_metadata": state.dump(), "blocks": blocks}


def live_blocks(target: Target, text: str, locale: str) -> list[dict[str, Any]]:
    """The character count and the preview, redrawn as the text changes."""
    final = target.final_text(text)
    preview = code(final) if final else "_" + _t(locale, "modal.preview_empty") + "_"
    return [
        {"type": "context", "block_id": "count", "elements": [
            mrkdwn(count_line(target, text, locale))]},
        {"type": "section", "block_id": "preview", "text": mrkdwn(
            _t(locale, "modal.preview") + "\n" + preview)},
    ]


def updated_live(view: Mapping[str, Any], target: Target, text: str, locale: str
                 ) -> dict[str, Any]:
    """The modal as Slack sent it in the payload, with only its count and preview
    redrawn (the text box keeps what is being typed: its block id does not change)."""
    replaced = {b["block_id"]: b for b in live_blocks(target, text, locale)}
    blocks = [replaced.get(str(b.get("block_id")), b) for b in view.get("blocks", [])]
    kept = ("type", "callback_id", "title", "submit", "close", "private_metadata")
    return {key: view[key] for key in kept if view.get(key) is not None} | {"blocks": blocks}


def typed_text(view: Mapping[str, Any], state: ModalState) -> str:
    """The text in the modal's text box, as the person left it."""
    values = (view.get("state") or {}).get("values") or {}
    value = ((values.get(state.text_block) or {}).get(TEXT) or {}).get("value")
    return str(value or "")


def wants_approval(view: Mapping[str, Any]) -> bool:
    values = (view.get("state") or {}).get("values") or {}
    chosen = ((values.get("approval") or {}).get("approval") or {}).get("selected_options")
    return any(o.get("value") == "approval" for o in chosen or [])


# -- the approval preview --------------------------------------------------------------------
def approval_preview(reply: Reply, mention: Mention, *, platform: str, account: str,
                     card_link: str | None, locale: str) -> Message:
    state = ReplyState(reply.state)
    head = _t(locale, "approval.head", user=f"<@{reply.author_id}>", author=_author(mention),
              platform=escape(platform), account=escape(account))
    why = _t(locale, "approval.why", why=escape(reply.sensitive or
                                                 _t(locale, "approval.asked")))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "head", "text": mrkdwn(head)},
        {"type": "context", "block_id": "why", "elements": [mrkdwn(":lock: " + why)]},
        {"type": "section", "block_id": "mention",
         "text": mrkdwn(_t(locale, "approval.mention") + "\n" + code(mention.text, 800))},
        {"type": "section", "block_id": "reply",
         "text": mrkdwn(_t(locale, "approval.reply") + "\n" + code(reply.text))},
    ]
    footer = [_t(locale, "approval.how")]
    if card_link:
        footer.insert(0, link(card_link, _t(locale, "approval.card")))
    if state == ReplyState.AWAITING_APPROVAL:
        blocks.append({"type": "context", "block_id": "how",
                       "elements": [mrkdwn(" · ".join(footer))]})
        blocks.append({"type": "actions", "block_id": f"approval:{reply.id}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": str(reply.id),
             "text": plain(_t(locale, "approval.approve"))},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": str(reply.id),
             "text": plain(_t(locale, "approval.reject"))},
        ]})
    else:
        outcome = _t(locale, f"approval.state.{state.value}",
                     editor=f"<@{reply.decided_by}>" if reply.decided_by else "",
                     reason=_why(reply, locale, failure_first=False),
                     platform=escape(platform))
        if state == ReplyState.SENT and reply.remote_url:
            outcome += "  " + link(reply.remote_url, _t(locale, "card.see_reply"))
        if card_link:
            outcome += "  · " + link(card_link, _t(locale, "approval.card"))
        blocks.append({"type": "section", "block_id": "outcome", "text": mrkdwn(outcome)})
    fallback = _t(locale, "approval.fallback", user=f"<@{reply.author_id}>",
                  author=escaped_within(mention.author_name or mention.author_handle, 80))
    return Message(text=fallback, blocks=blocks,
                   metadata={"event_type": APPROVAL_EVENT, "event_payload": {
                       "reply_id": reply.id}})


def reject_modal(reply_id: int, *, locale: str, channel: str | None) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": REJECT_MODAL,
        "title": plain(_t(locale, "approval.reject_title")),
        "submit": plain(_t(locale, "approval.reject")), "close": plain(_t(locale, "cancel")),
        "private_metadata": json.dumps({"reply_id": reply_id, "channel": channel}),
        "blocks": [{"type": "input", "block_id": "reason", "optional": True,
                    "label": plain(_t(locale, "approval.reason")),
                    "element": {"type": "plain_text_input", "action_id": "reason",
                                "multiline": True, "max_length": 1000}}],
    }


def read_reject(view: Mapping[str, Any]) -> tuple[int, str | None, str | None]:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get("reason") or {}).get("reason") or {}).get("value")
    return int(meta.get("reply_id") or 0), reason, meta.get("channel")


def rejected_dm(reply: Reply, mention: Mention, *, card_link: str | None,
                locale: str) -> Message:
    key = "dm.rejected" if reply.reason else "dm.rejected_no_reason"
    text = _t(locale, key, editor=f"<@{reply.decided_by}>",
              author=escaped_within(mention.author_name or mention.author_handle, 80),
              reason=escaped_within(reply.reason or "", 500))
    if card_link:
        text += "\n" + link(card_link, _t(locale, "approval.card"))
    text += "\n" + code(reply.text)
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(text)}])


# -- /vigie templates --------------------------------------------------------------------------
def _modal(callback: str, title: str, blocks: list[dict[str, Any]], locale: str, *,
           metadata: Mapping[str, Any] | None = None, submit: str | None = None
           ) -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "callback_id": callback,
                            "title": plain(title[:24]), "close": plain(_t(locale, "close")),
                            "blocks": blocks[:100],
                            "private_metadata": json.dumps(dict(metadata or {}))}
    if submit:
        view["submit"] = plain(submit[:24])
    return view


def templates_list(templates: Sequence[ReplyTemplate], *, locale: str,
                   notice: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "intro", "text": mrkdwn(
            _t(locale, "admin.intro"), verbatim=False), "accessory": {
            "type": "button", "action_id": TEMPLATE_ADD, "style": "primary", "value": "add",
            "text": plain(_t(locale, "admin.add"))}},
    ]
    if notice:
        blocks.append({"type": "context", "block_id": "notice",
                       "elements": [mrkdwn(notice, verbatim=False)]})
    current = None
    for template in templates[:90]:
        if template.locale != current:
            current = template.locale
            blocks.append({"type": "header", "text": plain(
                LANGUAGE_NAMES.get(current, current))})
        origin = _t(locale, f"admin.origin.{template.origin}")
        if template.archived:
            origin += " · " + _t(locale, "admin.archived")
        line = f"*{escape(template.title)}*  `{escape(template.key)}`  ·  {origin}"
        if template.updated_by and template.updated_at:
            line += "\n" + _t(locale, "admin.changed", user=f"<@{template.updated_by}>",
                              when=_when(template.updated_at))
        verbs = ["preview", "edit", "history", "restore" if template.archived else "archive"]
        blocks.append({"type": "section", "block_id": f"tpl-{template.key}", "text": mrkdwn(line),
                       "accessory": {"type": "overflow", "action_id": TEMPLATE_MENU, "options": [
                           {"text": plain(_t(locale, f"admin.verb.{verb}")),
                            "value": f"{verb}:{template.key}"} for verb in verbs]}})
    return _modal(TEMPLATES_LIST, _t(locale, "admin.title"), blocks, locale)


def variables_help(locale: str) -> str:
    names = ", ".join(f"`{{{{ {name} }}}}`" for name in VARIABLES)
    return _t(locale, "admin.variables", names=names)


def template_form(*, locale: str, root: str | None, template: ReplyTemplate | None = None,
                  body: str | None = None) -> dict[str, Any]:
    """Add (no `template`) or edit a template."""
    blocks: list[dict[str, Any]] = []
    if template is None:
        blocks.append({"type": "input", "block_id": "name", "label": plain(
            _t(locale, "admin.name")), "hint": plain(_t(locale, "admin.name_hint")),
            "element": {"type": "plain_text_input", "action_id": "value", "max_length": 64}})
        blocks.append({"type": "input", "block_id": "locale", "label": plain(
            _t(locale, "admin.language")), "element": {
            "type": "static_select", "action_id": "value",
            "initial_option": {"text": plain(LANGUAGE_NAMES[locale]), "value": locale},
            "options": [{"text": plain(name), "value": code_}
                        for code_, name in LANGUAGE_NAMES.items()]}})
    else:
        blocks.append({"type": "section", "block_id": "key", "text": mrkdwn(
            _t(locale, "admin.editing", template=escape(template.key),
               origin=_t(locale, f"admin.origin.{template.origin}")))})
    title_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "value",
                                   "max_length": 150}
    body_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "value",
                                  "multiline": True, "max_length": 3000}
    if template is not None:
        title_input["initial_value"] = template.title
    if body is not None or template is not None:
        body_input["initial_value"] = body if body is not None else (
            template.body if template else "")
    blocks.append({"type": "input", "block_id": "title", "label": plain(
        _t(locale, "admin.template_title")), "element": title_input})
    blocks.append({"type": "input", "block_id": "body", "label": plain(
        _t(locale, "admin.body")), "element": body_input,
        "hint": plain(_t(locale, "admin.body_hint"))})
    blocks.append({"type": "context", "block_id": "variables",
                   "elements": [mrkdwn(variables_help(locale))]})
    metadata = {"key": template.key if template else None,
                "version": template.version if template else None, "root": root}
    title = _t(locale, "admin.edit_title" if template else "admin.add_title")
    return _modal(TEMPLATE_FORM, title, blocks, locale, metadata=metadata,
                  submit=_t(locale, "admin.save"))


def read_template_form(view: Mapping[str, Any]) -> dict[str, str]:
    values = (view.get("state") or {}).get("values") or {}
    read: dict[str, str] = {}
    for block, actions in values.items():
        element = (actions or {}).get("value") or {}
        if element.get("type") == "static_select":
            read[block] = str((element.get("selected_option") or {}).get("value") or "")
        else:
            read[block] = str(element.get("value") or "")
    return read


@dataclass(frozen=True)
class SampleRender:
    platform: str
    text: str | None  # None when it failed
    count: str
    problem: str | None = None


def template_preview(template: ReplyTemplate, renders: Sequence[SampleRender], *,
                     locale: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(_t(locale, "admin.preview_intro",
                                              title=escape(template.title),
                                              template=escape(template.key)))},
    ]
    for sample in renders:
        if sample.text is None:
            body = ":warning: " + escape(sample.problem or "")
        else:
            body = f"{code(sample.text)}\n{sample.count}"
        blocks.append({"type": "section", "text": mrkdwn(f"*{escape(sample.platform)}*\n{body}")})
    blocks.append({"type": "section", "text": mrkdwn(
        _t(locale, "admin.source") + "\n" + code(template.body, 2800))})
    return _modal(TEMPLATE_INFO, _t(locale, "admin.preview_title"), blocks, locale)


def template_history(template: ReplyTemplate, revisions: Sequence[ReplyTemplateRevision], *,
                     locale: str) -> dict[str, Any]:
    intro = _t(locale, "admin.history_intro", title=escape(template.title),
               template=escape(template.key))
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(intro)}]
    if not revisions:
        blocks.append({"type": "context",
                       "elements": [mrkdwn(_t(locale, "admin.history_none"))]})
    for revision in list(revisions)[-40:][::-1]:
        line = _t(locale, "admin.history_line", version=revision.version,
                  action=_t(locale, f"admin.action.{revision.action}"),
                  user=f"<@{revision.by}>", when=_when(revision.at))
        blocks.append({"type": "section", "text": mrkdwn(f"{line}\n{code(revision.body, 600)}")})
    return _modal(TEMPLATE_INFO, _t(locale, "admin.history_title"), blocks, locale)


def _why(reply: Reply, locale: str, *, failure_first: bool) -> str:
    """The editor's reason for a rejection (their words, escaped) or why sending failed
    (a stored `Reason`, in the reader's language), whichever the place shows first."""
    if reply.error and (failure_first or not reply.reason):
        return shown_reason(reply.error, locale)
    return escaped_within(reply.reason or "", 300)
