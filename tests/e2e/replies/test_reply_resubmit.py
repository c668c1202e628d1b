"""Submit pressed again on the same reply modal (Slack got no answer in time): one reply."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.replies.messages import ModalState
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


def test_a_submission_while_the_database_is_away_is_a_503_not_a_500(
        desk: Desk, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Found by campaign.database (SQLite's disk full): Bolt answered the modal 500 with a
    traceback in the log. Now 503 with Retry-After (Slack keeps the modal, the person
    submits again once it is back), one log line naming the disk, nothing stored."""
    desk.mastodon.mention("matinale", by="kev59", text="Une question")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT INTO reply", {},
                               sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(desk.vigie.vigie.replies.desk, "answered_meanwhile", full)
    answer = desk.submit(STAFF, view, "Bonjour !")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert desk.replies(mention.id or 0) == [] and desk.mastodon.posted == []
    [line] = [r for r in caplog.records if r.name == "handlers.errors"]
    assert line.getMessage().endswith("database unavailable (database or disk is full)")
    assert line.exc_info is None and "INSERT" not in caplog.text
    monkeypatch.undo()
    assert desk.submit(STAFF, view, "Bonjour !").status_code == 200
    desk.reply_in(mention.id or 0, "sent")


def test_a_submission_while_the_account_cannot_be_looked_up_is_refused_not_by_hand(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """campaign.database saw replies recorded "by hand" around a PostgreSQL restart
    (they were to a probe's mention with no status to answer: rightly by hand). This
    holds the promise behind it: the account's sources cannot be read (the connection
    cut as PostgreSQL restarts) → the modal is answered 503, Slack keeps it and its text,
    nothing is stored; submitted again once the database is back, it goes to Mastodon."""
    desk.mastodon.mention("matinale", by="kev59", text="Une question")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    listen = desk.vigie.vigie.listen
    assert listen is not None
    catalog = listen.catalog

    def cut(*args: Any, **kwargs: Any) -> int:
        raise OperationalError("SELECT max(configchange.id)", {}, Exception(
            "server closed the connection unexpectedly"))

    monkeypatch.setattr(catalog, "_revision", cut)
    catalog._invalidate()  # the next lookup reads the database, as after the 1 s cache
    answer = desk.submit(STAFF, view, "Bonjour !")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert desk.replies(mention.id or 0) == [] and desk.mastodon.posted == []
    monkeypatch.undo()
    assert desk.submit(STAFF, view, "Bonjour !").status_code == 200
    sent = desk.reply_in(mention.id or 0, "sent")
    assert sent.kind == "mastodon"
    assert [s["_text"] for s in desk.mastodon.posted] == [sent.text]


def test_a_send_failing_after_the_modal_closed_is_told_not_raised_to_bolt(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by campaign.database: the reply is stored and the modal acknowledged, then
    sending it meets the database going away. That failure used to reach Bolt, whose
    thread runner may answer Slack 500 for a modal it had already closed. Now the person
    gets a direct message with a reference, and the reply stays stored for the sweep."""
    desk.mastodon.mention("matinale", by="kev59", text="Une question ?")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    state = ModalState.load(view["private_metadata"])
    filled = {**view, "state": {"values": {state.text_block: {"reply.text": {
        "type": "plain_text_input", "value": "Bonjour !"}}}}}
    replies = desk.vigie.vigie.replies.desk

    def database_gone(reply_id: int) -> None:
        raise OperationalError("UPDATE reply", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(replies, "after_submit", database_gone)
    [listener] = [x for x in desk.vigie.vigie.bolt._listeners
                  if getattr(x, "ack_function", None) is not None
                  and x.ack_function.__name__ == "submitted"
                  and x.ack_function.__module__ == "handlers.replies"]
    acked: list[dict[str, Any]] = []
    listener.ack_function(ack=lambda **kwargs: acked.append(kwargs),
                          body={"type": "view_submission", "user": {"id": STAFF},
                                "view": filled}, view=filled)
    assert acked == [{}]  # the modal closed: the reply is stored
    [told] = desk.slack.wait_for(lambda: desk.slack.messages(desk.slack.dm_channel(STAFF)))
    assert "Référence" in told["text"]
    [stored] = desk.replies(mention.id or 0)  # kept, for the sweep to send
    assert (stored.state, stored.text.endswith("Bonjour !")) == ("queued", True)
