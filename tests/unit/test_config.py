from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config, secret_problems
from bot.platforms.webhook.receiver import source_secrets
from bot.settings import ConfigurationError

GOOD = """
[channels]
mentions = "C0MENTIONS"

[[accounts]]
id = "matinale"
name = "La Matinale"

[[sources]]
id = "monitoring"
type = "webhook"
account = "matinale"
secret_env = "MONITORING_SECRET"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigie.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    """A config with only a channel, an account and a source is enough to start."""
    config = load_config(write(tmp_path, GOOD))
    assert config.newsroom.locale == "fr"
    assert config.newsroom.timezone == "Europe/Paris"
    source = config.source("monitoring")
    assert source is not None and source.account == "matinale"


def test_every_problem_is_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    """Several mistakes are all listed, each with its file, key and the fix."""
    path = write(tmp_path, """
[newsroom]
locale = "de"
timezone = "Mars/Olympus"

[channels]
mentions = "#general"

[[accounts]]
id = "La Matinale"
name = "x"
colour = "red"
""")
    problems = problems_of(path)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert f"{path}: newsroom.locale: 'de' is not allowed" in text
    assert "newsroom.timezone: unknown time zone 'Mars/Olympus'" in text
    assert "channels.mentions: '#general' is not valid" in text and "Channel ID" in text
    assert "accounts[0].id: 'La Matinale' is not valid" in text
    assert "accounts[0].colour: is not a known key" in text


def test_missing_required_section_is_named(tmp_path: Path) -> None:
    """Forgetting [channels] says that channels is required."""
    problems = problems_of(write(tmp_path, "[newsroom]\nname='x'\n"))
    assert problems == [f"{tmp_path / 'vigie.toml'}: channels: is required"]


def test_source_referring_to_unknown_account_is_refused(tmp_path: Path) -> None:
    """A source naming an undeclared account is refused with the known accounts listed."""
    problems = problems_of(write(tmp_path, GOOD.replace('account = "matinale"',
                                                         'account = "matinal"')))
    assert "source 'monitoring' names account 'matinal'" in problems[0]
    assert "known: matinale" in problems[0]


def test_webhook_without_secret_env_is_refused(tmp_path: Path) -> None:
    """A webhook source must name the variable holding its secret."""
    problems = problems_of(write(tmp_path, GOOD.replace('secret_env = "MONITORING_SECRET"', "")))
    assert "needs secret_env" in problems[0]


def test_route_needs_a_condition(tmp_path: Path) -> None:
    """A route with only a channel would swallow everything: refused."""
    problems = problems_of(write(tmp_path, GOOD + '\n[[routes]]\nchannel = "C0OTHER"\n'))
    assert "routes[0]: a route needs at least one condition" in problems[0]


def test_invalid_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    """Syntax errors and a wrong path are reported, not raised as tracebacks."""
    assert "not valid TOML" in problems_of(write(tmp_path, "[channels\n"))[0]
    assert "file not found" in problems_of(tmp_path / "nope.toml")[0]


def test_secrets_come_from_the_named_variables_only(tmp_path: Path) -> None:
    """The config names the variable; the secret is read from the environment."""
    config = load_config(write(tmp_path, GOOD))
    secrets = source_secrets(config, {"MONITORING_SECRET": "x" * 32})
    assert secrets["monitoring"].get_secret_value() == "x" * 32
    problems = secret_problems(config, {})
    assert [p.where for p in problems] == ["MONITORING_SECRET"]
    assert "x" * 32 not in str(secret_problems(config, {"MONITORING_SECRET": "x" * 32}))


def test_shipped_example_config_is_valid() -> None:
    """vigie.example.toml, which the README tells people to copy, loads cleanly."""
    config = load_config(Path(__file__).parents[2] / "vigie.example.toml")
    assert config.source("monitoring") is not None
    assert [route.name for route in config.routes] == ["legal", "english"]


LISTEN = GOOD + """
[[sources]]
id = "alertes"
type = "rss"
url = "https://alerts.example/feed.rss"
interval = 600

[[sources]]
id = "masto"
type = "mastodon"
account = "matinale"
instance = "https://pouet.example"
token_env = "MASTO_TOKEN"

[bursts]
threshold = 30

[alerts]
oncall = ["U0ONCALL"]
words = { fr = ["menace"], en = ["threat"] }
"""


def test_listen_sources_bursts_and_alerts_load(tmp_path: Path) -> None:
    """RSS and Mastodon sources, burst and alert settings are read from the TOML file."""
    config = load_config(write(tmp_path, LISTEN))
    feed, masto = config.source("alertes"), config.source("masto")
    assert feed is not None and feed.poll_every == 600
    assert masto is not None and masto.poll_every == 60 and masto.notifications == ["mention"]
    assert config.bursts.threshold == 30 and config.bursts.window == 300
    assert config.alerts.words["fr"] == ["menace"]


def test_sources_missing_their_keys_or_with_foreign_keys_are_refused(tmp_path: Path) -> None:
    """An RSS source without url, and a webhook given a url, are both named."""
    problems = problems_of(write(tmp_path, GOOD + """
[[sources]]
id = "flux"
type = "rss"

[[sources]]
id = "hook"
type = "webhook"
secret_env = "HOOK"
url = "https://x.example/"
"""))
    assert any("sources[1]" in p and "needs url" in p for p in problems)
    assert any("sources[2]" in p and "url does not apply" in p for p in problems)


def test_a_missing_mastodon_token_variable_is_a_problem_with_a_fix(tmp_path: Path) -> None:
    """`vigie check` names the unset token variable and how to get a token."""
    config = load_config(write(tmp_path, LISTEN))
    problems = secret_problems(config, {"MONITORING_SECRET": "x" * 20})
    [problem] = problems
    assert problem.where == "MASTO_TOKEN" and "New application" in problem.fix


def test_a_bluesky_source_is_accepted_and_its_password_variable_checked(tmp_path: Path
                                                                        ) -> None:
    """A Bluesky account loads with the default PDS; an unset app password is a problem."""
    config = load_config(write(tmp_path, GOOD + '''
[[sources]]
id = "bsky"
type = "bluesky"
handle = "matinale.bsky.social"
password_env = "BSKY_PASSWORD"
'''))
    source = config.source("bsky")
    assert source is not None and source.service == "https://bsky.social"
    assert source.poll_every == 60
    [problem] = secret_problems(config, {"MONITORING_SECRET": "x" * 20})
    assert problem.where == "BSKY_PASSWORD" and "App passwords" in problem.fix


def test_a_bluesky_source_without_its_handle_or_with_foreign_keys_is_refused(tmp_path: Path
                                                                              ) -> None:
    """The missing handle and a Mastodon key on a Bluesky source are both named."""
    problems = problems_of(write(tmp_path, GOOD + '''
[[sources]]
id = "bsky"
type = "bluesky"
password_env = "BSKY_PASSWORD"

[[sources]]
id = "bsky2"
type = "bluesky"
handle = "sport.bsky.social"
password_env = "BSKY_PASSWORD"
token_env = "X"
'''))
    assert any("sources[1]" in p and "needs handle" in p for p in problems)
    assert any("sources[2]" in p and "token_env does not apply" in p for p in problems)
