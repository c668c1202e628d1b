"""Bluesky end to end: the real app and the real atproto Client against a local XRPC
server. An account's mention reaches its channel as a card, a bsky.app link flagged with
@vigie shows the real post, and an account added from Slack is polled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from bot.config import Config, Source
from bot.listen import views
from bot.mentions.models import Mention
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.e2e.test_listen_admin import EDITOR, modal, submit
from tests.e2e.test_webhook_flow import wait_for_cards
from tests.support.bluesky_server import FakeBluesky
from tests.support.harness import RunningVigie

PASSWORD_ENV = "VIGIE_TEST_BSKY_PASSWORD"
SPORT = "sporttalk.bsky.social"


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={SPORT: "app-pass-sport",
                               "debat.bsky.social": "app-pass-debat"}) as fake:
        yield fake


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, PASSWORD_ENV: "app-pass-sport", "DEBAT_BSKY": "app-pass-debat"}


@pytest.fixture
def config(config: Config, bluesky: FakeBluesky) -> Config:
    source = Source.model_validate({"id": "bsky-sport", "type": "bluesky", "handle": SPORT,
                                    "password_env": PASSWORD_ENV, "service": bluesky.url,
                                    "account": "sport-talk", "interval": 3600})
    return config.model_copy(update={"sources": [*config.sources, source]})


def stored(vigie: RunningVigie) -> list[Mention]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).where(Mention.platform == "bluesky")))


def test_a_bluesky_mention_reaches_its_account_channel_as_a_card(
        vigie: RunningVigie, slack: FakeSlack, bluesky: FakeBluesky) -> None:
    """@sporttalk mentioned on Bluesky: one card in C0SPORT, escaped, with the post's refs."""
    post = bluesky.mention(SPORT, by="supporter.bsky.social",
                           text="quel match hier soir ! <!channel>")
    assert vigie.vigie.listen and vigie.vigie.listen.poller
    assert vigie.vigie.scheduler.next_run("listen.poll") is not None  # the leader polls
    report = vigie.vigie.listen.poller.poll_due()
    assert report.of("bsky-sport").stored == 1
    [card] = wait_for_cards(slack, "C0SPORT")
    rendered = json.dumps(card["blocks"], ensure_ascii=False)
    assert "quel match hier soir" in rendered and "@supporter.bsky.social" in rendered
    assert "<!channel>" not in rendered  # relayed text cannot ping the channel
    assert "https://bsky.app/profile/supporter.bsky.social/post/" in rendered
    [mention] = stored(vigie)
    assert (mention.platform_ref, mention.platform_cid) == (post["uri"], post["cid"])
    assert (mention.root_ref, mention.root_cid) == (post["uri"], post["cid"])
    assert vigie.vigie.listen.poller.poll_due().results == []  # next poll in an hour


def test_a_flagged_bsky_link_shows_the_real_post(vigie: RunningVigie, slack: FakeSlack,
                                                 bluesky: FakeBluesky,
                                                 driver: SlackDriver) -> None:
    """@vigie with a bsky.app link: the card carries the post's author and text."""
    opener = bluesky.post("alice.bsky.social", "Un fil sur le match")
    post = bluesky.reply(opener, by="furax.bsky.social", text="Arbitrage honteux",
                         langs=["fr"])
    url = f"https://bsky.app/profile/furax.bsky.social/post/{post['uri'].rsplit('/', 1)[1]}"
    assert driver.app_mention("U0STAFF", f"<{url}> à voir", channel="C0DESK").status_code == 200

    def card() -> str:
        found = [m for m in slack.messages("C0MENTIONS") if m.get("metadata")]
        return json.dumps(found[0]["blocks"], ensure_ascii=False) if found else ""

    rendered = slack.wait_for(card, timeout=10)
    assert "Arbitrage honteux" in rendered and "@furax.bsky.social" in rendered
    [mention] = stored(vigie)
    assert (mention.platform_ref, mention.root_ref) == (post["uri"], opener["uri"])
    assert mention.source_id == "slack"


def test_a_bluesky_account_added_from_slack_is_polled(
        vigie: RunningVigie, slack: FakeSlack, bluesky: FakeBluesky,
        driver: SlackDriver) -> None:
    """/vigie sources → Add a Bluesky account → its mentions reach its account's channel."""
    slack.add_user(EDITOR, "editrice")
    driver.command("/vigie", "sources", user_id=EDITOR)
    listing = modal(slack, views.SOURCES_CALLBACK)
    assert f"{views.SOURCE_ADD}_bluesky" in json.dumps(listing["blocks"])
    driver.click(EDITOR, f"{views.SOURCE_ADD}_bluesky", view=listing)
    form = modal(slack, views.SOURCE_FORM)
    bad = submit(driver, form, {"id": "bsky-debat", "password_env": "DEBAT_BSKY"})
    assert "handle" in bad.json()["errors"]
    good = submit(driver, form, {"id": "bsky-debat", "handle": "debat.bsky.social",
                                 "password_env": "DEBAT_BSKY", "service": bluesky.url,
                                 "account": "grand-debat"})
    assert good.status_code == 200 and not good.text
    assert vigie.vigie.listen and vigie.vigie.listen.poller
    slack.wait_for(lambda: vigie.vigie.listen.catalog.source(  # type: ignore[union-attr]
        "bsky-debat") is not None)
    bluesky.mention("debat.bsky.social", text="bravo pour le débat")
    assert vigie.vigie.listen.poller.poll_due().of("bsky-debat").stored == 1
    [card] = wait_for_cards(slack, "C0DEBAT")
    assert "bravo pour le débat" in json.dumps(card["blocks"], ensure_ascii=False)
