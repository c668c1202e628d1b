"""Listening, assembled: what `bot.app.build` wires in one call, and what handlers use."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.config import Config
from bot.listen.alerts import AlertWords
from bot.listen.catalog import Catalog
from bot.listen.notices import outbox_renderer
from bot.listen.outbox import Outbox
from bot.listen.polling import Connector, Poller
from bot.listen.spikes import Spikes
from bot.mentions.pacing import ChannelPacer
from bot.platforms import PLATFORMS
from bot.platforms.base import Connected, Context
from bot.replicas import Heartbeat
from bot.slack import SlackGateway

if TYPE_CHECKING:
    from bot.mentions.service import Intake

log = logging.getLogger(__name__)

POLL_TICK = timedelta(seconds=10)  # how often the leader looks for a source due a poll


@dataclass
class Listening:
    catalog: Catalog
    pacer: ChannelPacer
    spikes: Spikes
    outbox: Outbox
    alerts: AlertWords
    environ: Mapping[str, str]
    platforms: Connected  # every platform's services, on the sources as they stand now
    poller: Poller | None = None

    def attach(self, *, engine: Engine, config: Config, intake: Intake, clock: Clock,
               connectors: Mapping[str, Connector] | None = None) -> Poller:
        """Build the poller once intake exists (intake needs the catalog first)."""
        connectors = connectors or self.platforms.pollers()
        self.poller = Poller(engine=engine, config=config, catalog=self.catalog, intake=intake,
                             clock=clock, connectors=connectors)
        return self.poller


def listening(*, engine: Engine, config: Config, clock: Clock, slack: SlackGateway,
              locale: str, environ: Mapping[str, str], timeout: float = 10.0,
              pacer: ChannelPacer | None = None, heartbeat: Heartbeat | None = None
              ) -> Listening:
    """`timeout`: seconds to wait for a platform's answer (Mastodon, Bluesky…); `pacer`:
    the one every other sender shares (built from `bursts.pace` when not given);
    `heartbeat`: this process's, which owns the outbox's claims (`bot.replicas`)."""
    catalog = Catalog(engine=engine, config=config, clock=clock)
    pacer = pacer or ChannelPacer(engine, config.bursts.pace)
    return Listening(
        catalog=catalog,
        pacer=pacer,
        spikes=Spikes(engine=engine, config=config, clock=clock),
        outbox=Outbox(engine=engine, slack=slack, clock=clock, pacer=pacer,
                      render=outbox_renderer(engine, config, locale), heartbeat=heartbeat),
        alerts=AlertWords(config.alerts),
        environ=environ,
        platforms=Connected(PLATFORMS, Context(config=config, environ=environ,
                                               sources=catalog.sources, clock=clock,
                                               timeout=timeout, engine=engine)),
    )
