"""/slack/events answers Slack the way Slack expects: verified, fast, idempotent."""

from __future__ import annotations

import json
import logging
import time

import pytest

from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.support.harness import RunningVigie


def test_url_verification_echoes_the_challenge(driver: SlackDriver) -> None:
    """Saving the Request URL in Slack's app settings succeeds."""
    response = driver.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


def test_unsigned_or_stale_slack_requests_are_refused(driver: SlackDriver, slack: FakeSlack
                                                      ) -> None:
    """A forged signature or a replayed (old) request is a 401 and runs nothing."""
    body = json.dumps({"type": "event_callback", "event_id": "Ev1",
                       "event": {"type": "app_home_opened", "user": "U1", "tab": "home"}}
                      ).encode()
    forged = driver.raw(body, {"Content-Type": "application/json",
                               "X-Slack-Signature": "v0=" + "0" * 64,
                               "X-Slack-Request-Timestamp": str(int(time.time()))}, sign=False)
    stale = driver.raw(body, {"Content-Type": "application/json"},
                       timestamp=str(int(time.time()) - 600))
    assert forged.status_code == 401 and stale.status_code == 401
    time.sleep(0.2)
    assert slack.calls_to("views.publish") == []


def test_help_command_answers_in_the_users_language(driver: SlackDriver, slack: FakeSlack
                                                   ) -> None:
    """/vigie help answers privately, in French for a French user, English for others."""
    slack.add_user("U0ANNA", "anna", locale="en-US")
    english = driver.command("/vigie", "", user_id="U0ANNA").json()
    assert "`/vigie help` — this help" in english["text"]
    response = driver.command("/vigie", "help", user_id="U0STAFF")
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "relaie les mentions" in answer["text"]
    assert "`/vigie help` — cette aide" in answer["text"]


def test_unknown_subcommand_says_what_exists(driver: SlackDriver) -> None:
    """/vigie frobnicate is refused with the list of commands, escaped."""
    answer = driver.command("/vigie", "<!channel> frob", user_id="U0STAFF").json()
    assert "&lt;!channel&gt;" in answer["text"] and "help" in answer["text"]


def test_home_tab_is_published_once_even_when_slack_retries(driver: SlackDriver,
                                                            slack: FakeSlack,
                                                            vigie: RunningVigie) -> None:
    """Slack's retry of app_home_opened (same event_id) publishes nothing more."""
    assert driver.app_home_opened("U0STAFF").status_code == 200
    slack.wait_for(lambda: slack.calls_to("views.publish"))
    assert driver.redeliver(retry_num=1, retry_reason="http_timeout").status_code == 200
    assert driver.redeliver(retry_num=2, retry_reason="http_timeout").status_code == 200
    time.sleep(0.3)
    [publish] = slack.calls_to("views.publish")
    assert publish.params["user_id"] == "U0STAFF"
    assert "votre tableau de bord" in json.dumps(publish.params["view"], ensure_ascii=False)


def test_a_command_whose_modal_slack_refuses_tells_the_person_without_a_traceback(
        driver: SlackDriver, slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    """/draft with a trigger_id Slack does not know (expired, or never issued): Slack refuses
    views.open; the person gets a private note with the error's reference, and the log
    one warning line, no traceback."""
    caplog.set_level(logging.INFO)
    answer = driver.command("/draft", "", user_id="U0CM", channel_id="C0GENERAL",
                            trigger_id="13345224609.738474920.8088930838d88f008e0")
    assert answer.status_code == 200
    [note] = slack.wait_for(lambda: slack.ephemerals("C0GENERAL", "U0CM"))
    assert "Référence" in note["text"]
    refused = [r for r in caplog.records if "invalid_trigger_id" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert not any(r.exc_info for r in caplog.records)


def test_a_command_whose_text_says_payload_reaches_vigie(driver: SlackDriver) -> None:
    """Bolt reads a form that merely contains the word "payload" as empty; Vigie hands it
    the command as Slack sent it, so `/vigie payload` gets the usual answer, not a 404."""
    answer = driver.command("/vigie", "payload de la fusée", user_id="U0STAFF")
    assert answer.status_code == 200
    assert "payload" in answer.json()["text"] and "help" in answer.json()["text"]
