"""Posts to the newsroom's social accounts through the real app: /draft → ✅ by an editor
→ published on Mastodon (real Mastodon.py client) and Bluesky (real atproto client)
against local servers, with the post's link in the approval preview."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bot.config import Config, PostTarget, Source
from bot.sandbox.driver import SlackDriver
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.e2e.test_posts_flow import (
    APPROVALS,
    EDITOR,
    open_draft,
    preview,
    previews,
    soon,
    stored,
    submit,
    thread,
    wait_dm,
)
from tests.support.bluesky_server import FakeBluesky
from tests.support.harness import RunningVigie

TOKEN_ENV = "VIGIE_TEST_MASTODON_TOKEN"
PASSWORD_ENV = "VIGIE_TEST_BSKY_PASSWORD"
SPORT = "sporttalk.bsky.social"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(tokens={"token-matinale": "matinale"}) as fake:
        yield fake


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={SPORT: "app-pass-sport"}) as fake:
        yield fake


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, TOKEN_ENV: "token-matinale", PASSWORD_ENV: "app-pass-sport"}


@pytest.fixture
def config(config: Config, mastodon: FakeMastodon, bluesky: FakeBluesky) -> Config:
    sources = [
        Source.model_validate({"id": "masto-matinale", "type": "mastodon",
                               "account": "matinale", "instance": mastodon.url,
                               "token_env": TOKEN_ENV, "interval": 3600}),
        Source.model_validate({"id": "bsky-sport", "type": "bluesky", "handle": SPORT,
                               "password_env": PASSWORD_ENV, "service": bluesky.url,
                               "account": "sport-talk", "interval": 3600}),
    ]
    targets = [*config.posts.targets,
               PostTarget(id="sport-bluesky", kind="bluesky", name="Sport Talk",
                          account="sport-talk")]
    return config.model_copy(update={
        "sources": [*config.sources, *sources],
        "posts": config.posts.model_copy(update={"targets": targets})})


def approve(driver: SlackDriver, slack: FakeSlack) -> None:
    """An editor's ✅ on the pending preview (with no time set, it goes out at once)."""
    card = preview(slack, "En attente")
    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])


def test_an_approved_post_goes_out_on_mastodon_with_its_link(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack,
        mastodon: FakeMastodon) -> None:
    """✅ → one status on the account (no time given: as soon as approved); the preview
    links to it."""
    text = "Demain 7h : la matinale reçoit la ministre. https://radio-exemple.fr/matinale"
    submit(driver, open_draft(driver, slack, text), targets=("matinale-mastodon",))
    approve(driver, slack)
    [status] = slack.wait_for(lambda: mastodon.posted, timeout=30)
    assert status["_text"] == text and status["visibility"] == "public"
    card = preview(slack, "Publiée")
    assert status["url"] in json.dumps(card["blocks"])
    wait_dm(slack, "est partie")
    time.sleep(0.5)
    assert len(mastodon.calls("POST", "/api/v1/statuses")) == 1


def test_an_approved_post_goes_out_on_bluesky_with_its_link(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack,
        bluesky: FakeBluesky) -> None:
    """✅ → one post on the Bluesky account, its link as a facet; the preview links to it."""
    text = "Ce soir, le derby en direct ! https://radio-exemple.fr/sport"
    submit(driver, open_draft(driver, slack, text), targets=("sport-bluesky",))
    approve(driver, slack)
    [post] = slack.wait_for(lambda: bluesky.created, timeout=30)
    assert post["record"]["text"] == text
    assert post["record"]["facets"][0]["features"][0]["uri"] == "https://radio-exemple.fr/sport"
    rkey = post["uri"].rsplit("/", 1)[1]
    card = preview(slack, "Publiée")
    assert f"https://bsky.app/profile/{SPORT}/post/{rkey}" in json.dumps(card["blocks"])
    time.sleep(0.5)
    assert len(bluesky.calls("com.atproto.repo.createRecord")) == 1


def test_a_text_too_long_for_bluesky_is_refused_in_the_modal(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """301 graphemes (602 code points) for Bluesky: the error under the text, with both
    figures; nothing stored, no preview. The same text goes to Mastodon."""
    view = open_draft(driver, slack, "")
    text = "e\u0301" * 300 + "!"
    body = submit(driver, view, targets=("sport-bluesky",), at=soon(60), text=text).json()
    assert body["response_action"] == "errors"
    assert body["errors"]["text-0"] == \
        "Trop long pour Sport Talk : 301 caractères, 300 au maximum."
    body = submit(driver, view, targets=("matinale-mastodon", "sport-bluesky"),
                  at=soon(60), text="x" * 501).json()
    assert "Trop long pour La Matinale : 501 caractères, 500 au maximum." in \
        body["errors"]["text-0"]
    assert stored(vigie) == [] and previews(slack) == []
    assert submit(driver, view, targets=("matinale-mastodon",), at=soon(60),
                  text=text).content in (b"", b"{}")
    assert len(stored(vigie)) == 1


def test_a_mastodon_refusal_is_told_in_french_on_the_preview(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack,
        mastodon: FakeMastodon) -> None:
    """The instance answers 422: the French preview and thread say why in French."""
    submit(driver, open_draft(driver, slack, "Refusé par l'instance"),
           targets=("matinale-mastodon",))
    mastodon.fail_next("/api/v1/statuses", status=422)
    approve(driver, slack)
    card = preview(slack, "l'instance a refusé le post (HTTP 422", timeout=30)
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "échec" in shown and "refused" not in shown
    told = slack.wait_for(lambda: [m for m in thread(slack, card["ts"])
                                   if "l'instance a refusé" in m["text"]], timeout=10)
    assert "refused" not in told[0]["text"]
    assert mastodon.posted == []


def test_a_bluesky_refusal_is_told_in_french_on_the_preview(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack,
        bluesky: FakeBluesky) -> None:
    """The service refuses the record (400): the French preview says who refused and why,
    in French; nothing was posted."""
    submit(driver, open_draft(driver, slack, "Refusé par Bluesky"), targets=("sport-bluesky",))
    bluesky.fail_next("com.atproto.repo.createRecord", status=400, error="InvalidRequest")
    approve(driver, slack)
    card = preview(slack, "127.0.0.1 a refusé la requête (InvalidRequest", timeout=30)
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "échec" in shown and "refused" not in shown
    assert bluesky.created == []
