"""Run every bench once: `python bench/run_all.py --quick` is what CI does after the tests.

Every `bench/*.py` except this runner and the `_` helpers is found by name, so a new
bench runs here without being listed; each must accept `--quick` (seconds, not minutes).
Each runs in its own process with the modules that only the `dev` extra installs hidden,
as in a plain `pip install -e .` from a checkout: the benches use the local servers in
`tests/support`, never pytest. Figures are printed, not judged; a bench that fails, or
runs past `--timeout`, fails the run.

    python bench/run_all.py --quick [--jobs 2]     # what CI runs
    python bench/run_all.py                        # every bench at full size: long
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BENCH = Path(__file__).resolve().parent
HIDER = BENCH / "_plain"  # its sitecustomize.py hides VIGIE_HIDDEN_MODULES
# Installed with any venv, not by the dev extra: never hidden.
TOOLING = {"pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources"}


def scripts(folder: Path = BENCH) -> list[Path]:
    """The benches: every script of the folder but this runner and `_` modules."""
    return sorted(path for path in folder.glob("*.py")
                  if not path.name.startswith("_") and path.name != Path(__file__).name)


def needed(project: str = "vigie", extras: frozenset[str] = frozenset({"suggestions"})
           ) -> set[str]:
    """The distributions an install of `project` with `extras` brings (its requirements
    and theirs), by normalised name. The `suggestions` extra (the sentence model) is part
    of what `make run` installs, so the benches may use it; `dev` is not."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(project, extras)]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            if name == project:
                raise SystemExit(f"{project} is not installed here: pip install -e .") from None
            continue  # an optional requirement left out by its marker's platform
        for line in requires:
            requirement = Requirement(line)
            contexts = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(context)
                                                 for context in contexts):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def dev_only_modules() -> list[str]:
    """Top-level modules installed here that a plain `pip install -e .` would not have."""
    plain = needed()
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if module not in TOOLING and module.isidentifier()
                  and not any(canonicalize_name(d) in plain for d in dists))


@dataclass
class Result:
    script: Path
    code: int
    seconds: float
    output: str


def run(script: Path, *, quick: bool, hidden: list[str], timeout: float | None) -> Result:
    """One bench in its own process, its output captured whole (benches run side by side)."""
    env = {**os.environ, "VIGIE_HIDDEN_MODULES": ",".join(hidden), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HIDER),
                                                       os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, str(script), *(["--quick"] if quick else [])]
    started = time.monotonic()
    # A session of its own, so that a bench stopped for running too long takes the
    # processes it started with it (they would hold its output open).
    with subprocess.Popen(command, env=env, cwd=BENCH.parent, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
            code = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            code = -1
            output += f"\n!! still running after {timeout:g} s: stopped\n"
    return Result(script, code, time.monotonic() - started, output)


def main(argv: list[str] | None = None, folder: Path = BENCH) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each bench in its quick mode")
    parser.add_argument("--jobs", type=int, default=1, help="benches run side by side")
    parser.add_argument("--timeout", type=float, help="seconds allowed to each bench "
                        "(default: 300 with --quick, none otherwise)")
    args = parser.parse_args(argv)
    timeout = args.timeout or (300.0 if args.quick else None)
    hidden = dev_only_modules()
    benches = scripts(folder)
    started = time.monotonic()
    failed = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for result in pool.map(lambda s: run(s, quick=args.quick, hidden=hidden,
                                             timeout=timeout), benches):
            name = result.script.relative_to(folder.parent)
            verdict = "ok" if result.code == 0 else f"FAILED (exit {result.code})"
            print(f"== {name}{' --quick' if args.quick else ''}: {verdict}, "
                  f"{result.seconds:.1f} s", flush=True)
            print(result.output.rstrip(), flush=True)
            if result.code != 0:
                failed.append(str(name))
    print(f"== {len(benches)} benches in {time.monotonic() - started:.1f} s"
          f"{', failed: ' + ', '.join(failed) if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
