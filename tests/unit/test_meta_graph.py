"""The Graph API client (bot/platforms/meta/graph.py) against the local Graph server:
versioned base URLs, pagination, Meta's errors as reasons a person can act on, what a
failed write says, and pacing by the usage headers so no call goes into a block."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.platforms.meta.graph import (
    GraphClient,
    GraphFailure,
    Usage,
    missing_permissions,
    parse_usage,
    permissions_reason,
    token_scopes,
)
from bot.reasons import Reason
from tests.support.graph_server import FakeGraph


class Pauses:
    """Records the pauses the client asks for, and lets time pass by them."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.asked: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as running:
        yield running


def client(fake: FakeGraph, token: str = "page-token", **options: object) -> GraphClient:
    options.setdefault("timeout", 5.0)
    return GraphClient(token, base_url=fake.url, **options)  # type: ignore[arg-type]


def test_calls_go_to_the_configured_base_url_and_version(fake: FakeGraph) -> None:
    page = fake.add_page("La Matinale")
    assert client(fake).get(page, {"fields": "id,name"}) == {"id": page, "name": "La Matinale"}
    assert fake.requests[-1].path == f"/v21.0/{page}"
    other = FakeGraph(version="v23.0").start()
    try:
        page = other.add_page()
        assert client(other, version="v23.0").get(page)["id"] == page
        with pytest.raises(GraphFailure):
            client(other).get(page)  # the server speaks v23.0 only
    finally:
        other.stop()


def test_the_token_travels_in_a_header_not_in_the_url(fake: FakeGraph) -> None:
    page = fake.add_page(token="secret-token-value")
    client(fake, "secret-token-value").get(page)
    request = fake.requests[-1]
    assert request.token == "secret-token-value"
    assert "access_token" not in request.query


def test_the_token_is_not_in_the_clients_repr() -> None:
    """A client printed in a log or a traceback does not show its secret."""
    assert "s3cr3t" not in repr(GraphClient("s3cr3t"))


def test_pages_follow_the_cursors_to_the_end(fake: FakeGraph) -> None:
    page = fake.add_page()
    post = fake.add_post(page, "Post")
    for n in range(7):
        fake.add_comment(post, f"commentaire {n}")
    texts = [c["message"] for c in client(fake).pages(f"{post}/comments", {"limit": 3})]
    assert texts == [f"commentaire {n}" for n in range(7)]
    afters = [r.query.get("after") for r in fake.calls("GET", f"/{post}/comments")]
    assert afters == [None, ["QVFI000003"], ["QVFI000006"]]


def test_pages_stop_at_max_pages(fake: FakeGraph) -> None:
    page = fake.add_page()
    post = fake.add_post(page, "Post")
    for n in range(10):
        fake.add_comment(post, f"c{n}")
    assert len(list(client(fake).pages(f"{post}/comments", {"limit": 2}, max_pages=2))) == 4


# -- errors ---------------------------------------------------------------------------------------
def test_an_expired_token_says_to_create_a_new_one(fake: FakeGraph) -> None:
    page = fake.add_page()
    fake.expire_token("page-token")
    with pytest.raises(GraphFailure) as failure:
        client(fake).get(page)
    assert failure.value.kind == "token_expired" and failure.value.code == 190
    assert failure.value.subcode == 463
    assert "new long-lived token" in str(failure.value.reason)
    assert "jeton" in failure.value.reason.text("fr")


def test_a_missing_permission_is_named(fake: FakeGraph) -> None:
    page = fake.add_page()
    post = fake.add_post(page, "Post")
    comment = fake.add_comment(post, "Hello")
    fake.revoke("page-token", "pages_manage_engagement")
    with pytest.raises(GraphFailure) as failure:
        client(fake).post(f"{comment}/comments", {"message": "Merci"})
    assert failure.value.kind == "permission" and failure.value.code == 200
    assert failure.value.permission == "pages_manage_engagement"
    assert failure.value.reason == Reason("meta.permission_missing", platform="Facebook",
                                          permission="pages_manage_engagement")
    assert fake.children("fb_comment", _parent=comment) == []


def test_a_permission_error_without_a_name_uses_the_one_the_call_needs(fake: FakeGraph) -> None:
    client_ = client(fake)
    failure = client_._failure(403, {"code": 10, "message": "(#10) Permission denied",
                                     "type": "OAuthException"}, "instagram_manage_comments")
    assert failure.permission == "instagram_manage_comments"
    bare = client_._failure(403, {"code": 10, "message": "(#10) Permission denied"}, None)
    assert bare.reason == Reason("meta.permission_denied", platform="Facebook")


def test_a_deleted_object_is_not_found(fake: FakeGraph) -> None:
    page = fake.add_page()
    with pytest.raises(GraphFailure) as failure:
        client(fake).get(f"{page}_424242")
    assert (failure.value.kind, failure.value.code, failure.value.subcode) == (
        "not_found", 100, 33)
    assert "deleted" in str(failure.value.reason)


@pytest.mark.parametrize(("code", "kind"), [(368, "blocked"), (2, "unavailable"),
                                            (1, "unavailable"), (100, "invalid"),
                                            (4, "rate_limited"), (17, "rate_limited"),
                                            (32, "rate_limited"), (613, "rate_limited"),
                                            (506, "refused")])
def test_meta_error_codes_are_sorted(fake: FakeGraph, code: int, kind: str) -> None:
    page = fake.add_page()
    fake.fail_next(f"/{page}", status=500 if code in (1, 2) else 400, code=code)
    with pytest.raises(GraphFailure) as failure:
        client(fake, max_wait=0.0).get(page)
    assert (failure.value.kind, failure.value.code) == (kind, code)
    assert failure.value.trace == "AbCdEfGh123"


def test_a_server_error_after_the_write_is_answered_and_a_timeout_is_lost(
        fake: FakeGraph) -> None:
    """What a failed write says: 500 after doing it → `answered`; no answer → `lost`;
    a refusal → `not_sent`. In each doubtful case the comment is in fact there."""
    page = fake.add_page()
    post = fake.add_post(page, "Post")
    comment = fake.add_comment(post, "Question ?")
    fake.fail_next(f"/{comment}/comments", status=500, code=2, created=True)
    with pytest.raises(GraphFailure) as answered:
        client(fake).post(f"{comment}/comments", {"message": "Réponse 1"})
    assert answered.value.outcome == "answered"
    release = threading.Event()
    fake.hang_next(f"/{comment}/comments", seconds=10, release=release)
    with pytest.raises(GraphFailure) as lost:
        client(fake, timeout=1.0).post(f"{comment}/comments", {"message": "Réponse 2"})
    release.set()
    assert (lost.value.kind, lost.value.outcome) == ("timeout", "lost")
    fake.fail_next(f"/{comment}/comments", status=400, code=100)
    with pytest.raises(GraphFailure) as refused:
        client(fake).post(f"{comment}/comments", {"message": "Réponse 3"})
    assert refused.value.outcome == "not_sent"
    texts = _wait_for(lambda: sorted(c["message"] for c in
                                     fake.children("fb_comment", _parent=comment)), 2)
    assert texts == ["Réponse 1", "Réponse 2"]


def test_nothing_listening_is_unreachable_and_not_sent() -> None:
    with FakeGraph() as gone:
        url = gone.url
    with pytest.raises(GraphFailure) as failure:
        GraphClient("t", base_url=url, timeout=2).post("1/comments", {"message": "x"})
    assert (failure.value.kind, failure.value.outcome) == ("unreachable", "not_sent")


# -- usage and pacing -----------------------------------------------------------------------------
def test_both_usage_headers_are_read_and_the_worst_figure_kept() -> None:
    usage = parse_usage({
        "x-app-usage": '{"call_count": 12, "total_cputime": 3, "total_time": 5}',
        "x-business-use-case-usage": '{"1234": [{"type": "pages", "call_count": 80, '
                                     '"total_cputime": 91, "total_time": 20, '
                                     '"estimated_time_to_regain_access": 0}]}'}, now=5.0)
    assert usage == Usage(call_count=80, total_cputime=91, total_time=20, regain_seconds=0,
                          kind="pages", seen_at=5.0)
    assert usage.peak == 91
    assert parse_usage({"x-app-usage": "not json"}, now=1) is None
    assert parse_usage({}, now=1) is None
    blocked = parse_usage({"x-business-use-case-usage": '{"1": [{"type": "instagram", '
                           '"call_count": 100, "estimated_time_to_regain_access": 7}]}'},
                          now=0)
    assert blocked is not None and blocked.regain_seconds == 420


def test_usage_rises_with_calls_and_is_shown(fake: FakeGraph) -> None:
    page = fake.add_page()
    graph = client(fake)
    assert str(graph.usage.reason("Facebook")) == "Facebook: usage not known yet"
    for _ in range(5):
        graph.get(page)
    assert graph.usage.call_count == 5 and graph.usage.kind == "pages"
    assert str(graph.usage.reason("Facebook")) == (
        "Facebook: 5% of the allowance used (calls 5%, CPU 2%, time 2%)")


def test_above_75_percent_calls_are_spread_out_in_proportion(fake: FakeGraph) -> None:
    """Each call waits in proportion to how far above 75 % the last answer said usage
    was: 30 s × (usage − 75) / 25; none at or below 75 %."""
    page = fake.add_page()
    pauses = Pauses()
    graph = client(fake, sleep=pauses.sleep, clock=pauses.clock, max_wait=60.0)
    fake.set_usage("page-token", 74)
    for _ in range(5):  # answers say 75, 76, 77, 78, 79 %
        graph.get(page)
    assert [round(p, 2) for p in pauses.asked] == [1.2, 2.4, 3.6]


def test_an_old_high_figure_does_not_slow_calls_down_for_ever(fake: FakeGraph) -> None:
    page = fake.add_page()
    pauses = Pauses()
    graph = client(fake, sleep=pauses.sleep, clock=pauses.clock)
    fake.set_usage("page-token", 89)
    graph.get(page)  # 90 %
    pauses.now += 3600  # an hour later, Meta's window has rolled on
    fake.reset_usage("page-token")
    graph.get(page)
    assert pauses.asked == []


def test_at_the_limit_no_call_is_made_until_access_is_regained(fake: FakeGraph) -> None:
    """The call that reaches 100 % is the last: the next is refused without calling Meta,
    with the time Meta gave; once that time has passed, calls go out again."""
    page = fake.add_page()
    pauses = Pauses()
    graph = client(fake, sleep=pauses.sleep, clock=pauses.clock, max_wait=5.0)
    fake.set_usage("page-token", 99)
    graph.get(page)  # takes it to 100 %, headers say one minute to regain access
    sent = len(fake.requests)
    with pytest.raises(GraphFailure) as failure:
        graph.get(page)
    assert failure.value.kind == "rate_limited" and failure.value.retry_after == 60
    assert failure.value.reason == Reason("meta.rate_limited", platform="Facebook", minutes=1)
    assert len(fake.requests) == sent and fake.over_limit_calls == 0
    fake.reset_usage("page-token")
    pauses.now += 61
    assert graph.get(page)["id"] == page


def test_a_caller_that_can_wait_waits_the_time_meta_gave(fake: FakeGraph) -> None:
    page = fake.add_page()
    pauses = Pauses()
    graph = client(fake, sleep=pauses.sleep, clock=pauses.clock, max_wait=120.0)
    fake.set_usage("page-token", 99)
    graph.get(page)
    fake.reset_usage("page-token")
    graph.get(page)
    assert pauses.asked == [60.0] and fake.over_limit_calls == 0


def test_a_rate_limit_error_stops_calls_too(fake: FakeGraph) -> None:
    """Meta refused (code 80001) although the last headers were low: no call until later."""
    page = fake.add_page()
    graph = client(fake, max_wait=1.0)
    graph.get(page)
    fake.set_usage("page-token", 100)
    with pytest.raises(GraphFailure) as first:
        graph.get(page)
    assert (first.value.kind, first.value.code) == ("rate_limited", 80001)
    assert fake.over_limit_calls == 1
    with pytest.raises(GraphFailure):
        graph.get(page)
    assert fake.over_limit_calls == 1


# -- what `vigie check` verifies ------------------------------------------------------------------
def test_the_check_names_the_missing_permissions_with_the_fix(fake: FakeGraph) -> None:
    fake.add_page(scopes={"pages_show_list", "pages_read_engagement"})
    granted = token_scopes(client(fake))
    assert granted == {"pages_show_list", "pages_read_engagement"}
    missing = missing_permissions(granted, "facebook", ("listen", "reply", "publish"))
    assert missing == ["pages_manage_metadata", "pages_read_user_content",
                       "pages_manage_engagement", "pages_manage_posts"]
    reason = permissions_reason("Facebook", missing)
    assert reason is not None and "pages_manage_posts" in str(reason)
    assert "create the token again" in str(reason)
    assert permissions_reason("Facebook", []) is None


def _wait_for(read: object, count: int, deadline: float = 10.0) -> list[str]:
    """`read()` once it has `count` items (a hung request finishes in its own time)."""
    import time

    assert callable(read)
    stop = time.monotonic() + deadline
    while True:
        value: list[str] = read()
        if len(value) >= count or time.monotonic() > stop:
            return value
        time.sleep(0.02)


# -- the fake's one-call faults, as the fault campaign plays them ----------------------------------
def test_a_one_call_rate_limit_says_when_access_is_back_and_only_then_lifts(
        fake: FakeGraph) -> None:
    """A Page rate limit played once comes with Meta's usage headers: Vigie makes no call
    for the minute Meta gave, then calls again and is answered."""
    page = fake.add_page()
    pauses = Pauses()
    graph = client(fake, max_wait=0.0, sleep=pauses.sleep, clock=pauses.clock)
    fake.fail_next(f"/{page}", status=403, code=80001)
    with pytest.raises(GraphFailure) as limited:
        graph.get(page)
    assert (limited.value.kind, limited.value.retry_after) == ("rate_limited", 60.0)
    asked = len(fake.requests)
    with pytest.raises(GraphFailure):
        graph.get(page)
    assert len(fake.requests) == asked  # no call into the block
    pauses.now += 61
    assert graph.get(page)["id"] == page


def test_a_one_call_expired_session_is_an_expired_token(fake: FakeGraph) -> None:
    """Code 190 played once carries subcode 463 (the session expired), as Meta sends it:
    Vigie says to renew the token; the next call works again."""
    page = fake.add_page()
    fake.fail_next(f"/{page}", status=400, code=190)
    with pytest.raises(GraphFailure) as expired:
        client(fake).get(page)
    assert (expired.value.kind, expired.value.subcode) == ("token_expired", 463)
    assert client(fake).get(page)["id"] == page
