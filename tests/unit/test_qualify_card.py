"""The interactive card: state lines, controls, collapse, escaping and Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.mentions.messages import CardState, FieldMark, mention_card, mention_id_of_block
from bot.mentions.models import Mention
from bot.sandbox.slack import validate_blocks

AT = datetime(2026, 11, 2, 9, 14, tzinfo=UTC)
HOSTILE = "<!channel> <@U123> <!subteam^S1> <https://evil.example|radio.example> & *gras*"


def mention(**fields: Any) -> Mention:
    values: dict[str, Any] = {
        "id": 42, "source_id": "monitoring", "external_id": "x1", "platform": "mastodon",
        "account_id": "matinale", "author_handle": "@kev@pouet.example", "author_name": "Kévin",
        "text": "Le son est coupé depuis 7h", "url": "https://pouet.example/@kev/1",
        "lang": "fr", "fingerprint": "f", "created_at": AT, "received_at": AT,
        "channel_id": "C0MENTIONS", "version": 3,
    }
    values.update(fields)
    return Mention(**values)


def controls(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def test_card_has_every_control_and_slack_accepts_it() -> None:
    """Sentiment, category, priority, status menus, the user picker, Take it and History
    are on the card, whose blocks pass Slack's validation even with a huge hostile text."""
    card = mention_card(mention(text=HOSTILE * 200), account_name="La Matinale", locale="fr")
    assert validate_blocks(card.blocks) == []
    found = controls(card.blocks)
    assert set(found) == {"qualify.sentiment", "qualify.category", "qualify.priority",
                          "qualify.status", "qualify.assignee", "qualify.take",
                          "qualify.history"}
    assert [o["value"] for o in found["qualify.category"]["options"]] == [
        "question", "complaint", "praise", "crisis", "spam", "other"]
    assert found["qualify.assignee"]["type"] == "users_select"
    assert "<!channel>" not in json.dumps(card.blocks) and "<!channel>" not in card.text


def test_block_ids_carry_the_mention_and_its_version() -> None:
    """The handler reads the mention from any control; a new version changes block ids."""
    blocks = mention_card(mention(), account_name=None, locale="en").blocks
    ids = [b["block_id"] for b in blocks if b["type"] == "actions"]
    assert ids == ["qualify:42:3", "assign:42:3"]
    assert {mention_id_of_block(i) for i in ids} == {42}
    assert mention_id_of_block("body") is None and mention_id_of_block("qualify:x:1") is None


def test_state_lines_say_who_set_what_and_when_or_which_rule() -> None:
    """Each set field names its setter with a localised date, or its rule (escaped)."""
    state = CardState(marks={
        "priority": FieldMark(AT, "U0STAFF1", "button"),
        "category": FieldMark(AT, None, "rule", "<!channel> rule"),
        "assignee": FieldMark(AT, "U0STAFF1", "button"),
    }, suggested_sentiment="negative", respond_by=AT)
    card = mention_card(mention(priority="high", category="crisis", assignee_id="U0STAFF2",
                                status="assigned"), account_name=None, locale="en", state=state)
    [lines] = [b for b in card.blocks if b.get("block_id") == "state"][0]["elements"]
    text = lines["text"]
    assert "*Priority:* High — <@U0STAFF1>, <!date^1793610840^" in text
    assert "Crisis — suggested by rule _&lt;!channel&gt; rule_" in text
    assert "assigned to <@U0STAFF2> — <@U0STAFF1>" in text
    assert "*Sentiment:* not set — suggested: Negative (automatic, check it)" in text
    assert "first response due" in text
    menus = controls(card.blocks)
    assert menus["qualify.priority"]["initial_option"]["value"] == "high"
    assert menus["qualify.assignee"]["initial_user"] == "U0STAFF2"
    assert "initial_option" not in menus["qualify.sentiment"]  # a suggestion is not a value


def test_closed_and_ignored_cards_collapse_to_one_line() -> None:
    """One section with status, who closed it, an escaped excerpt and a Reopen button."""
    state = CardState(marks={"status": FieldMark(AT, "U0STAFF1", "button")})
    for status in ("closed", "ignored"):
        card = mention_card(mention(status=status, text=HOSTILE * 50), account_name="M",
                            locale="fr", state=state)
        assert validate_blocks(card.blocks) == []
        [block] = card.blocks
        assert block["accessory"]["action_id"] == "qualify.reopen"
        assert mention_id_of_block(block["block_id"]) == 42
        assert "<@U0STAFF1>" in block["text"]["text"] and "<!channel>" not in block["text"]["text"]
        assert len(block["text"]["text"]) < 600
        assert card.metadata == {"event_type": "vigie_mention",
                                 "event_payload": {"mention_id": 42}}
