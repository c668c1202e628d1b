"""The local Slack's random faults (`FakeSlack.chaos`), which campaign.chaos relies on:
each kind does to the bot what production Slack does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def client(slack: FakeSlack) -> WebClient:
    """A client that never retries by itself (as Vigie's: slack-sdk's default resends after
    a reset connection)."""
    return WebClient(token="xoxb-test", base_url=slack.base_url, timeout=1, retry_handlers=[])


def test_a_reset_after_posting_leaves_the_message_and_drops_the_answer(slack: FakeSlack
                                                                       ) -> None:
    """reset_after: the client sees a reset connection, the channel shows the message."""
    slack.chaos(1.0, kinds=("reset_after",))
    with pytest.raises((ConnectionResetError, OSError)):
        client(slack).chat_postMessage(channel="C1", text="bonjour")
    assert [m["text"] for m in slack.messages("C1")] == ["bonjour"]
    assert slack.chaos_played == {"reset_after": 1}


def test_a_server_error_after_posting_and_a_429_before(slack: FakeSlack) -> None:
    """server_error_after posts then answers 5xx; ratelimited answers 429 with
    Retry-After and posts nothing; rate 0 stops the faults."""
    slack.chaos(1.0, kinds=("server_error_after",))
    with pytest.raises(SlackApiError) as failed:
        client(slack).chat_postMessage(channel="C1", text="un")
    assert failed.value.response.status_code in (500, 502, 504)
    slack.chaos(1.0, kinds=("ratelimited",))
    with pytest.raises(SlackApiError) as limited:
        client(slack).chat_postMessage(channel="C1", text="deux")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    slack.chaos(0)
    client(slack).chat_postMessage(channel="C1", text="trois")
    assert [m["text"] for m in slack.messages("C1")] == ["un", "trois"]


def test_the_same_seed_draws_the_same_faults(slack: FakeSlack) -> None:
    """A seed replays the same sequence of faults over the same calls."""
    def played(seed: int) -> list[int]:
        slack.reset()
        slack.chaos(0.5, seed=seed, kinds=("ratelimited", "server_error"))
        web = WebClient(token="xoxb-test", base_url=slack.base_url, timeout=1,
                        retry_handlers=[])
        statuses = []
        for _ in range(20):
            try:
                statuses.append(web.auth_test().status_code)
            except SlackApiError as exc:
                statuses.append(429 if exc.response.status_code == 429 else 500)
        return statuses

    first = played(7)
    assert first == played(7)
    assert 200 in first and set(first) != {200}
