"""The bench runner CI uses: every bench runs, quickly, as from a plain install."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bench.run_all import main, scripts

ROOT = Path(__file__).resolve().parents[2]


def bench_folder(tmp_path: Path, **sources: str) -> Path:
    folder = tmp_path / "bench"
    folder.mkdir()
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(source, "utf-8")
    return folder


def test_ci_runs_every_bench_in_quick_mode() -> None:
    """CI runs every script in bench/ with --quick, so none can be added and left to rot."""
    commands = [shlex.split(line) for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if "bench/run_all.py" in line and not line.lstrip().startswith("#")]
    assert any(command[:3] == ["python", "bench/run_all.py", "--quick"]
               for command in commands), commands
    every = {p.name for p in (ROOT / "bench").glob("*.py")} - {"__init__.py", "run_all.py"}
    assert {p.name for p in scripts()} == {n for n in every if not n.startswith("_")}
    for script in scripts():
        assert re.search(r"add_argument\(\s*\"--quick\"", script.read_text("utf-8")), \
            f"{script.name} has no --quick mode"


def test_each_bench_gets_quick_and_a_failing_one_fails_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every bench runs with --quick and its figures are shown; one crash fails the run."""
    folder = bench_folder(
        tmp_path,
        fine="import sys\nprint('fine got', sys.argv[1:])\n",
        broken="raise RuntimeError('this bench rotted')\n",
        _helper="raise AssertionError('a helper is not a bench')\n",
    )
    assert main(["--quick"], folder=folder) == 1
    out = capsys.readouterr().out
    assert "fine got ['--quick']" in out
    assert "bench/broken.py --quick: FAILED" in out and "this bench rotted" in out
    assert "bench/fine.py --quick: ok" in out and "a helper is not a bench" not in out


def test_a_bench_that_needs_the_dev_extras_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bench importing pytest (only `.[dev]` has it) fails, one needing Vigie's own
    dependencies runs: benches must work from a plain `pip install -e .`."""
    folder = bench_folder(tmp_path, plain="import httpx, uvicorn\nprint('plain ok')\n")
    assert main(["--quick"], folder=folder) == 0
    (folder / "dev.py").write_text("import pytest\n", "utf-8")
    assert main(["--quick"], folder=folder) == 1
    out = capsys.readouterr().out
    assert "bench/dev.py --quick: FAILED" in out and "only the dev extra installs it" in out


def test_a_bench_that_hangs_is_stopped_and_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bench still running after --timeout is stopped with the processes it started,
    and the run fails."""
    folder = bench_folder(tmp_path, stuck=(
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print('started', flush=True)\n"
        "time.sleep(120)\n"))
    assert main(["--quick", "--timeout", "2"], folder=folder) == 1
    out = capsys.readouterr().out
    assert "stuck.py --quick: FAILED" in out and "started" in out
    assert "still running after 2 s" in out
