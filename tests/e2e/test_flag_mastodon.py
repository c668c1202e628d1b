"""A Mastodon link flagged from Slack is read through the newsroom's own Mastodon account
(the real Mastodon.py client against a Mastodon-compatible server), so the card shows the
post's real author and text and keeps its id for the reply."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config, Source
from bot.mentions.models import Mention
from bot.sandbox.driver import SlackDriver
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.support.harness import RunningVigie

TOKEN_ENV = "VIGIE_TEST_MASTODON_TOKEN"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(tokens={"token-matinale": "matinale"}) as fake:
        yield fake


@pytest.fixture
def vigie(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
          mastodon: FakeMastodon) -> Iterator[RunningVigie]:
    with_mastodon = config.model_copy(update={"sources": [
        *config.sources,
        Source.model_validate({"id": "masto-matinale", "type": "mastodon",
                               "account": "matinale", "instance": mastodon.url,
                               "token_env": TOKEN_ENV, "interval": 3600}),
    ]})
    built = build(make_settings(database_url, slack.base_url), with_mastodon,
                  clock=SystemClock(), environ={**environ, TOKEN_ENV: "token-matinale"})
    app = RunningVigie(built).start()
    yield app
    app.stop()


def test_flagged_mastodon_link_shows_the_real_post(vigie: RunningVigie, slack: FakeSlack,
                                                    mastodon: FakeMastodon) -> None:
    """@vigie with a toot's link: the card carries the toot's author and text, not the note."""
    author = mastodon.add_account("furax", domain="mamot.example", display_name="Furax")
    status = mastodon.add_status(author, "<p>Quelle honte, cette émission &lt;!here&gt;</p>",
                                 visibility="unlisted")
    with SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack) as driver:
        assert driver.app_mention("U0STAFF", f"<{status['url']}> furieux",
                                  channel="C0DESK").status_code == 200

    def card() -> str:
        found = [m for m in slack.messages("C0MENTIONS") if m.get("metadata")]
        return json.dumps(found[0]["blocks"], ensure_ascii=False) if found else ""

    shown = slack.wait_for(card, timeout=10)
    assert "*Furax*" in shown and "@furax@mamot.example" in shown
    assert "Quelle honte, cette émission &lt;!here&gt;" in shown
    assert mastodon.calls("GET", "/api/v2/search")
    with Session(vigie.vigie.engine) as session:
        [mention] = session.exec(select(Mention).order_by(col(Mention.id))).all()
    assert (mention.platform, mention.platform_ref, mention.visibility) == (
        "mastodon", status["id"], "unlisted")


def test_a_link_mastodon_cannot_resolve_still_makes_a_card(vigie: RunningVigie,
                                                           slack: FakeSlack) -> None:
    """A deleted or private toot: the card keeps the link and says, in the newsroom's
    French, that it could not be found."""
    with SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack) as driver:
        driver.app_mention("U0STAFF", "<https://mamot.example/@ghost/999> vu ce matin",
                           channel="C0DESK")

    def card() -> str:
        found = [m for m in slack.messages("C0MENTIONS") if m.get("metadata")]
        return json.dumps(found[0]["blocks"], ensure_ascii=False) if found else ""

    shown = slack.wait_for(card, timeout=10)
    assert "https://mamot.example/@ghost/999" in shown
    assert "Impossible de récupérer le post (post introuvable (supprimé, privé ou " \
           "inaccessible))" in shown
