"""Posts when Slack loses its answers (defects found by `python -m campaign.chaos`)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.posts.models import NoticeState, Post, PostNotice, PostState
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.e2e.test_posts_flow import (
    APPROVALS,
    AUTHOR,
    EDITOR,
    dms,
    open_draft,
    previews,
    soon,
    stored,
    submit,
    until,
)
from tests.support.edge import Edge
from tests.support.harness import RunningVigie


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


def test_a_note_slack_posted_before_a_server_error_is_not_sent_again(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """Slack posts the author's DM then answers 500: Vigie cannot read DMs to check, so
    the note is left unconfirmed instead of being sent a second time."""
    slack.fail_next("chat.postMessage", status=500, then_apply=True,
                    channel=slack.dm_channel(AUTHOR))
    submit(driver, open_draft(driver, slack, "Annonce du soir"), at=soon(60))
    until(slack, lambda: previews(slack))

    def settled() -> list[PostNotice]:
        with Session(vigie.vigie.engine) as session:
            notes = list(session.exec(select(PostNotice).where(PostNotice.kind == "author")))
        return [n for n in notes if n.state not in (NoticeState.PENDING, NoticeState.SENDING)]

    [note] = until(slack, settled)
    assert note.state == NoticeState.UNCONFIRMED
    assert len([t for t in dms(slack) if "attend l'approbation" in t]) == 1


def test_a_check_mark_given_before_vigie_found_its_preview_counts(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """The preview's answer is lost and the first look for it fails: an editor ✅ it
    meanwhile (its event, for a message Vigie does not know yet, counts for nothing).
    When Vigie finds the preview, the ✅ Slack shows on it approves the post."""
    slack.reset_next("chat.postMessage", then_apply=True, channel=APPROVALS)
    slack.fail_next("conversations.history", status=500)
    submit(driver, open_draft(driver, slack, "Annonce approuvée tôt"), at=soon(60))
    [card] = until(slack, lambda: previews(slack))
    until(slack, lambda: slack.calls_to("conversations.history"))
    slack.add_reaction(APPROVALS, card["ts"], "white_check_mark", user=EDITOR)
    [post] = stored(vigie)
    assert post.preview_ts is None and post.preview_claimed_at is not None
    with Session(vigie.vigie.engine) as session:  # Slack's window for that answer is over
        row = session.get(Post, post.id)
        assert row is not None and row.preview_claimed_at is not None
        row.preview_claimed_at -= timedelta(minutes=3)
        session.add(row)
        session.commit()
    vigie.vigie.posts.notices.refresh(post.id or 0)  # what the sweep does then

    def approved() -> bool:
        [found] = stored(vigie)
        return found.preview_ts == card["ts"] and found.state == PostState.APPROVED

    until(slack, approved)
    assert len(previews(slack)) == 1


def test_a_draft_command_whose_modal_slack_failed_to_open_raises_nothing_to_bolt(
        edge: Edge, slack: FakeSlack) -> None:
    """/draft is acknowledged, then Slack drops views.open: the listener tells the person
    itself (with a reference) instead of raising to Bolt, whose thread runner can then
    answer Slack 500 for the acknowledged command ("/draft failed", seen by the
    campaign)."""
    [listener] = [x for x in edge.vigie.bolt._listeners  # the function Bolt calls
                  if getattr(x, "ack_function", None) and
                  x.ack_function.__name__ == "draft_command"]
    slack.reset_next("views.open")
    acked: list[bool] = []
    command = {"command": "/draft", "text": "", "user_id": AUTHOR, "channel_id": "C0GENERAL",
               "trigger_id": slack.new_trigger_id(user_id=AUTHOR)}
    listener.ack_function(ack=lambda *args, **kwargs: acked.append(True), command=command)
    assert acked == [True]
    [told] = slack.ephemerals("C0GENERAL", AUTHOR)
    assert "réf" in told["text"].lower() or "ref" in told["text"].lower()
