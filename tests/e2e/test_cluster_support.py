"""`tests.support.cluster.Replica`, which the fault campaign starts replicas with."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.slack import FakeSlack
from tests.support.cluster import Replica, newsroom_file, replica_env

pytestmark = pytest.mark.timeout(300)  # real processes on a loaded machine


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def test_a_replica_whose_port_was_taken_starts_on_another(
        tmp_path: Path, database_url: str, slack: FakeSlack) -> None:
    """Found by campaign.database on a busy machine: the port `free_port()` chose was
    taken before `vigie serve` bound it ("address already in use"), and the run ended
    before it began. The replica starts again on another port and is ready."""
    env = replica_env(database_url, slack.base_url, newsroom_file(tmp_path))
    replica = Replica("replica1", tmp_path, env)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", replica.port))
        taken.listen()
        first = replica.port
        try:
            replica.start().wait_ready()
            assert replica.port != first
            assert any("address already in use" in text for text in replica.outputs)
        finally:
            replica.stop()
