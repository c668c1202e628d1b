from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Config
from bot.people import Directory
from bot.sandbox.slack import FakeSlack
from bot.slack import SlackGateway, make_client


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U0ANNA", "anna", real_name="Anna Martin", display_name="", locale="en-GB",
                      tz="Europe/London")
        fake.add_user("U0LEA", "lea", real_name="Léa", locale="fr-FR")
        fake.add_usergroup("S0EDIT", ["U0LEA"])
        yield fake


def directory(slack: FakeSlack, config: Config, clock: list[float]) -> Directory:
    gateway = SlackGateway(make_client("xoxb-test", slack.base_url))
    grouped = config.model_copy(update={"editors": config.editors.model_copy(
        update={"usergroup": "S0EDIT"})})
    return Directory(slack=gateway, config=grouped, default_locale="fr",
                     monotonic=lambda: clock[0])


def test_each_person_speaks_their_slack_language(slack: FakeSlack, config: Config) -> None:
    """An en-GB user gets English, a fr-FR user French, an unknown user the default."""
    people = directory(slack, config, [0.0])
    assert people.locale_for("U0ANNA") == "en"
    assert people.person("U0ANNA").name == "Anna Martin"
    assert people.locale_for("U0LEA") == "fr"
    assert people.locale_for("U0GHOST") == "fr"


def test_answers_are_cached_for_a_while(slack: FakeSlack, config: Config) -> None:
    """Ten lookups in five minutes cost one users.info call; after that, one more."""
    clock = [0.0]
    people = directory(slack, config, clock)
    for _ in range(10):
        people.person("U0ANNA")
    assert len(slack.calls_to("users.info")) == 1
    clock[0] = 301
    people.person("U0ANNA")
    assert len(slack.calls_to("users.info")) == 2


def test_editors_are_configured_users_and_group_members(slack: FakeSlack, config: Config
                                                         ) -> None:
    """U0EDITOR (config) and U0LEA (user group) are editors; U0ANNA is not."""
    people = directory(slack, config, [0.0])
    assert people.is_editor("U0EDITOR") and people.is_editor("U0LEA")
    assert not people.is_editor("U0ANNA")


def test_group_outage_keeps_the_last_known_editors(slack: FakeSlack, config: Config) -> None:
    """If Slack cannot list the group, the editors known a moment ago still count."""
    clock = [0.0]
    people = directory(slack, config, clock)
    assert people.is_editor("U0LEA")
    clock[0] = 400
    slack.fail_next("usergroups.users.list", status=500)
    assert people.is_editor("U0LEA")
