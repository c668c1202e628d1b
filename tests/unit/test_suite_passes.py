"""The PostgreSQL pass runs exactly the tests that use the suite's database, and a test
that reaches a database some other way cannot drop out of it unnoticed (tests/conftest.py).

Each case runs a small suite of its own through the repository's conftest, in a pytest
process of its own, as CI runs the real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUITE = '''
import pytest
from sqlalchemy import create_engine, text


def test_reads_the_database(engine):
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_pure_text():
    assert "Vigie".lower() == "vigie"


def test_connects_without_the_fixture():
    with create_engine("sqlite://").connect() as connection:
        connection.execute(text("SELECT 1"))


@pytest.mark.own_database
def test_connects_to_its_own_database_and_says_so():
    with create_engine("sqlite://").connect() as connection:
        connection.execute(text("SELECT 1"))
'''


def run_suite(tmp_path: Path, *args: str, database_url: str = "") -> str:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    (tmp_path / "test_small.py").write_text(SUITE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VIGIE_TEST_DATABASE_URL": database_url}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-q", "-rA", "--rootdir", str(tmp_path),
                           str(tmp_path), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_a_connection_without_the_database_fixture_fails_the_test(tmp_path: Path) -> None:
    output = run_suite(tmp_path)
    assert "4 passed, 1 error" in output, output  # the error at its teardown
    assert "ERROR test_small.py::test_connects_without_the_fixture" in output, output
    assert "without the database_url fixture" in output, output


def test_the_postgresql_pass_keeps_only_the_tests_using_the_database(tmp_path: Path) -> None:
    # Collected only: nothing connects, so no server is needed to see the selection.
    output = run_suite(tmp_path, "--collect-only",
                       database_url="postgresql+psycopg://postgres@127.0.0.1:9/none")
    assert "test_small.py::test_reads_the_database" in output, output
    assert "1/4 tests collected (3 deselected)" in output, output
