"""Flag messages and the shortcut modal, built and read back without Slack."""

from __future__ import annotations

from bot.config import Config
from bot.mentions.flag_messages import (
    CardFlag,
    acknowledgement,
    card_context,
    outcome_message,
    read_modal,
    shortcut_modal,
)
from bot.reasons import Reason
from bot.sandbox.driver import build_state_values
from bot.sandbox.slack import validate_blocks


def test_modal_offers_the_accounts_and_reads_back_the_answers(config: Config) -> None:
    """The channel's account is preselected; the submitted account and note come back."""
    view = shortcut_modal("fr", flag_id=7, author="Léa", preview="<!channel> texte", files=2,
                          accounts=config.accounts, initial_account="sport-talk")
    assert validate_blocks(view["blocks"], max_blocks=100) == []
    assert view["title"]["text"] == "Envoyer à Vigie"
    [select] = [b["element"] for b in view["blocks"] if b.get("block_id") == "account"]
    assert [o["value"] for o in select["options"]] == [a.id for a in config.accounts]
    assert select["initial_option"]["value"] == "sport-talk"
    assert "&lt;!channel&gt; texte" in str(view["blocks"])
    view["state"] = {"values": build_state_values(view, {
        "account": {"account": "matinale"}, "note": {"note": "  à rappeler  "}})}
    answer = read_modal(view)
    assert (answer.flag_id, answer.account, answer.note) == (7, "matinale", "à rappeler")


def test_modal_without_accounts_or_answers_still_reads(config: Config) -> None:
    """No accounts configured: no select; nothing filled in: no account, no note."""
    view = shortcut_modal("en", flag_id=3, author="x", preview="", files=0, accounts=[],
                          initial_account=None)
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == ["note"]
    view["state"] = {"values": build_state_values(view, {})}
    answer = read_modal(view)
    assert (answer.flag_id, answer.account, answer.note) == (3, None, None)
    assert read_modal({"private_metadata": "oops"}).flag_id is None


def test_untrusted_words_are_escaped_everywhere() -> None:
    """Names, notes, reasons and fetched authors cannot ping or inject links."""
    ack = acknowledgement("en", channel="C0MENTIONS", duplicate=False,
                          fetched=("<!here>", "mastodon"), fetch_error=None)
    outcome = outcome_message("en", status="answered", by_name="<@U1>", card_url=None)
    [context] = card_context([CardFlag(name="<!channel>", way="mention", channel="C0DESK",
                                       permalink=None, note="<https://evil|ok>",
                                       fetch_error="<!everyone>")], "en")
    everything = str([ack.blocks, outcome.blocks, context])
    for raw in ("<!here>", "<@U1>", "<!channel>", "<https://evil", "<!everyone>"):
        assert raw not in everything, raw
    assert "<#C0MENTIONS>" in ack.text and "<#C0DESK>" in str(context)


def test_a_direct_message_origin_is_not_shown_as_a_channel() -> None:
    """A flag raised in a DM says so instead of linking a channel nobody else can see."""
    [context] = card_context([CardFlag(name="Léa", way="shortcut", channel="D0123",
                                       permalink=None, note=None, fetch_error=None)], "en")
    assert "in a direct message" in str(context) and "<#D0123>" not in str(context)


def test_why_a_post_could_not_be_fetched_is_said_in_each_readers_language() -> None:
    """One stored reason: French on the newsroom's card, English in an English flagger's
    ack; the host it names is escaped in both."""
    stored = Reason("fetch.timeout", host="<!channel>.example", seconds=10.0).stored(512)
    [context] = card_context([CardFlag(name="Léa", way="mention", channel="C0DESK",
                                       permalink=None, note=None, fetch_error=stored)], "fr")
    ack = acknowledgement("en", channel="C0MENTIONS", duplicate=False, fetched=None,
                          fetch_error=stored)
    assert ":warning: Impossible de récupérer le post (&lt;!channel&gt;.example n'a pas " \
           "répondu en 10 s)." in str(context)
    assert "I could not fetch the post (&lt;!channel&gt;.example did not answer within " \
           "10 s); the card shows your link and note." in ack.text
    assert "<!channel>" not in str([context, ack.blocks])
