"""Slack listeners, one module per subject. Each has `register(app, vigie)`; listeners
parse the payload, call one service and answer. No SQL and no business rules here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from slack_bolt import App

from handlers import (
    approvals,
    commands,
    errors,
    flags,
    home,
    listen,
    middleware,
    moderation,
    posts,
    qualify,
    replies,
    reports,
    templates,
)

if TYPE_CHECKING:
    from bot.app import Vigie


def register(app: App, vigie: Vigie) -> None:
    middleware.register(app, vigie)
    errors.register(app, vigie)
    home.register(app, vigie)
    flags.register(app, vigie)
    # `/vigie <name>`: each subject adds its sub-commands here.
    subcommands: dict[str, commands.Subcommand] = {
        "add": flags.add_subcommand(vigie),
    }
    listen.register(app, vigie, subcommands)  # sources, routes
    qualify.register(app, vigie, subcommands)  # history, away, back; card controls
    reports.register(app, vigie, subcommands)  # report, export
    subcommands.update(posts.register(app, vigie))
    moderation.register(app, vigie, subcommands)  # watchlist, exposure, tirage, saved
    replies.register(app, vigie)  # Reply on the card, the reply modal, approval buttons
    templates.register(app, vigie, subcommands)  # templates
    approvals.register(app, vigie)  # reactions in the approvals channel, for every subject
    commands.register(app, vigie, subcommands)
    # Last: an event no subject wanted (a reaction outside the approvals channel…) is
    # acknowledged all the same; Bolt would answer 404 and Slack would deliver it again.
    app.event(re.compile(r".*"))(ignore_other_events)


def ignore_other_events() -> None:
    """Events subscribed for one subject also arrive for channels it does not watch."""
