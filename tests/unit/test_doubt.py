"""The rule for a send whose outcome is unknown: when Vigie looks for the message, and
what each look decides, per platform (bot.connectors.doubt)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import Source
from bot.connectors.doubt import SLACK, Look, Next, Step
from bot.platforms.bluesky.client import DOUBT as BLUESKY
from bot.platforms.mastodon.client import DOUBT as MASTODON
from bot.platforms.mastodon.client import MastodonClients, locks_idempotency_keys
from bot.sandbox.mastodon import OLD_VERSION, VERSION, FakeMastodon

SENT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


def test_a_lost_answer_is_looked_for_until_the_window_closes_then_sent_again() -> None:
    """Mastodon, no answer: absent at 10 s → look at 30 s, … absent at 10 min → look at
    15 min; absent at 15 min (no request can still create it) → send again."""
    until = MASTODON.creatable_until(SENT, answered=False)
    assert until == at(900)
    seen = []
    now = at(10)
    while (step := MASTODON.next(Look.ABSENT, sent_at=SENT, creatable_until=until,
                                 now=now)).step is Step.LOOK:
        assert step.at is not None
        seen.append(int((step.at - SENT).total_seconds()))
        now = step.at
    assert seen == [30, 60, 120, 300, 600, 900]
    assert step == Next(Step.RESEND)


def test_a_server_error_is_the_end_of_the_request() -> None:
    """Answered 500 and not there: sent again at once (Mastodon, Bluesky); Slack, which
    has no idempotency key, leaves it to a person."""
    for doubt, expected in ((MASTODON, Step.RESEND), (BLUESKY, Step.RESEND),
                            (SLACK, Step.HUMAN)):
        until = doubt.creatable_until(SENT, answered=True)
        assert doubt.next(Look.ABSENT, sent_at=SENT, creatable_until=until,
                          now=at(1)).step is expected


def test_found_is_published_and_doubt_never_resends_too_early() -> None:
    """Found at any look → published; Bluesky's window is 2 minutes, Slack's ends with a
    person, never a resend."""
    until = BLUESKY.creatable_until(SENT, answered=False)
    assert BLUESKY.next(Look.FOUND, sent_at=SENT, creatable_until=until,
                        now=at(30)).step is Step.PUBLISHED
    assert BLUESKY.next(Look.ABSENT, sent_at=SENT, creatable_until=until,
                        now=at(60)) == Next(Step.LOOK, at(120))
    assert BLUESKY.next(Look.ABSENT, sent_at=SENT, creatable_until=until,
                        now=at(120)).step is Step.RESEND
    slack_until = SLACK.creatable_until(SENT, answered=False)
    assert SLACK.next(Look.ABSENT, sent_at=SENT, creatable_until=slack_until,
                      now=at(120)).step is Step.HUMAN


def test_looks_that_cannot_tell_end_with_a_person() -> None:
    """The platform cannot be asked: look again at each time, even past the window, and
    a person decides after the last (an hour). A look that cannot prove absence waits
    for the window, then a person decides: no resend on a guess."""
    until = MASTODON.creatable_until(SENT, answered=False)
    assert MASTODON.next(Look.UNREACHABLE, sent_at=SENT, creatable_until=until,
                         now=at(1000)) == Next(Step.LOOK, at(1800))
    assert MASTODON.next(Look.UNREACHABLE, sent_at=SENT, creatable_until=until,
                         now=at(3600)).step is Step.HUMAN
    assert MASTODON.next(Look.UNPROVEN, sent_at=SENT, creatable_until=until,
                         now=at(300)) == Next(Step.LOOK, at(600))
    assert MASTODON.next(Look.UNPROVEN, sent_at=SENT, creatable_until=until,
                         now=at(900)).step is Step.HUMAN


def test_only_a_mastodon_release_with_the_key_lock_resends_at_once() -> None:
    """4.6.0 and later (forks' build suffix allowed); 4.5.x, pre-releases, other software
    speaking Mastodon's API, and no version keep the 15-minute window."""
    for version in ("4.6.0", "4.6.2", "4.7.1+glitch", "5.0.0"):
        assert locks_idempotency_keys(version), version
    for older in ("4.5.7", "4.3.2", "4.6.0-beta.1", "4.6.0-nightly.2026-03-01",
                  "2.7.2 (compatible; Pleroma 2.6.0)", "0.17.3 git-1234", "", None):
        assert not locks_idempotency_keys(older), older


def clients_of(url: str) -> MastodonClients:
    source = Source.model_validate({"id": "masto", "type": "mastodon", "account": "matinale",
                                    "instance": url, "token_env": "T"})
    return MastodonClients({"T": "token-matinale"}, sources=lambda: (source,))


def test_the_mastodon_window_depends_on_the_accounts_instance() -> None:
    """Read once from the instance: where it locks the key, a lost answer not found at
    the first look is sent again at once; an older one, an account Vigie does not know,
    or an instance that cannot be asked keep the 15 minutes."""
    with FakeMastodon(version=VERSION) as recent, FakeMastodon(version=OLD_VERSION) as old:
        doubt = clients_of(recent.url).doubt.for_account("matinale")
        until = doubt.creatable_until(SENT, answered=False)
        assert doubt.next(Look.ABSENT, sent_at=SENT, creatable_until=until,
                          now=at(1)) == Next(Step.RESEND)
        assert clients_of(recent.url).doubt.for_account("someone-else").window \
            == timedelta(minutes=15)
        asks = len(recent.calls("GET", "/api/v2/instance"))
        clients = clients_of(recent.url)
        for _ in range(3):
            clients.doubt.for_account("matinale")
        assert len(recent.calls("GET", "/api/v2/instance")) == asks + 1  # remembered
        for url in (old.url, "http://127.0.0.1:9"):
            doubt = clients_of(url).doubt.for_account("matinale")
            assert doubt.creatable_until(SENT, answered=False) == at(900)
