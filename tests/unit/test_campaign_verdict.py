"""The fault campaign's verdict on replies (`campaign._desk.unsent_replies`): a false
alarm there hid where the real defects are, and a lenient one would hide them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bot.mentions.models import Mention
from bot.replies.models import Reply, ReplyKind, ReplyState
from campaign._desk import unsent_replies

NOW = datetime(2026, 12, 4, 7, tzinfo=UTC)


def mention(mention_id: int, ref: str | None) -> Mention:
    return Mention(id=mention_id, source_id="monitoring", external_id=f"pg-{mention_id}",
                   platform="mastodon", account_id="matinale", platform_ref=ref,
                   author_handle="@lecteur@mamot.example", text="Une question ?",
                   fingerprint=f"f{mention_id}", created_at=NOW, received_at=NOW,
                   channel_id="C0MENTIONS")


def reply(mention_id: int, state: ReplyState, kind: ReplyKind) -> Reply:
    return Reply(mention_id=mention_id, author_id="U0STAFF2", kind=kind, text="Merci",
                 key=f"k{mention_id}", state=state, created_at=NOW, updated_at=NOW)


def test_a_mention_with_no_status_answered_by_hand_is_not_a_lost_reply() -> None:
    """Found by campaign.database: a probe's mention (no Mastodon status: the probe sends
    bare webhook mentions) accepted just as PostgreSQL came back got a card, the people
    answered it, and Vigie rightly recorded it by hand; the verdict called it "submitted,
    never sent", which read as the database outage changing what a reply is."""
    mentions = {1: mention(1, "109"), 2: mention(2, None)}
    replies = [reply(1, ReplyState.SENT, ReplyKind.MASTODON),
               reply(2, ReplyState.BY_HAND, ReplyKind.BY_HAND)]
    assert unsent_replies({1, 2}, mentions, replies, Counter({"109": 1})) == ([], 1)


def test_a_reply_by_hand_to_a_mastodon_status_is_missing() -> None:
    """The defect the campaign looks for stays caught: a status Vigie could answer,
    recorded by hand instead, is a reply never sent, and the verdict says which."""
    mentions = {1: mention(1, "109")}
    replies = [reply(1, ReplyState.BY_HAND, ReplyKind.BY_HAND)]
    missing, by_hand = unsent_replies({1}, mentions, replies, Counter())
    assert missing == ["mention 1 (pg-1, Mastodon status 109): ['by_hand']"]
    assert by_hand == 0


def test_a_mention_with_no_status_and_no_reply_is_missing() -> None:
    """A modal that closed on a reply never stored is a loss, whatever the mention."""
    missing, _ = unsent_replies({2, 3}, {2: mention(2, None)}, [], Counter())
    assert missing == ["mention 2 (pg-2, no status to answer): no reply stored, not by hand",
                       "mention 3: not stored"]
