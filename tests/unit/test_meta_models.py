"""Meta's times and ids as `MetaItem` reads them (bot/platforms/meta/models.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.platforms.meta.models import MetaItem, graph_time, parse_time


def test_meta_times_in_every_shape_meta_sends() -> None:
    """Unix seconds (Page webhooks), milliseconds, and ISO with +0000 (Graph, Threads)."""
    moment = datetime(2024, 8, 7, 10, 33, 16, tzinfo=UTC)
    assert parse_time(1723026796) == moment
    assert parse_time(1723026796000) == moment
    assert parse_time("1723026796") == moment
    assert parse_time("2024-08-07T10:33:16+0000") == moment
    assert parse_time("2024-08-07T12:33:16+0200") == moment
    assert parse_time("2024-08-07T10:33:16Z") == moment
    assert graph_time(moment) == "2024-08-07T10:33:16+0000"
    unreadable: list[object] = [None, "", "hier", True, {}]
    for value in unreadable:
        assert parse_time(value) is None


def test_the_external_id_is_the_platforms_own_id_whatever_the_event() -> None:
    new = MetaItem(platform="instagram", account_id="1", kind="new", item="comment",
                   item_id="179")
    removed = MetaItem(platform="instagram", account_id="1", kind="removed", item="comment",
                       item_id="179")
    assert new.external_id == removed.external_id == "instagram:179"
    assert new.external_id != MetaItem(platform="threads", account_id="1", kind="new",
                                       item="comment", item_id="179").external_id


def test_a_time_no_calendar_holds_is_unknown_not_a_crash() -> None:
    """Found by the fuzzing campaign: a delivery's time past year 9999 (or infinite, or
    NaN, which Python's JSON reader accepts) crashed the webhook with a 500."""
    for value in (99999999999999999999, "99999999999999999999", 1e400, float("nan"),
                  -1e300, 10**30):
        assert parse_time(value) is None, value
