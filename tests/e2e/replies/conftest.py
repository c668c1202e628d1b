"""Fixtures of the reply tests: Vigie with a Mastodon and a Bluesky account on local
servers (the real Mastodon.py and atproto clients talk to them), staff and an editor in
the fake Slack, and `Desk`, the steps a person takes to answer a mention."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

import pytest
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import Clock, SystemClock
from bot.config import Config, Source
from bot.mentions.models import Mention
from bot.replies.messages import ModalState
from bot.replies.models import Reply
from bot.sandbox.driver import SlackDriver
from bot.sandbox.mastodon import OLD_VERSION, VERSION, FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET, make_settings
from tests.support.bluesky_server import FakeBluesky
from tests.support.harness import RunningVigie

T = TypeVar("T")


def until(slack: FakeSlack, found: Callable[[], T | None | Literal[False]],
          timeout: float = 10) -> T:
    """`found()` once it gives something (the bot works after its ack)."""
    result = slack.wait_for(found, timeout=timeout)
    assert result
    return result


STAFF, OTHER_STAFF, EDITOR, OUTSIDER = "U0STAFF1", "U0STAFF2", "U0EDITOR", "U0OUTSIDER"
TOKEN_ENV, PASSWORD_ENV = "VIGIE_TEST_MASTODON_TOKEN", "VIGIE_TEST_BSKY_PASSWORD"
SPORT = "sporttalk.bsky.social"
# An instance without Mastodon's lock on the Idempotency-Key: a lost answer is looked for
# during its 15-minute window (by default the fake has the lock: sent again at once).
OLDER_MASTODON = pytest.mark.parametrize("mastodon", [{"version": OLD_VERSION}],
                                         indirect=True)


@pytest.fixture
def mastodon(request: pytest.FixtureRequest) -> Iterator[FakeMastodon]:
    """The instance; `indirect` parametrisation sets its status limit (default 500), or
    with a dict its `max_characters` and `version`."""
    param = getattr(request, "param", 500)
    options = dict(param) if isinstance(param, dict) else {"max_characters": param}
    with FakeMastodon(tokens={"token-matinale": "matinale"},
                      max_characters=int(options.get("max_characters", 500)),
                      version=str(options.get("version", VERSION))) as fake:
        yield fake


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={SPORT: "app-pass-sport"}) as fake:
        yield fake


@pytest.fixture
def newsroom(config: Config, mastodon: FakeMastodon, bluesky: FakeBluesky) -> Config:
    sources = [
        Source.model_validate({"id": "masto-matinale", "type": "mastodon", "account": "matinale",
                               "instance": mastodon.url, "token_env": TOKEN_ENV,
                               "interval": 3600}),
        Source.model_validate({"id": "bsky-sport", "type": "bluesky", "handle": SPORT,
                               "password_env": PASSWORD_ENV, "service": bluesky.url,
                               "account": "sport-talk", "interval": 3600}),
    ]
    replies = config.replies.model_copy(update={
        "schedule": {"matinale": "du lundi au vendredi, de 6 h à 9 h"}})
    return config.model_copy(update={"sources": [*config.sources, *sources],
                                     "replies": replies})


class Desk:
    """A running Vigie with its fakes, and the steps a person takes to answer."""

    def __init__(self, vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver,
                 mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
        self.vigie, self.slack, self.driver = vigie, slack, driver
        self.mastodon, self.bluesky = mastodon, bluesky

    # -- mentions ---------------------------------------------------------------------------
    def poll(self) -> Mention:
        """Poll the sources; return the newest mention once its card is posted."""
        assert self.vigie.vigie.listen and self.vigie.vigie.listen.poller
        self.vigie.vigie.listen.poller.poll_due()
        return until(self.slack, self._newest_with_card)

    def webhook(self, **fields: Any) -> Mention:
        body: dict[str, Any] = {
            "external_id": "w1", "text": "Le podcast d'hier ne se lance pas",
            "author": {"handle": "lecteur@forum.example", "name": "Léa"},
            "created_at": "2030-01-07T07:50:00Z", "platform": "rss", "account": "matinale",
            "url": "https://forum.example/t/42", "language": "fr"}
        body.update(fields)
        sent_at = int(self.vigie.vigie.clock.now().timestamp())
        response = self.vigie.post_mention("monitoring", body, secret=WEBHOOK_SECRET,
                                           timestamp=sent_at)
        assert response.status_code in (200, 201), response.text
        mention_id = response.json()["id"]
        return until(self.slack, lambda: self._with_card(mention_id), timeout=10)

    def _newest_with_card(self) -> Mention | None:
        with Session(self.vigie.vigie.engine) as session:
            found = session.exec(select(Mention).order_by(col(Mention.id).desc())).first()
        return found if found is not None and found.slack_ts else None

    def _with_card(self, mention_id: int) -> Mention | None:
        found = self.mention(mention_id)
        return found if found.slack_ts else None

    def mention(self, mention_id: int) -> Mention:
        with Session(self.vigie.vigie.engine) as session:
            found = session.get(Mention, mention_id)
            assert found is not None
            return found

    def answered(self, mention_id: int) -> Mention:
        """The mention once it is answered (the status follows the reply's own state)."""
        return until(self.slack,
            lambda: (m := self.mention(mention_id)).status == "answered" and m, timeout=10)

    def replies(self, mention_id: int) -> list[Reply]:
        with Session(self.vigie.vigie.engine) as session:
            return list(session.exec(select(Reply).where(Reply.mention_id == mention_id)
                                     .order_by(col(Reply.id))))

    def reply_in(self, mention_id: int, *states: str) -> Reply:
        def settled() -> Reply | None:
            replies = self.replies(mention_id)
            return replies[-1] if replies and replies[-1].state in states else None

        return until(self.slack, settled, timeout=10)

    def card(self, mention: Mention) -> dict[str, Any]:
        assert mention.slack_channel and mention.slack_ts
        found = self.slack.message(mention.slack_channel, mention.slack_ts)
        assert found is not None
        return found

    def card_text(self, mention: Mention) -> str:
        return json.dumps(self.card(mention)["blocks"], ensure_ascii=False)

    def card_shows(self, mention: Mention, *texts: str) -> str:
        def shown() -> str:
            text = self.card_text(mention)
            return text if all(t in text for t in texts) else ""

        return until(self.slack, shown, timeout=10)

    # -- the modal --------------------------------------------------------------------------
    def open_reply(self, user: str, mention: Mention) -> dict[str, Any]:
        response = self.driver.click(user, "reply.open", message={"ts": mention.slack_ts},
                                     channel_id=mention.slack_channel)
        assert response.status_code == 200
        return until(self.slack, lambda: self._form(user), timeout=10)

    def _form(self, user: str, block: int = 1) -> dict[str, Any] | None:
        for view in self.slack.views_for(user):
            ids = [b.get("block_id") for b in view["blocks"]]
            if view["callback_id"] == "reply_modal" and f"text-{block}" in ids:
                return view
        return None

    def pick(self, user: str, view: dict[str, Any], key: str) -> dict[str, Any]:
        state = ModalState.load(view["private_metadata"])
        assert self.driver.select(user, "reply.template", key, view=view).status_code == 200
        return until(self.slack, lambda: self._form(user, state.block + 1), timeout=10)

    def submit(self, user: str, view: dict[str, Any], text: str | None = None, *,
               approval: bool = False) -> Any:
        state = ModalState.load(view["private_metadata"])
        values: dict[str, Any] = {}
        if text is not None:
            values[state.text_block] = {"reply.text": text}
        if approval:
            values["approval"] = {"approval": ["approval"]}
        return self.driver.view_submission(user_id=user, view=view, values=values)


def start(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
          mastodon: FakeMastodon, bluesky: FakeBluesky, clock: Clock
          ) -> tuple[RunningVigie, SlackDriver, Desk]:
    for user, name, real in ((STAFF, "marie", "Marie Dupont"), (OTHER_STAFF, "paul", "Paul Roy"),
                             (EDITOR, "eve", "Ève Durand"), (OUTSIDER, "zoe", "Zoé Lin")):
        slack.add_user(user, name, real_name=real)
    settings = make_settings(database_url, slack.base_url)
    env = {**environ, TOKEN_ENV: "token-matinale", PASSWORD_ENV: "app-pass-sport"}
    vigie = RunningVigie(build(settings, config, clock=clock, environ=env,
                               platform_timeout=1.0)).start()
    driver = SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack)
    return vigie, driver, Desk(vigie, slack, driver, mastodon, bluesky)


@pytest.fixture
def desk(database_url: str, newsroom: Config, environ: dict[str, str], slack: FakeSlack,
         mastodon: FakeMastodon, bluesky: FakeBluesky) -> Iterator[Desk]:
    vigie, driver, desk = start(database_url, newsroom, environ, slack, mastodon, bluesky,
                                SystemClock())
    yield desk
    driver.close()
    vigie.stop()
