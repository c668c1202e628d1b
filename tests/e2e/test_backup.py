"""Backups a small newsroom can trust: `vigie db backup` copies a SQLite database while
Vigie writes to it, and the copy, put in its place, is a working database."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Mention, MentionIn
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.store import at_head, make_engine
from tests.conftest import PG_URL
from tests.support.processes import clean_environ, vigie_executable

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's online backup; "
                                "PostgreSQL is backed up with pg_dump (README)")


def mention(n: int) -> MentionIn:
    return MentionIn.model_validate({"external_id": f"b-{n}", "text": f"Mention {n}",
                                     "author": {"handle": f"@a{n}@x.example"},
                                     "created_at": "2026-11-02T07:00:00Z"})


def test_backup_while_writing_then_restore(database_url: str, config: Config,
                                          tmp_path: Path) -> None:
    """200 mentions stored, then a backup taken while 200 more are written: the copy opens
    at the schema's head with every mention committed before the backup began, and Vigie
    can store more in it once restored."""
    engine = make_engine(database_url)
    intake = Intake(engine=engine, config=config, router=Router(config), clock=FrozenClock())
    for n in range(200):
        intake.ingest("monitoring", mention(n))
    writing = threading.Thread(target=lambda: [intake.ingest("monitoring", mention(n))
                                               for n in range(200, 400)])
    writing.start()
    copy = tmp_path / "backup.db"
    result = subprocess.run([vigie_executable(), "db", "backup", str(copy)], cwd=tmp_path,
                            env=clean_environ(DATABASE_URL=database_url),
                            capture_output=True, text=True, timeout=120)
    writing.join()
    engine.dispose()
    assert result.returncode == 0, result.stderr
    assert "Copied" in result.stdout

    restored = tmp_path / "restored.db"
    shutil.copy(copy, restored)
    engine = make_engine(f"sqlite:///{restored}")
    try:
        assert at_head(engine)
        with Session(engine) as session:
            ids = {m.external_id for m in session.exec(select(Mention))}
        assert {f"b-{n}" for n in range(200)} <= ids
        assert ids <= {f"b-{n}" for n in range(400)}
        again = Intake(engine=engine, config=config, router=Router(config),
                       clock=FrozenClock()).ingest("monitoring", mention(1000))
        assert not again.duplicate
    finally:
        engine.dispose()

    refused = subprocess.run([vigie_executable(), "db", "backup", str(copy)], cwd=tmp_path,
                             env=clean_environ(DATABASE_URL=database_url),
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "exists" in refused.stderr + refused.stdout
