from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.mentions.messages import BODY_LIMIT, mention_card
from bot.mentions.models import Mention
from bot.slack_format import escape, escaped_within, link


def mention(text: str, **fields: Any) -> Mention:
    values: dict[str, Any] = {
        "id": 7, "source_id": "monitoring", "external_id": "x1", "platform": "mastodon",
        "account_id": "matinale", "author_handle": "@kev@pouet.example", "author_name": "Kévin",
        "text": text, "url": "https://pouet.example/@kev/1", "lang": "fr", "fingerprint": "f",
        "created_at": datetime(2026, 11, 2, 7, 4, tzinfo=UTC),
        "received_at": datetime(2026, 11, 2, 7, 5, tzinfo=UTC), "channel_id": "C0MENTIONS",
    }
    values.update(fields)
    return Mention(**values)


HOSTILE = "<!channel> <!here> <@U123ABC> <!subteam^S0TEAM> <https://evil.example|bbc.co.uk> & co"


def all_text(card: object) -> str:
    return json.dumps(card.__dict__, ensure_ascii=False)


def test_special_mentions_and_masked_links_are_shown_not_obeyed() -> None:
    """<!channel>, <!here>, <@U…>, <!subteam^…> and <url|label> reach Slack escaped."""
    card = mention_card(mention(HOSTILE), account_name="La Matinale", locale="fr")
    body = card.blocks[1]["text"]
    assert body["text"] == (
        "&lt;!channel&gt; &lt;!here&gt; &lt;@U123ABC&gt; &lt;!subteam^S0TEAM&gt; "
        "&lt;https://evil.example|bbc.co.uk&gt; &amp; co"
    )
    assert body["verbatim"] is True
    everything = all_text(card)
    for raw in ("<!channel>", "<!here>", "<@U123ABC>", "<!subteam^", "<https://evil"):
        assert raw not in everything
    assert "&lt;!channel&gt;" in card.text  # the notification text is escaped too


def test_hostile_author_name_and_url_cannot_break_out() -> None:
    """An author named '<!channel>' and a URL with '|' or '>' stay inert."""
    card = mention_card(
        mention("hi", author_name="<!channel> *boss*", url="https://x.example/a|b>c"),
        account_name="<@U1>", locale="en",
    )
    everything = all_text(card)
    assert "<!channel>" not in everything and "<@U1>" not in everything
    assert "<https://x.example/a%7Cb&gt;c|Open the mention>" in everything


def test_card_shows_author_text_account_source_time_and_link() -> None:
    """The card carries what staff need to judge a mention at a glance."""
    card = mention_card(mention("Quel est le livre de 7h50 ?"), account_name="La Matinale",
                        locale="fr")
    everything = all_text(card)
    for expected in ("Kévin", "@kev@pouet.example", "La Matinale", "Quel est le livre de 7h50 ?",
                     "source monitoring", "<!date^1793603040^", "Voir la mention", "mastodon"):
        assert expected in everything, expected
    assert card.metadata == {"event_type": "vigie_mention", "event_payload": {"mention_id": 7}}


def test_long_text_is_cut_within_slack_limits_and_says_so() -> None:
    """A 10,000-character text fits in one section (≤ 3000) with a note about the cut."""
    card = mention_card(mention("<&>" * 3400), account_name=None, locale="en")
    body = card.blocks[1]["text"]["text"]
    assert len(body) <= BODY_LIMIT
    assert body.endswith("…") and "&am…" not in body and "&lt" in body
    assert "of 10200 characters" in all_text(card)
    assert len(card.text) < 400


def test_escape_helpers() -> None:
    """Escaping never cuts an entity in half and links keep their label."""
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert escaped_within("&&&&", 10) == "&amp;…"
    assert link("https://a.example/?q=1&r=2", "see|this") == (
        "<https://a.example/?q=1&amp;r=2|see¦this>"
    )
