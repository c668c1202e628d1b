"""The `vigie` command: run the bot (HTTP or Socket Mode), check the setup, migrate.

Every start-up problem is printed as a list of fixes, never as a traceback. Modules are
imported by the commands that use them (the app, uvicorn, Alembic…), so `vigie --version`
or `vigie db current` do not pay for the whole bot.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.checks import Mode, Report
    from bot.settings import Problem
    from bot.suggestions.service import Suggestions

cli = typer.Typer(help="Vigie, the newsroom's community desk in Slack.", no_args_is_help=True)
db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
cli.add_typer(db, name="db")
suggestions = typer.Typer(help="Sentiment, category and priority hints (the sentence model).",
                          no_args_is_help=True)
cli.add_typer(suggestions, name="suggestions")

Migrate = Annotated[bool, typer.Option(
    "--migrate", help="Apply database migrations first, in this process (one instance; "
    "with several replicas run `vigie db upgrade` once before starting them).")]


def main() -> None:
    """The `vigie` command. Start-up makes many objects that live as long as the process:
    the garbage collector waits until they are built and frozen (`bot.serving`), which
    saves a tenth of the start's CPU."""
    import gc

    gc.disable()
    cli()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"vigie {version('vigie')}")
        raise typer.Exit()


@cli.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Vigie, the newsroom's community desk in Slack."""


def _print_problems(problems: list[Problem]) -> None:
    typer.secho(f"{len(problems)} problem(s) to fix:", fg="red", err=True)
    for problem in problems:
        typer.echo(f"  ✗ {problem}", err=True)


def _log_problems(problems: list[Problem]) -> None:
    """The same, as JSON log lines (VIGIE_LOG_FORMAT=json): a replica that refuses to start
    says why in the lines the log collector reads, not in text it cannot parse."""
    import logging

    from bot.logs import JsonFormatter, Redactor

    formatter = JsonFormatter(Redactor())
    for message in [f"{len(problems)} problem(s) to fix", *(str(p) for p in problems),
                    "Nothing was started. Fix the above, then run `vigie check`."]:
        record = logging.LogRecord("bot.cli", logging.ERROR, __file__, 0, message, None, None)
        typer.echo(formatter.format(record), err=True)


def _ready(modes: tuple[Mode, ...]) -> Report:
    """Settings, newsroom file, secrets and schema, checked offline: Slack is asked once
    running (`bot.serving`), feeds and social accounts by their first poll."""
    from bot.checks import inspect

    report = inspect(modes=modes, online=False)
    if not report.ok:
        fmt = report.settings.log_format if report.settings else \
            os.environ.get("VIGIE_LOG_FORMAT", "text")
        if fmt == "json":
            _log_problems(report.problems)
            raise typer.Exit(2)
        _print_problems(report.problems)
        typer.echo("Nothing was started. Fix the above, then run `vigie check`.", err=True)
        raise typer.Exit(2)
    return report


def _logging(report: Report) -> None:
    """Text or JSON lines on stderr (`VIGIE_LOG_FORMAT`), with every secret the settings
    and the newsroom file name kept out of them (`bot.logs`)."""
    from bot.logs import configure, secrets_of

    settings, config = report.settings, report.config
    assert settings is not None
    named = [] if config is None else [
        report.environ.get(name or "") for source in config.sources
        for name in (source.secret_env, source.token_env, source.password_env)]
    given = [s.get_secret_value() for s in (settings.slack_bot_token,
                                            settings.slack_signing_secret,
                                            settings.slack_app_token) if s is not None]
    configure(level=settings.log_level, fmt=settings.log_format,
              secrets=secrets_of({**report.environ, "DATABASE_URL": settings.database_url},
                                 [*named, *given]))


def _migrate() -> None:
    """`--migrate`: upgrade the schema unless it is already current (then Alembic is not
    even loaded)."""
    from bot.store import at_head, revisions, upgrade

    engine = _engine_or_exit()
    try:
        if not at_head(engine):
            upgrade(engine)
            typer.echo(f"Database at revision {revisions(engine)[0]}.")
    finally:
        engine.dispose()


@cli.command()
def check(
    offline: Annotated[bool, typer.Option(help="Skip the Slack and database checks.")] = False,
) -> None:
    """Validate settings, the newsroom config, the database and the Slack token."""
    from bot.checks import channel_problems, inspect

    report = inspect(modes=(), online=not offline, schema=not offline)
    if not offline and report.settings and report.config and report.ok:
        report.problems.extend(channel_problems(report.settings, report.config))
    if report.settings and not report.settings.slack_signing_secret:
        report.notes.append("SLACK_SIGNING_SECRET is not set: fine for `vigie run` "
                            "(Socket Mode), required for `vigie serve`")
    if report.settings and not report.settings.slack_app_token:
        report.notes.append("SLACK_APP_TOKEN is not set: fine for `vigie serve`, "
                            "required for `vigie run` (Socket Mode)")
    if report.config and report.config.qualify.suggestions.enabled:
        from bot.suggestions.embedder import available

        report.notes.append(
            "suggestions: the sentence model is installed; cards get sentiment, category "
            "and priority hints" if available() else
            "suggestions: the sentence model is not installed, cards keep the rule-based "
            "sentiment hint (pip install 'vigie[suggestions]' to add it)")
    for note in report.notes:
        typer.echo(f"  • {note}")
    if not report.ok:
        _print_problems(report.problems)
        raise typer.Exit(1)
    typer.secho("Everything looks right.", fg="green")


def _stopped(problems: list[Problem]) -> None:
    _print_problems(problems)
    typer.echo("Vigie stopped. Fix the above, then run `vigie check`.", err=True)


DemoWithoutSlack = Annotated[bool, typer.Option(
    "--demo-without-slack", help="With no Slack setting at all (SLACK_BOT_TOKEN, "
    "SLACK_SIGNING_SECRET, SLACK_APP_TOKEN), start the sandbox (`vigie demo`) instead of "
    "stopping: what `make run` does on a fresh machine.")]


DEMO_PORT = 3100  # `vigie demo`'s page, beside `vigie serve`'s 3000


def _demo_instead(wanted: bool) -> bool:
    """True when `--demo-without-slack` applies: nothing about Slack is configured."""
    if not wanted:
        return False
    from bot.settings import read_environ

    environ = read_environ()
    return not any(environ.get(name) for name in
                   ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"))


@cli.command()
def demo(
    reset: Annotated[bool, typer.Option("--reset", help="Start over: forget the demo's "
                                        "mentions, cards, posts and clock.")] = False,
    port: Annotated[int, typer.Option(help="Port of the sandbox's page (0: any free "
                                      "port; the default falls back to one when taken).")
                    ] = 3100,
    host: Annotated[str, typer.Option(help="Interface for the page.")] = "127.0.0.1",
    data_dir: Annotated[str, typer.Option(help="Where the demo keeps its data.")] =
    ".vigie-demo",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the "
                                             "page.")] = False,
    locale: Annotated[str, typer.Option(help="fr or en: the bot's language.")] = "fr",
    sample: Annotated[bool, typer.Option(help="Sample mentions arrive by themselves "
                                         "(--no-sample: only those you paste).")] = True,
) -> None:
    """Try Vigie with no Slack at hand: a local newsroom workspace in the browser, with
    the real bot, a local Mastodon instance and sample mentions arriving by themselves."""
    import errno
    import logging
    import signal
    import threading
    from pathlib import Path

    from bot.sandbox.demo import Demo, DemoOptions, open_browser

    if locale not in ("fr", "en"):
        typer.secho("--locale: fr or en", fg="red", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = DemoOptions(data_dir=Path(data_dir), port=port, host=host, reset=reset,
                          locale=locale)
    if not sample:
        options.feed_every = 0
    try:
        try:
            sandbox = Demo(options).start()
        except OSError as exc:
            if port != DEMO_PORT or exc.errno != errno.EADDRINUSE:
                raise
            typer.echo(f"Port {port} is taken: the sandbox takes another one.")
            options.port = 0
            sandbox = Demo(options).start()
    except OSError as exc:
        typer.secho(f"The sandbox could not start: {exc} (is port {port} taken? "
                    "try --port 0)", fg="red", err=True)
        raise typer.Exit(1) from None
    import gc

    gc.enable()  # `vigie` (bot.cli.main) held collection off while it was built
    typer.secho(f"Vigie sandbox: {sandbox.url}", fg="green", bold=True)
    typer.echo(f"  data in {sandbox.data_dir} (`vigie demo --reset` starts over); "
               "Ctrl-C stops.")
    if not no_browser and open_browser(sandbox.url):
        typer.echo("  opened in your browser.")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        typer.echo("Stopping the sandbox…")
        sandbox.stop()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    migrate: Migrate = False,
    demo_without_slack: DemoWithoutSlack = False,
) -> None:
    """Run in HTTP mode: /slack/events, /ingest/{source}, /healthz."""
    from bot import serving

    if _demo_instead(demo_without_slack):
        typer.echo("No Slack configured (SLACK_BOT_TOKEN…): starting the sandbox instead. "
                   "README, 'Try it without Slack'.")
        demo(reset=False, port=DEMO_PORT, host="127.0.0.1", data_dir=".vigie-demo",
             no_browser=False, locale="fr", sample=True)
        return
    if migrate:
        _migrate()
    report = _ready(("http",))
    assert report.settings and report.config
    _logging(report)
    code = serving.serve(report, _stopped, host=host, port=port)
    if code:
        raise typer.Exit(code)


@cli.command()
def run(
    http_port: Annotated[int, typer.Option(help="Port for /ingest and /healthz; 0 turns "
                                           "them off.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface for /ingest and /healthz.")] = "127.0.0.1",
    migrate: Migrate = False,
    demo_without_slack: DemoWithoutSlack = False,
) -> None:
    """Run in Socket Mode: no public URL needed for Slack."""
    from bot import serving

    if _demo_instead(demo_without_slack):
        typer.echo("No Slack configured (SLACK_APP_TOKEN…): starting the sandbox instead. "
                   "README, 'Try it without Slack'.")
        demo(reset=False, port=DEMO_PORT, host="127.0.0.1", data_dir=".vigie-demo",
             no_browser=False, locale="fr", sample=True)
        return
    if migrate:
        _migrate()
    report = _ready(("socket",))
    assert report.settings and report.config and report.settings.slack_app_token
    _logging(report)
    code = serving.run(report, _stopped, host=host, http_port=http_port)
    if code:
        raise typer.Exit(code)


def _engine_or_exit() -> Engine:
    from bot.settings import ConfigurationError, load_database_settings
    from bot.store import make_engine

    try:
        settings = load_database_settings()
    except ConfigurationError as exc:
        _print_problems(exc.problems)
        raise typer.Exit(2) from None
    return make_engine(settings.database_url)


@db.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the latest). With several replicas, run it
    once before starting them (compose.yaml's `migrate` service does)."""
    from sqlalchemy.exc import OperationalError

    from bot.store import revisions, upgrade

    engine = _engine_or_exit()
    try:
        upgrade(engine, revision)
        current, _ = revisions(engine)
    except OperationalError as exc:  # not reachable yet: say so in one line, exit 1
        reason = str(exc.orig or exc).strip().splitlines()[0]
        typer.secho(f"Database unreachable: {reason}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"Database at revision {current}.")


@db.command("backup")
def db_backup(
    target: Annotated[str, typer.Argument(help="File to write the copy to.")],
) -> None:
    """Copy a SQLite database while Vigie runs (SQLite's online backup). On PostgreSQL,
    use pg_dump (README, "Backups")."""
    from bot.store import backup_sqlite

    engine = _engine_or_exit()
    try:
        if engine.dialect.name != "sqlite":
            typer.secho("This database is PostgreSQL: back it up with pg_dump "
                        "(README, \"Backups\").", fg="red", err=True)
            raise typer.Exit(2)
        pages = backup_sqlite(engine, target)
    except (FileExistsError, ValueError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"Copied {pages} pages to {target}.")


@db.command("current")
def db_current() -> None:
    """Show the database's revision and the code's."""
    from bot.store import revisions

    current, head = revisions(_engine_or_exit())
    typer.echo(f"database: {current or 'empty'}   code: {head}")
    if current != head:
        raise typer.Exit(1)


def _suggestions_service(engine: Engine) -> Suggestions:
    from bot.clock import SystemClock
    from bot.config import Suggestions as SuggestionRules
    from bot.settings import ConfigurationError
    from bot.store import require_current_schema
    from bot.suggestions.embedder import E5Embedder, available
    from bot.suggestions.service import Suggestions

    try:
        require_current_schema(engine)
    except ConfigurationError as exc:
        _print_problems(exc.problems)
        raise typer.Exit(2) from None
    return Suggestions(engine=engine, clock=SystemClock(), rules=SuggestionRules(),
                       embedder=E5Embedder() if available() else None)


@suggestions.command("train")
def suggestions_train() -> None:
    """Retrain on the shipped sample and the desk's qualifications; keep the new model
    only if it measures at least as well as the one in use."""
    from bot.suggestions.report import lines, target_lines

    service = _suggestions_service(_engine_or_exit())
    if service.embedder is None:
        typer.echo("The suggestion model is not installed: pip install 'vigie[suggestions]'.",
                   err=True)
        raise typer.Exit(2)
    trained = service.train()
    figures = trained.figures
    typer.echo(f"Model #{trained.model_id} trained on {figures['trained_on']['sample']} sample "
               f"and {figures['trained_on']['desk']} desk mentions; {trained.outcome}.")
    typer.echo(f"Held out (never trained on): {figures['measured_on']['sample']} sample and "
               f"{figures['measured_on']['desk']} desk mentions.")
    for line in lines(figures["held_out"]):
        typer.echo(line)
    typer.echo("Targets:")
    for line in target_lines(figures["held_out"]):
        typer.echo(line)


@suggestions.command("report")
def suggestions_report(
    file: Annotated[str | None, typer.Argument(
        help="A JSONL file in the shared sample's format (text, lang, labels {sentiment, "
        "category, priority}). Without it: the model in use, on its held-out mentions.")
    ] = None,
) -> None:
    """Accuracy, per-label precision and recall, per language."""
    from bot.suggestions.report import lines, target_lines

    service = _suggestions_service(_engine_or_exit())
    if file is None:
        model_id, figures, outcome = service.held_out_figures()
        typer.echo(f"Model #{model_id} ({outcome}), on mentions it never trained on "
                   f"({figures['measured_on']['sample']} of the shipped sample, "
                   f"{figures['measured_on']['desk']} of the desk's):")
        held = figures["held_out"]
    else:
        from pathlib import Path

        if service.embedder is None:
            typer.echo("The suggestion model is not installed: "
                       "pip install 'vigie[suggestions]'.", err=True)
            raise typer.Exit(2)
        try:
            model_id, held, seen = service.measure_file(Path(file))
        except (OSError, ValueError) as exc:
            typer.echo(f"Cannot read {file}: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"Model #{model_id} on {held['n']} mentions of {file}.")
        if seen:
            typer.echo(f"{seen} of them were in its training data: figures on those are "
                       "in-sample; left out below.")
    for line in lines(held):
        typer.echo(line)
    if held.get("n"):
        typer.echo("Targets:")
        for line in target_lines(held):
            typer.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
