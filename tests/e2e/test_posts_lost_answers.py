"""Posts when Slack loses its answers (defects found by `python -m campaign.chaos`)."""

from __future__ import annotations

from sqlmodel import Session

from bot.posts.models import Post, PostState
from tests.e2e.test_posts_flow import (
    APPROVALS,
    EDITOR,
    open_draft,
    previews,
    soon,
    stored,
    submit,
    until,
)
from tests.support.harness import RunningVigie
from tests.support.slack_driver import SlackDriver
from tests.support.slack_server import FakeSlack


def test_a_preview_whose_answer_was_lost_is_found_not_posted_twice(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """Slack posts the preview but the connection drops before its answer: Vigie finds
    that preview in the channel instead of leaving it unknown (and posting a second one
    later), so the editor's ✅ on it approves the post."""
    slack.reset_next("chat.postMessage", then_apply=True, channel=APPROVALS)
    submit(driver, open_draft(driver, slack, "Annonce sous la tempête"), at=soon(60))
    [card] = until(slack, lambda: previews(slack))

    def known() -> Post | None:
        [post] = stored(vigie)
        return post if post.preview_ts else None

    post = until(slack, known)
    assert post.preview_ts == card["ts"]
    assert [c.status for c in slack.calls_to("chat.postMessage")
            if c.params.get("channel") == APPROVALS] == [200]  # posted once

    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])

    def approved() -> bool:
        with Session(vigie.vigie.engine) as session:
            found = session.get(Post, post.id)
            return found is not None and found.state == PostState.APPROVED

    until(slack, approved)
    assert len(previews(slack)) == 1
