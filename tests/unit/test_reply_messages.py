"""Block Kit of the respond flow, without Slack: what the card, the reply modal and the
approval preview show, that hostile text stays inert, and that Slack would accept it all."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.config import Config
from bot.mentions.messages import mention_card
from bot.mentions.models import Mention
from bot.replies import messages
from bot.replies.messages import ModalState, ReplyForm
from bot.replies.models import Reply, ReplyKind, ReplyState
from bot.replies.platforms import Target
from bot.replies.templates import ReplyTemplate
from bot.sandbox.slack import validate_blocks

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOSTILE = "<!channel> *gras* ```code``` <@U0BOSS> <https://evil.example|banque>"


def a_mention(**fields: Any) -> Mention:
    values: dict[str, Any] = dict(
        id=4, source_id="masto", external_id="1", platform="mastodon", account_id="matinale",
        author_handle="@kev59@mamot.example", author_name="Kévin <!here>", text=HOSTILE,
        url="https://mamot.example/@kev59/1", lang="en", fingerprint="", created_at=NOW,
        received_at=NOW, channel_id="C0MENTIONS", version=3)
    values.update(fields)
    return Mention(**values)


def a_reply(state: ReplyState, **fields: Any) -> Reply:
    values: dict[str, Any] = dict(
        id=9, mention_id=4, author_id="U0STAFF1", kind=ReplyKind.MASTODON,
        account_id="matinale", text=f"Merci ! {HOSTILE}", key="k", state=state,
        created_at=NOW, updated_at=NOW)
    values.update(fields)
    return Reply(**values)


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def card(mention: Mention, replies: list[Reply], config: Config) -> list[dict[str, Any]]:
    base = mention_card(mention, account_name="La Matinale", locale="fr")
    return messages.with_replies(base, mention, replies, platform="Mastodon",
                                 approvals="C0APPROVALS", locale="fr").blocks


def test_the_card_gets_a_reply_button_and_shows_the_sent_answer(config: Config) -> None:
    """A Reply button at the end (subject and version in its block id); once sent, the
    answer, who sent it and its link, the text shown as typed and inert."""
    mention = a_mention()
    blocks = card(mention, [], config)
    assert blocks[-1]["block_id"] == "reply:4:3"
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["reply.open"]
    sent = a_reply(ReplyState.SENT, sent_at=NOW, remote_url="https://pouet.example/@m/5")
    blocks = card(mention, [sent], config)
    rendered = text_of(blocks)
    assert "Répondu sur Mastodon* par <@U0STAFF1>" in rendered
    assert "<https://pouet.example/@m/5|voir la réponse>" in rendered
    assert "<!channel>" not in rendered and "<@U0BOSS>" not in rendered
    assert "&lt;!channel&gt;" in rendered and "`\u200b``code`\u200b``" in rendered
    assert validate_blocks(blocks) == []


def test_a_failed_or_unconfirmed_reply_offers_what_a_person_can_do(config: Config) -> None:
    """Failed: Retry. Unconfirmed: Send again (behind a confirmation) and It did go out.
    Older replies shrink to one line each."""
    failed = a_reply(ReplyState.FAILED, error="the instance answered HTTP 503")
    blocks = card(a_mention(), [a_reply(ReplyState.REJECTED, id=8, decided_by="U0ED"),
                                failed], config)
    actions = blocks[-1]["elements"]
    assert [(e["action_id"], e["value"]) for e in actions] == [
        ("reply.open", "4"), ("reply.retry", "9")]
    assert "réponse de <@U0STAFF1> refusée" in text_of(blocks)
    assert "HTTP 503" in text_of(blocks)
    unconfirmed = a_reply(ReplyState.UNCONFIRMED, error="no answer from the instance")
    actions = card(a_mention(), [unconfirmed], config)[-1]["elements"]
    assert [e["action_id"] for e in actions] == ["reply.open", "reply.retry", "reply.confirm"]
    assert "confirm" in actions[1] and actions[1]["text"]["text"] == "Renvoyer"


def test_collapsed_cards_are_left_alone(config: Config) -> None:
    """A closed mention is one line; no Reply button is added to it."""
    mention = a_mention(status="closed")
    assert card(mention, [a_reply(ReplyState.SENT)], config) == mention_card(
        mention, account_name="La Matinale", locale="fr").blocks


def form(*, target: Target, sensitive: str | None = None, text: str = "",
         templates: list[ReplyTemplate] | None = None) -> ReplyForm:
    return ReplyForm(mention=a_mention(), target=target, account="La Matinale",
                     templates=templates or [], text=text, sensitive=sensitive,
                     approvals_channel="C0APPROVALS", state=ModalState(mention_id=4, block=2))


MASTODON = Target(ReplyKind.MASTODON, "Mastodon", 500, prefix="@kev59@mamot.example ",
                  visibility="direct")


def test_the_modal_offers_templates_count_preview_and_approval(config: Config) -> None:
    """Templates grouped by language in the order given (the mention's first), the text
    with a live count and a preview of exactly what goes out, and the approval box."""
    templates = [ReplyTemplate("en", "thanks", "Thanks", "", "shipped"),
                 ReplyTemplate("fr", "merci", "Merci", "", "shipped")]
    view = messages.reply_modal(form(target=MASTODON, text="Merci !", templates=templates),
                                "fr")
    rendered = text_of(view["blocks"])
    picker = next(b for b in view["blocks"] if b["block_id"] == "template")["accessory"]
    assert [g["label"]["text"] for g in picker["option_groups"]] == ["English", "Français"]
    text_input = next(b for b in view["blocks"] if b["block_id"] == "text-2")
    assert text_input["dispatch_action"] is True
    assert text_input["element"]["initial_value"] == "Merci !"
    assert "14 / 500 caractères — il en reste 486" in rendered  # @kev59 + text
    assert "```@kev59@mamot.example Merci !```" in rendered
    assert "visibilité : mention privée" in rendered
    assert any(b["block_id"] == "approval" for b in view["blocks"])
    assert view["submit"]["text"] == "Envoyer"
    assert ModalState.load(view["private_metadata"]) == ModalState(4, None, 2, 0)
    assert validate_blocks(view["blocks"], max_blocks=100) == []


def test_a_sensitive_mention_only_offers_sending_for_approval() -> None:
    """No approval box to untick: the submit button says it goes to the editors."""
    view = messages.reply_modal(form(target=MASTODON, sensitive="catégorie Crise"), "fr")
    assert not any(b["block_id"] == "approval" for b in view["blocks"])
    assert view["submit"]["text"] == "Envoyer pour validation"
    assert "Mention sensible (catégorie Crise)" in text_of(view["blocks"])


def test_over_the_limit_the_count_warns_and_by_hand_says_why() -> None:
    """Over the limit: how many too many. By hand: why Vigie cannot send it itself."""
    bluesky = Target(ReplyKind.BLUESKY, "Bluesky", 300)
    assert messages.count_line(bluesky, "x" * 305, "en") == (
        ":warning: 305 / 300 characters: 5 too many for Bluesky")
    by_hand = Target(ReplyKind.BY_HAND, "RSS", None, by_hand_reason="platform")
    view = messages.reply_modal(form(target=by_hand, text="Bonjour"), "en")
    assert "Vigie cannot post on RSS" in text_of(view["blocks"])
    assert view["submit"]["text"] == "Record"


def test_typing_redraws_only_the_count_and_the_preview() -> None:
    """The update built from a block_actions payload keeps every other block as Slack
    showed it, so the text being typed is not touched."""
    shown = messages.reply_modal(form(target=MASTODON, text="Merci"), "fr")
    shown |= {"id": "V1", "hash": "h", "state": {"values": {}}}
    updated = messages.updated_live(shown, MASTODON, "Merci beaucoup", "fr")
    before = {b["block_id"]: b for b in shown["blocks"]}
    after = {b["block_id"]: b for b in updated["blocks"]}
    assert set(before) == set(after) and "state" not in updated and "hash" not in updated
    for block_id in before:
        if block_id in ("count", "preview"):
            assert before[block_id] != after[block_id]
        else:
            assert before[block_id] == after[block_id]
    assert "Merci beaucoup" in after["preview"]["text"]["text"]


def test_the_approval_preview_has_buttons_until_decided() -> None:
    """Waiting: the mention, the reply, why, and Approve/Reject. Decided: who and what,
    without buttons; the reply's id is in the metadata to find it again."""
    mention = a_mention()
    waiting = messages.approval_preview(
        a_reply(ReplyState.AWAITING_APPROVAL, sensitive="catégorie Crise"), mention,
        platform="Mastodon", account="La Matinale",
        card_link="https://x.slack.com/archives/C0/p1", locale="fr")
    rendered = text_of(waiting.blocks)
    assert "Validation demandée : catégorie Crise" in rendered
    assert "<!here>" not in rendered and "<!channel>" not in rendered
    assert [e["action_id"] for e in waiting.blocks[-1]["elements"]] == [
        "reply.approve", "reply.reject"]
    assert waiting.metadata == {"event_type": "vigie_reply_approval",
                                "event_payload": {"reply_id": 9}}
    assert validate_blocks(waiting.blocks) == []
    decided = messages.approval_preview(
        a_reply(ReplyState.REJECTED, decided_by="U0EDITOR", reason="Pas de <!channel>"),
        mention, platform="Mastodon", account="La Matinale", card_link=None, locale="fr")
    assert decided.blocks[-1]["type"] == "section"
    assert "Refusée par <@U0EDITOR> : Pas de &lt;!channel&gt;" in text_of(decided.blocks)


def test_template_modals_are_valid_block_kit() -> None:
    """The list, the form and the history are modals Slack accepts, whatever the titles."""
    templates = [ReplyTemplate("fr", f"t{i}", f"Titre <b> {i}" * 5, "x", "custom",
                               archived=i % 2 == 0, version=1, updated_by="U1",
                               updated_at=NOW) for i in range(40)]
    listing = messages.templates_list(templates, locale="fr", notice="ok")
    assert validate_blocks(listing["blocks"], max_blocks=100) == []
    assert listing["blocks"][1]["type"] == "context"
    new = messages.template_form(locale="en", root="V1")
    assert [b["block_id"] for b in new["blocks"]] == ["name", "locale", "title", "body",
                                                      "variables"]
    edit = messages.template_form(locale="fr", root="V1", template=templates[1])
    assert [b["block_id"] for b in edit["blocks"]][:1] == ["key"]
    assert validate_blocks(edit["blocks"], max_blocks=100) == []
