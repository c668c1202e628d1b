"""Submit pressed again on the same reply modal (Slack got no answer in time): one reply."""

from __future__ import annotations

from tests.e2e.replies.conftest import STAFF, Desk


def test_the_same_modal_submitted_twice_sends_one_reply(desk: Desk) -> None:
    """Found by campaign.database: a submission answered late (Slack shows an error and
    keeps the modal open), Submit pressed again: still one reply on Mastodon, one row."""
    desk.mastodon.mention("matinale", by="kev59", text="Vous passez à quelle heure ?")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    text = "Dès 7 h, bonne écoute !"
    assert desk.submit(STAFF, view, text).status_code == 200
    desk.reply_in(mention.id or 0, "sent")
    assert desk.submit(STAFF, view, text).status_code == 200
    desk.answered(mention.id or 0)
    assert len(desk.replies(mention.id or 0)) == 1
    assert len(desk.mastodon.calls("POST", "/api/v1/statuses")) == 1


def test_a_new_text_from_the_same_modal_is_a_new_reply(desk: Desk) -> None:
    """Only the very same submission is folded: a different text is another reply."""
    desk.mastodon.mention("matinale", by="kev59", text="Et le podcast ?")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    desk.submit(STAFF, view, "Il arrive ce soir.")
    desk.reply_in(mention.id or 0, "sent")
    desk.submit(STAFF, view, "Correction : demain matin.")
    desk.slack.wait_for(lambda: len(desk.mastodon.posted) == 2, timeout=10)
    assert [r.text.split(" ", 1)[1] for r in desk.replies(mention.id or 0)] == [
        "Il arrive ce soir.", "Correction : demain matin."]
