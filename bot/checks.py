"""Everything that can be wrong before the bot starts, found in one pass.

`vigie check` prints it all; `vigie serve` and `vigie run` refuse to start on the same
problems, so a newsroom's IT person fixes their setup in one go, from one list. They do
not wait for Slack, feeds or social accounts, though: those are asked once running, and
an outage there must not keep the intake down (see `bot.serving`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from bot.config import Config, load_config, secret_problems
from bot.settings import (
    ConfigurationError,
    Problem,
    Settings,
    load_settings,
    problems_for_mode,
    read_environ,
)
from bot.slack import SlackError, SlackGateway, SlackRejected, make_client
from bot.store import is_reachable, make_engine, schema_problems

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

Mode = Literal["http", "socket"]


@dataclass
class Report:
    settings: Settings | None = None
    config: Config | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Every variable, from `.env` and the environment (which wins): the ones the newsroom
    # file names (secrets, tokens, passwords) are read from here.
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def inspect(*, modes: tuple[Mode, ...], online: bool = True, schema: bool = True,
            environ: dict[str, str] | None = None) -> Report:
    env = read_environ() if environ is None else environ
    report = Report(environ=env)
    try:
        report.settings = load_settings()
    except ConfigurationError as exc:
        report.problems.extend(exc.problems)
    settings = report.settings
    config_path = settings.vigie_config if settings else env.get("VIGIE_CONFIG", "vigie.toml")
    try:
        report.config = load_config(Path(config_path))
    except ConfigurationError as exc:
        report.problems.extend(exc.problems)
    if report.config:
        report.problems.extend(secret_problems(report.config, env))
        report.problems.extend(reply_template_problems(report.config))
    if settings is None:
        return report
    for mode in modes:
        report.problems.extend(problems_for_mode(settings, mode))
    if schema:
        report.problems.extend(_database_problems(settings))
    if online:
        report.problems.extend(_slack_problems(settings, report))
        if report.config:
            report.problems.extend(source_problems(report.config, env, report.notes,
                                                   database_url=settings.database_url))
    return report


def source_problems(config: Config, environ: dict[str, str], notes: list[str], *,
                    database_url: str | None = None) -> list[Problem]:
    """Ask each source's platform what it checks (`Connection.check`: read each feed
    once, ask each Mastodon instance who the token belongs to, open a session for each
    Bluesky account…), then what each platform says of itself (`Connection.notes`)."""
    engine = make_engine(database_url) if database_url else None  # X's spend this month
    try:
        return _ask_platforms(config, environ, notes, engine)
    finally:
        if engine is not None:
            engine.dispose()


def _ask_platforms(config: Config, environ: dict[str, str], notes: list[str],
                   engine: Engine | None) -> list[Problem]:
    from bot.clock import SystemClock
    from bot.connectors import SourceFailure
    from bot.platforms import PLATFORMS
    from bot.platforms.base import Connected, Context

    connected = Connected(PLATFORMS, Context(config=config, environ=environ,
                                             sources=lambda: tuple(config.sources),
                                             clock=SystemClock(), engine=engine))
    problems = []
    for index, source in enumerate(config.sources):
        connection = connected.connection(source.type)
        if connection is None or connection.check is None:
            continue
        where = f"sources[{index}] ({source.id})"
        try:
            note = connection.check(source)
        except SourceFailure as exc:
            problems.append(Problem(where, str(exc), "check the address, or turn the source "
                                    "off (enabled = false) until it works"))
            continue
        if note:
            notes.append(f"{source.id}: {note}")
    for _, connection in connected:
        notes.extend(connection.notes())
    return problems


def reply_template_problems(config: Config, directory: Path | None = None) -> list[Problem]:
    """The reply template files, checked as a save from Slack would check them: a file
    edited on disk must not fail on the first mention it is used for."""
    from bot.paths import templates_dir
    from bot.replies.templates import TemplateProblem, validate
    from bot.replies.variables import sample_contexts

    root = directory or templates_dir() / "replies"
    problems = []
    samples: dict[str, list[dict[str, object]]] = {}  # per language, shared by its files
    for path in sorted(root.glob("*/*.j2")):
        locale = path.parent.name
        if locale not in ("fr", "en"):
            problems.append(Problem(str(path), "is in an unknown language folder",
                                    "put reply templates under replies/fr or replies/en"))
            continue
        try:
            if locale not in samples:
                samples[locale] = sample_contexts(config, locale)
            validate(path.read_text("utf-8"), locale=locale, timezone=config.newsroom.timezone,
                     samples=samples[locale])
        except TemplateProblem as exc:
            problems.append(Problem(str(path), exc.problem.text("en"),
                                    "fix the file, or edit the template from Slack "
                                    "(/vigie templates), which checks it before saving"))
    return problems


def _database_problems(settings: Settings) -> list[Problem]:
    engine = make_engine(settings.database_url)
    try:
        if not is_reachable(engine):
            return [Problem("DATABASE_URL", "the database cannot be reached",
                            "check the host, port, user and password, and that it is running")]
        return schema_problems(engine)
    finally:
        engine.dispose()


def _slack_problems(settings: Settings, report: Report) -> list[Problem]:
    gateway = SlackGateway(make_client(settings.slack_bot_token.get_secret_value(),
                                       settings.slack_api_url, timeout=10))
    try:
        identity = gateway.auth_test()
    except SlackRejected as exc:
        return [bot_token_refused(exc.error)]
    except SlackError as exc:
        return [Problem("SLACK_API_URL", f"Slack cannot be reached at {settings.slack_api_url}"
                        f" ({exc})", "check the network, a proxy, or the URL")]
    report.notes.append(
        f"Slack: connected to {identity.get('team')} as {identity.get('user')}"
    )
    return []


def configured_channels(config: Config) -> dict[str, str]:
    """Every Slack channel the newsroom file names, with where it is named."""
    found: dict[str, str] = {}

    def walk(value: object, where: str, named_channel: bool) -> None:
        if isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}".lstrip("."),
                     named_channel or "channel" in name)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]", named_channel)
        elif named_channel and isinstance(value, str) and re.fullmatch(r"[CG][A-Z0-9]{2,}",
                                                                        value):
            found.setdefault(value, where)

    walk(config, "", False)
    return found


def channel_problems(settings: Settings, config: Config) -> list[Problem]:
    """Channels Vigie is not in. It may post in a public one (chat:write.public), but
    Slack will not let it read the history there, which is how it checks after a lost
    answer that a card or post went through, nor share files; a private one it cannot
    even see."""
    gateway = SlackGateway(make_client(settings.slack_bot_token.get_secret_value(),
                                       settings.slack_api_url, timeout=10))
    problems = []
    for channel, where in configured_channels(config).items():
        try:
            member = gateway.is_member(channel)
        except SlackRejected as exc:
            problems.append(Problem(f"vigie.toml: {where}", f"Slack cannot show {channel} to "
                                    f"Vigie ({exc.error})", "check the channel ID, and "
                                    "invite Vigie there (/invite @Vigie)"))
            continue
        except SlackError:
            continue  # Slack itself is reported above
        if not member:
            problems.append(Problem(f"vigie.toml: {where}", f"Vigie is not a member of "
                                    f"{channel}: it could post there but not check a lost "
                                    "answer or share report charts",
                                    f"invite it: /invite @Vigie in <#{channel}>"))
    return problems


def bot_token_refused(error: str) -> Problem:
    return Problem("SLACK_BOT_TOKEN", f"Slack refused the token ({error})",
                   "copy the Bot User OAuth Token again (OAuth & Permissions), "
                   "and reinstall the app if its scopes changed")


def app_token_refused(error: str) -> Problem:
    return Problem("SLACK_APP_TOKEN", f"Slack refused the app-level token ({error})",
                   "generate an App-Level Token with the connections:write scope again "
                   "(Basic Information → App-Level Tokens)")
