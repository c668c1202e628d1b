"""Every message Vigie sends is paced per channel: posts due together, their notes in the
approvals channel and the author's DMs reach a Slack that limits each channel to one
message a second (with short bursts) without a single 429, each exactly once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.app import Vigie
from bot.config import Config
from bot.posts.models import DraftIn, NoticeState, Post, PostDelivery, PostNotice, PostState
from bot.sandbox.slack import SLACK_POSTING_RATE, FakeSlack
from tests.e2e.conftest import StartVigie
from tests.support.newsroom import newsroom
from tests.support.posts import due_together

AUTHOR = "U0CM"
EDITOR = "U0EDITOR"
APPROVALS = "C0APPROVALS"
TARGETS = {"annonces": "C0ANNONCES", "breves": "C0BREVES"}
POSTS = 6


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """Slack as it documents itself: one message a second per channel, short bursts."""
    with FakeSlack(channel_rate_limit=SLACK_POSTING_RATE) as fake:
        yield fake


@pytest.fixture
def config() -> Config:
    """The newsroom's own pace (Slack's second a channel), not the suite's quick one."""
    real = newsroom()
    assert real.bursts.pace == 1.0
    return real


def draft_and_approve(vigie: Vigie, count: int) -> list[int]:
    """`count` posts drafted by the author and approved by an editor, as the buttons do,
    for a day from now."""
    later = datetime.now(UTC) + timedelta(days=1)
    ids = []
    for index in range(count):
        post = vigie.posts.desk.draft(AUTHOR, DraftIn(
            text=f"Ce soir, épisode {index}", targets=tuple(TARGETS), publish_at=later))
        vigie.posts.desk.approve(int(post.id or 0), EDITOR, via="button")
        ids.append(int(post.id or 0))
    return ids


def metadata_ids(messages: list[dict[str, Any]], event_type: str) -> Counter[int]:
    return Counter(m["metadata"]["event_payload"]["post_id"] for m in messages
                   if (m.get("metadata") or {}).get("event_type") == event_type)


@pytest.mark.timeout(180)
def test_posts_due_together_with_their_notes_and_dms_draw_no_429(
        start_vigie: StartVigie, slack: FakeSlack) -> None:
    """6 posts × 2 channels due in the same second, plus previews, thread reports and the
    author's DMs: no 429 from a Slack that limits each channel, each message once."""
    vigie = start_vigie().vigie
    ids = draft_and_approve(vigie, POSTS)
    due_together(vigie, ids, datetime.now(UTC) + timedelta(seconds=1))
    author_dm = slack.dm_channel(AUTHOR)

    def notices() -> list[PostNotice]:
        with Session(vigie.engine) as session:
            return list(session.exec(select(PostNotice)))

    def settled() -> bool:
        """Every post out, every target reported in its thread, every note sent."""
        with Session(vigie.engine) as session:
            states = session.exec(select(Post.state)).all()
            deliveries = set(session.exec(select(PostDelivery.id)).all())
        rows = notices()
        reported = {d for n in rows if n.kind == "report"
                    for d in json.loads(n.params)["deliveries"]}
        return (list(states) == [PostState.PUBLISHED] * POSTS and reported == deliveries
                and all(n.state == NoticeState.SENT for n in rows)
                and len(slack.messages(author_dm)) == sum(1 for n in rows if n.kind == "author"))

    slack.wait_for(settled, timeout=150, interval=0.2)

    assert slack.ratelimited_count == 0, slack.ratelimited_channels
    for channel in TARGETS.values():  # each post once in each target channel
        assert metadata_ids(slack.messages(channel), "vigie_post") == Counter(ids)
    top = slack.messages(APPROVALS, include_replies=False)
    assert metadata_ids(top, "vigie_post_preview") == Counter(ids)  # one preview each
    rows = notices()
    in_threads = [m for m in slack.messages(APPROVALS) if m.get("thread_ts")
                  and m["ts"] != m["thread_ts"]]
    assert len(in_threads) == sum(1 for n in rows if n.kind in ("thread", "report"))
    dms = Counter(n.event for n in rows if n.kind == "author")
    assert dms == {"drafted": POSTS, "approved": POSTS, "published": POSTS}
    assert len(slack.messages(author_dm)) == 3 * POSTS  # drafted, approved, published
