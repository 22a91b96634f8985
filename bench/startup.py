"""How long ``espi-sst inspect`` takes from the shell, next to a bare ``import espi_sst``.

Usage::

    .venv/bin/python bench/startup.py                # best of 15, both in the same run
    .venv/bin/python bench/startup.py --repeat 30

``bench/run.py`` runs it too and puts the table in docs/performance.md.  Issue 17's goal:
the library CLI on a small file (the bundled sample, 64 kB, nine days of hourly data)
within 1.5x of the interpreter importing the library and doing nothing else -- so
``inspect`` pays for the file and not for imports it does not need (Flask, SQLAlchemy,
the conformance kit's TOML reader, ``importlib.metadata``...; ``espi_sst/cli.py``).

Both are timed as a user sees them: wall time of a fresh process, started by this one,
from ``Popen`` to exit (the console script ``espi-sst`` that pip installed beside the
interpreter, and ``python -c "import espi_sst"``).  The two alternate, so a burst of
other load slows both; the best run of each is kept (the least disturbed), and the ratio
is of the two bests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "espi_sst" / "samples" / "hourly-nine-days.xml"
GOAL = 1.5
"""``inspect`` on the sample may take at most this many times the bare import."""


@dataclass
class Startup:
    """Wall times (s) of every fresh-process run of each command."""

    inspect: list[float] = field(default_factory=list)
    bare_import: list[float] = field(default_factory=list)
    file: str = str(SAMPLE.relative_to(ROOT))

    @property
    def ratio(self) -> float:
        return min(self.inspect) / min(self.bare_import)

    @property
    def verdict(self) -> str:
        return "PASS" if self.ratio <= GOAL else "MISS"


def commands(sample: Path = SAMPLE) -> tuple[list[str], list[str]]:
    """The console script's ``inspect`` and the bare import, same interpreter and venv."""
    script = Path(sys.executable).with_name("espi-sst")
    if not script.exists():
        raise SystemExit(f"{script} not found: install the package (./dev sets up .venv)")
    return [str(script), "inspect", str(sample)], [sys.executable, "-c", "import espi_sst"]


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr!r}")
    return elapsed


def measure(repeat: int = 15) -> Startup:
    """Best-of-``repeat`` fresh processes of each command, alternating (module docstring)."""
    inspect, bare = commands()
    _wall(inspect), _wall(bare)  # warm the page cache and the .pyc files first
    result = Startup()
    for _ in range(repeat):
        result.inspect.append(_wall(inspect))
        result.bare_import.append(_wall(bare))
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def results_table(result: Startup) -> str:
    rows = (
        (f"`espi-sst inspect {result.file}`", result.inspect),
        ('`python -c "import espi_sst"` (the anchor)', result.bare_import),
    )
    lines = [
        "| Command | Best (ms) | Median (ms) | Runs |",
        "|---|--:|--:|--:|",
    ]
    for label, runs in rows:
        median = sorted(runs)[len(runs) // 2]
        lines.append(f"| {label} | {_ms(min(runs))} | {_ms(median)} | {len(runs)} |")
    return "\n".join(lines)


def target_row(result: Startup) -> str:
    """A row of the targets table: the CLI's start-up against the bare import."""
    return (
        f'| `espi-sst inspect` on the 64 kB sample vs `python -c "import espi_sst"`, wall'
        f" time | <= {GOAL:g}x | {result.ratio:.2f}x ({_ms(min(result.inspect))} /"
        f" {_ms(min(result.bare_import))} ms) | **{result.verdict}** |"
    )


def section(result: Startup) -> str:
    """The docs/performance.md section (rendered by bench/run.py)."""
    return f"""## CLI start-up

{results_table(result)}

| Target | Goal | Measured | Verdict |
|---|---|--:|---|
{target_row(result)}

Wall time of a fresh process from start to exit, as the shell sees it: the console script
`espi-sst` installed beside the interpreter, on the package's bundled sample
(`{result.file}`: 64 kB, nine days of hourly readings), and the same interpreter importing
the library and nothing else.  The two alternate, {len(result.inspect)} runs each after
one warm-up; the best of each is kept and the ratio is of the two bests
(`bench/startup.py`).  What `inspect` does not need is not imported: no Flask,
SQLAlchemy or Authlib, nor the conformance kit's parser, `json`, `csv` or
`importlib.metadata` (`espi_sst/cli.py`; check with `python -X importtime`)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command")
    args = parser.parse_args(argv)
    result = measure(args.repeat)
    print(results_table(result))
    print()
    print("| Target | Goal | Measured | Verdict |\n|---|---|--:|---|")
    print(target_row(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
