"""PostgreSQL lost in the middle of a send (campaign.database): the reply is not left
`sending` for the five minutes of the send lease; it ends sent, once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from tests.e2e.replies.conftest import STAFF, Desk
from tests.support.outage import Outage


@pytest.fixture
def outage(desk: Desk) -> Iterator[Outage]:
    cut = Outage(desk.vigie.vigie.engine)
    yield cut
    cut.close()


def sent_once(desk: Desk, mention_id: int) -> None:
    sent = desk.reply_in(mention_id, "sent")
    assert [s["_text"] for s in desk.mastodon.posted] == [sent.text]
    desk.answered(mention_id)


def test_a_reply_sent_as_the_database_went_away_is_recorded_sent_once_it_is_back(
        desk: Desk, outage: Outage) -> None:
    """Found by campaign.database: the status went out on Mastodon, then the database
    was lost before the reply was written `sent`; it stayed `sending` until the lease
    ran out. Now the next sweep (a minute at most) writes what this replica knows."""
    desk.mastodon.mention("matinale", by="kev59", text="Une question")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    outage.fails = lambda sql: sql.startswith("UPDATE reply") and "remote_id" in sql
    assert desk.submit(STAFF, view, "Bonjour !").status_code == 200
    desk.slack.wait_for(lambda: outage.fails is None, timeout=10)
    assert [r.state for r in desk.replies(mention.id or 0)] == ["sending"]
    desk.vigie.vigie.replies.desk.sweep()
    sent_once(desk, mention.id or 0)


def test_a_send_claimed_as_the_database_went_away_is_sent_once_it_is_back(
        desk: Desk, outage: Outage) -> None:
    """The claim (`queued → sending`) committed and the connection was cut before the
    reply could be read: nothing went out. The next sweep queues it again and sends it,
    once, rather than waiting five minutes and then looking for it on Mastodon."""
    desk.mastodon.mention("matinale", by="kev59", text="Une autre question")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    outage.after = lambda sql: sql.startswith("UPDATE reply") and "attempts +" in sql
    outage.fails = lambda sql: sql.startswith("SELECT reply.")
    assert desk.submit(STAFF, view, "Bonsoir !").status_code == 200
    desk.slack.wait_for(lambda: outage.fails is None, timeout=10)
    assert [r.state for r in desk.replies(mention.id or 0)] == ["sending"]
    assert desk.mastodon.posted == []
    desk.vigie.vigie.replies.desk.sweep()
    sent_once(desk, mention.id or 0)


@pytest.mark.own_database  # an in-memory SQLite of its own: the helper, not the suite's database
def test_the_outage_helper_fails_the_statement_it_picks() -> None:
    """`Outage` raises what a cut connection raises, so the code under test sees the
    same error as in campaign.database."""
    from sqlalchemy import text

    from bot.store import make_engine

    engine = make_engine("sqlite://")
    cut = Outage(engine)
    cut.fails = lambda sql: sql.startswith("SELECT 2")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
        with pytest.raises(OperationalError):
            connection.execute(text("SELECT 2"))
        assert connection.execute(text("SELECT 2")).scalar() == 2  # once
    cut.close()
