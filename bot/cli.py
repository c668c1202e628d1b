"""The `vigie` command: run the bot (HTTP or Socket Mode), check the setup, migrate.

Every start-up problem is printed as a list of fixes, never as a traceback.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from bot.checks import Mode, Report, channel_problems, inspect
from bot.settings import ConfigurationError, Problem, load_database_settings
from bot.store import make_engine, revisions, upgrade

cli = typer.Typer(help="Vigie, the newsroom's community desk in Slack.", no_args_is_help=True)
db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
cli.add_typer(db, name="db")


def main() -> None:
    cli()


def _print_problems(problems: list[Problem]) -> None:
    typer.secho(f"{len(problems)} problem(s) to fix:", fg="red", err=True)
    for problem in problems:
        typer.echo(f"  ✗ {problem}", err=True)


def _ready(modes: tuple[Mode, ...]) -> Report:
    report = inspect(modes=modes)
    if not report.ok:
        _print_problems(report.problems)
        typer.echo("Nothing was started. Fix the above, then run `vigie check`.", err=True)
        raise typer.Exit(2)
    return report


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)


@cli.command()
def check(
    offline: Annotated[bool, typer.Option(help="Skip the Slack and database checks.")] = False,
) -> None:
    """Validate settings, the newsroom config, the database and the Slack token."""
    report = inspect(modes=(), online=not offline, schema=not offline)
    if not offline and report.settings and report.config and report.ok:
        report.problems.extend(channel_problems(report.settings, report.config))
    if report.settings and not report.settings.slack_signing_secret:
        report.notes.append("SLACK_SIGNING_SECRET is not set: fine for `vigie run` "
                            "(Socket Mode), required for `vigie serve`")
    if report.settings and not report.settings.slack_app_token:
        report.notes.append("SLACK_APP_TOKEN is not set: fine for `vigie serve`, "
                            "required for `vigie run` (Socket Mode)")
    for note in report.notes:
        typer.echo(f"  • {note}")
    if not report.ok:
        _print_problems(report.problems)
        raise typer.Exit(1)
    typer.secho("Everything looks right.", fg="green")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
) -> None:
    """Run in HTTP mode: /slack/events, /ingest/{source}, /healthz."""
    import uvicorn

    from bot.app import build
    from bot.web import create_web_app

    report = _ready(("http",))
    assert report.settings and report.config
    _logging(report.settings.log_level)
    vigie = build(report.settings, report.config)
    vigie.start_background()
    try:
        uvicorn.run(create_web_app(vigie), host=host, port=port, log_level="warning")
    finally:
        vigie.stop()


@cli.command()
def run(
    http_port: Annotated[int, typer.Option(help="Port for /ingest and /healthz; 0 turns "
                                           "them off.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface for /ingest and /healthz.")] = "127.0.0.1",
) -> None:
    """Run in Socket Mode: no public URL needed for Slack."""
    import threading

    import uvicorn
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build
    from bot.web import create_web_app

    report = _ready(("socket",))
    assert report.settings and report.config and report.settings.slack_app_token
    _logging(report.settings.log_level)
    vigie = build(report.settings, report.config)
    vigie.start_background()
    handler = SocketModeHandler(vigie.bolt, report.settings.slack_app_token.get_secret_value())
    try:
        handler.connect()  # type: ignore[no-untyped-call]
        if http_port:
            uvicorn.run(create_web_app(vigie, slack_events=False), host=host, port=http_port,
                        log_level="warning")
        else:
            threading.Event().wait()
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        vigie.stop()


def _engine_or_exit() -> Engine:
    try:
        settings = load_database_settings()
    except ConfigurationError as exc:
        _print_problems(exc.problems)
        raise typer.Exit(2) from None
    return make_engine(settings.database_url)


@db.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    engine = _engine_or_exit()
    upgrade(engine, revision)
    current, _ = revisions(engine)
    typer.echo(f"Database at revision {current}.")


@db.command("current")
def db_current() -> None:
    """Show the database's revision and the code's."""
    current, head = revisions(_engine_or_exit())
    typer.echo(f"database: {current or 'empty'}   code: {head}")
    if current != head:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
