"""Process settings, read from the environment and `.env` (pydantic-settings).

Secrets live here and never in the TOML config. Errors are turned into `Problem`s that
name the variable and say where to get a good value, so a newsroom's IT person never
has to read a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_S = TypeVar("_S", bound="DatabaseSettings")

SLACK_APP_PAGE = "https://api.slack.com/apps → your app"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings or config, with the way to fix it."""

    where: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}\n    → {self.fix}" if self.fix else text


class ConfigurationError(Exception):
    """Raised with every problem found, so they can all be fixed in one go."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_HINTS: dict[str, str] = {
    "SLACK_BOT_TOKEN": f"{SLACK_APP_PAGE} → OAuth & Permissions → Bot User OAuth Token (xoxb-…)",
    "SLACK_SIGNING_SECRET": f"{SLACK_APP_PAGE} → Basic Information → App Credentials → "
    "Signing Secret",
    "SLACK_APP_TOKEN": f"{SLACK_APP_PAGE} → Basic Information → App-Level Tokens → generate "
    "one with the connections:write scope (xapp-…)",
    "SLACK_API_URL": "leave unset for Slack itself, or give the base URL of a "
    "Slack-compatible server, ending with /api/",
    "DATABASE_URL": "sqlite:///vigie.db (default) or "
    "postgresql+psycopg://user:password@host:5432/dbname",
    "VIGIE_CONFIG": "path of the newsroom TOML file; see README, 'Configuration'",
    "VIGIE_LOCALE": "fr or en",
    "VIGIE_LOG_FORMAT": "text (default) or json (one JSON object per line)",
    "VIGIE_DRAIN_SECONDS": "seconds, 0 (default) to 300",
}


class DatabaseSettings(BaseSettings):
    """The part of the settings that database commands need, without Slack tokens."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,  # `SLACK_APP_TOKEN=` in .env means "not set"
    )

    database_url: str = "sqlite:///vigie.db"

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if value.startswith("postgres://") or value.startswith("postgresql://"):
            # The psycopg 3 driver is the one we install; say so rather than fail later.
            raise ValueError("use the postgresql+psycopg:// scheme (psycopg 3 driver)")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("only sqlite:// and postgresql+psycopg:// are supported")
        return value


class Settings(DatabaseSettings):
    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    vigie_config: Path = Path("vigie.toml")
    vigie_locale: Literal["fr", "en"] | None = None
    log_level: str = Field(default="INFO", alias="VIGIE_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", alias="VIGIE_LOG_FORMAT")
    # Seconds between SIGTERM and closing the listening socket, while /readyz already
    # says 503: long enough for the proxy's health check to take the replica out.
    drain_seconds: float = Field(default=0.0, ge=0, le=300, alias="VIGIE_DRAIN_SECONDS")

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("a bot token starts with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"


def read_environ(env_file: str | Path | None = None) -> dict[str, str]:
    """Every variable, read as the settings are: the `.env` file pydantic-settings reads,
    then the process environment over it. Empty counts as unset. The variables the
    newsroom file names (a source's `secret_env`, `token_env`, `password_env`) are looked
    up here, so a secret written in `.env` works as the README says."""
    path = env_file if env_file is not None else DatabaseSettings.model_config.get("env_file")
    values: dict[str, str] = {}
    if isinstance(path, str | Path) and Path(path).is_file():
        encoding = DatabaseSettings.model_config.get("env_file_encoding") or "utf-8"
        values = {k: v for k, v in dotenv_values(path, encoding=encoding).items() if v}
    values.update({k: v for k, v in os.environ.items() if v})
    return values


def load_settings(**overrides: object) -> Settings:
    """Read settings, raising `ConfigurationError` with one problem per bad variable."""
    return _load(Settings, overrides)


def load_database_settings() -> DatabaseSettings:
    return _load(DatabaseSettings, {})


def _load(kind: type[_S], overrides: dict[str, object]) -> _S:
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "settings"
            variable = field if field.startswith("VIGIE_") else field.upper()
            message = "is not set" if error["type"] == "missing" else _clean(error["msg"])
            problems.append(Problem(variable, message, _HINTS.get(variable, "")))
        raise ConfigurationError(problems) from None


def problems_for_mode(settings: Settings, mode: Literal["http", "socket"]) -> list[Problem]:
    """What a given way of running needs beyond the always-required settings."""
    needed = {"http": ("SLACK_SIGNING_SECRET",), "socket": ("SLACK_APP_TOKEN",)}[mode]
    problems = []
    for variable in needed:
        if getattr(settings, variable.lower()) is None:
            why = "HTTP mode (vigie serve)" if mode == "http" else "Socket Mode (vigie run)"
            problems.append(Problem(variable, f"is not set; {why} needs it", _HINTS[variable]))
    return problems


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")
