"""Benchmark reading interval data: espi_sst against plain lxml and greenbutton-objects.

Usage::

    .venv/bin/python bench/run.py                 # print the Markdown results
    .venv/bin/python bench/run.py --write-docs    # and rewrite docs/performance.md

It generates the 1-year and 5-year feeds, and the 1-year feeds of today's real shapes (a
ReadingQuality or a cost on every reading), if needed (bench/generate.py), then runs every
contender (bench/contenders.py) on every file, each in a fresh interpreter so its peak RSS
is its own, and checks every contender's reading count and value sum against the
generator's manifest.  A contender that exceeds ``--timeout`` is killed and reported as
"timeout" (its finished runs, if any, still count).  The whole run takes about three minutes
on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import contenders
import generate
import startup
import validate as validation_bench

# No lxml or espi_sst import here: contenders are started through a shell (see run_once)
# so that this process's size cannot leak into their ru_maxrss, but small is safer still.

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOCS = ROOT / "docs" / "performance.md"
RESULTS = BENCH / "results" / "latest.json"
SIZE_LABELS = {
    "1y": "1 year",
    "5y": "5 years",
    "1y-quality": "1 year, quality on every reading",
    "1y-cost": "1 year, cost on every reading",
    "5y-quality": "5 years, quality on every reading",
    "5y-cost": "5 years, cost on every reading",
}

PLAIN = "plain-lxml"
BLOCKS = "espi_sst.iter_interval_blocks"
READINGS = "espi_sst.iter_interval_readings"
PARSE = "espi_sst.parse"
GBO = "greenbutton-objects"


@dataclass
class Measurement:
    """One contender on one file, as reported by its subprocess."""

    size: str
    contender: str
    runs: list[float] = field(default_factory=list)
    count: int | None = None
    value_sum: int | None = None
    peak_rss_kb: int | None = None
    baseline_rss_kb: int | None = None
    hwm_kb: int | None = None
    """VmHWM, the process image's own peak: a cross-check of ``peak_rss_kb``."""
    status: str = "ok"
    """``ok``, ``timeout``, ``error: ...`` or ``wrong: ...`` (count or sum off)."""

    @property
    def best(self) -> float | None:
        return min(self.runs) if self.runs else None

    @property
    def rate(self) -> float | None:
        best = self.best
        return self.count / best if best and self.count is not None else None


@dataclass(frozen=True)
class Target:
    """A goal from the issue: ``ratio`` of two contenders' throughput, or a peak RSS bound."""

    label: str
    kind: str  # "ratio" or "rss"
    faster: str = ""
    slower: str = ""
    minimum: float = 0.0
    rss_contenders: tuple[str, ...] = ()
    rss_size: str = "5y"
    max_mib: float = 0.0


TARGETS = (
    Target("Columnar (`iter_interval_blocks`) vs plain-lxml", "ratio", BLOCKS, PLAIN, 2.0),
    Target(
        "Per-reading objects (`iter_interval_readings`) vs plain-lxml",
        "ratio",
        READINGS,
        PLAIN,
        1.5,
    ),
    Target(
        "Peak RSS streaming the 5-year file (both streaming readers)",
        "rss",
        rss_contenders=(BLOCKS, READINGS),
        max_mib=60.0,
    ),
    Target("`espi_sst.parse` vs greenbutton-objects", "ratio", PARSE, GBO, 10.0),
)


def run_once(name: str, path: Path, result: Measurement, timeout: float) -> None:
    """Run one contender once, in a fresh interpreter, and add what it reports to ``result``.

    A fresh process per run makes ``ru_maxrss`` this run's own peak; the reported peak is
    the largest over the runs.  Linux, though, hands a child the peak RSS of the process it
    was forked from (``ru_maxrss`` survives fork and exec), so the contender is started
    through ``/bin/sh``, which forks again: the contender's parent is then a small shell,
    and its ``ru_maxrss`` is its own whatever this process's size.  ``VmHWM`` cross-checks.
    """
    command = [
        "/bin/sh", "-c", '"$@"; exit $?', "sh",  # not exec: the extra fork is the point
        sys.executable, str(BENCH / "contenders.py"), name, str(path), "--repeat", "1",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the shell and the contender it started
        stdout, stderr = process.communicate()
        result.status = "timeout"
    for line in stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "ready":
            result.baseline_rss_kb = max(result.baseline_rss_kb or 0, event["baseline_rss_kb"])
        elif event["event"] == "run":
            result.runs.append(event["seconds"])
            result.count = event["count"]
            result.peak_rss_kb = max(result.peak_rss_kb or 0, event["peak_rss_kb"])
            if event.get("hwm_kb") is not None:
                result.hwm_kb = max(result.hwm_kb or 0, event["hwm_kb"])
            if event["value_sum"] is not None:
                result.value_sum = event["value_sum"]
    if result.status == "ok" and process.returncode != 0:
        last = (stderr.strip().splitlines() or ["no message"])[-1]
        result.status = f"error: {last[:200]}"


def measure_all(
    names: list[str],
    path: Path,
    size: str,
    manifest: generate.Manifest,
    rounds: int,
    budget: float,
    timeout: float,
) -> list[Measurement]:
    """Best of ``rounds`` fresh-process runs per contender, the contenders interleaved.

    Interleaving (round 1 of every contender, then round 2...) spreads each contender's runs
    over the whole measurement, so a burst of other load on a shared machine slows every
    contender a little rather than one contender a lot; that keeps the ratios honest.
    A contender stops after a failure or a timeout, or when its runs total over ``budget``.
    """
    results = {name: Measurement(size, name) for name in names}
    for round_number in range(1, rounds + 1):
        for name in names:
            result = results[name]
            if result.status != "ok" or (
                result.runs and sum(result.runs) + min(result.runs) > budget
            ):
                continue
            print(
                f"{SIZE_LABELS[size]:>7}  round {round_number}  {name:<32}",
                end=" ",
                file=sys.stderr,
                flush=True,
            )
            before = len(result.runs)
            run_once(name, path, result, timeout)
            verify(result, manifest)
            took = f"{result.runs[-1]:8.3f} s" if len(result.runs) > before else "       – "
            print(f"{took}  {_mib(result.peak_rss_kb):>6} MiB  {result.status}", file=sys.stderr)
    return list(results.values())


def verify(result: Measurement, manifest: generate.Manifest) -> None:
    """Mark a result whose count or value sum disagrees with what the file holds."""
    if not result.status == "ok" or result.count is None:
        return
    if result.count != manifest.readings:
        result.status = f"wrong: {result.count:,} readings, file has {manifest.readings:,}"
    elif result.value_sum is not None and result.value_sum != manifest.value_sum:
        result.status = f"wrong: value sum {result.value_sum}, file has {manifest.value_sum}"
    elif result.peak_rss_kb and result.hwm_kb and result.peak_rss_kb > result.hwm_kb * 1.05 + 1024:
        result.status = "wrong: ru_maxrss above VmHWM (inherited from the parent process?)"


def source_fingerprint() -> str:
    """A short hash of espi_sst's Python sources, to name exactly what code was measured.

    The commit alone is not enough in a working tree with uncommitted changes, and a
    fingerprint taken before and after the run shows whether the code changed under it.
    """
    digest = hashlib.sha256()
    for path in sorted((ROOT / "espi_sst").rglob("*.py")):
        digest.update(
            path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0"
        )
    return digest.hexdigest()[:12]


def load_average() -> str:
    """1-minute load average: a busy machine explains a slow, noisy run."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    """What the numbers were measured on (they mean little without it)."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    versions = _versions()
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--", "espi_sst"):
        commit += " + uncommitted changes in espi_sst/"
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        **versions,
        "commit": commit or "unknown",
    }


_VERSIONS_SCRIPT = """
import json
from importlib.metadata import PackageNotFoundError, version
from lxml import etree
import espi_sst
try:
    gbo = version("greenbutton-objects")
except PackageNotFoundError:
    gbo = "not installed"
print(json.dumps({
    "lxml": ".".join(map(str, etree.LXML_VERSION[:3])),
    "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
    "espi_sst": espi_sst.__version__,
    "greenbutton-objects": gbo,
}))
"""


def _versions() -> dict[str, str]:
    """Library versions, asked of a child process (see the import note at the top)."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _VERSIONS_SCRIPT],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {str(k): str(v) for k, v in json.loads(out).items()}
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {"libraries": "versions unavailable"}


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _mib(kb: int | None) -> str:
    return "–" if kb is None else f"{kb / 1024:.1f}"


def results_table(results: list[Measurement], repeat: int) -> str:
    lines = [
        f"| File | Contender | Readings | Best of {repeat} (s) | Readings/s | Peak RSS (MiB) "
        "| RSS after imports (MiB) | Status |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        best = "–" if r.best is None else f"{r.best:.3f}"
        rate = "–" if r.rate is None else f"{r.rate:,.0f}"
        count = "–" if r.count is None else f"{r.count:,}"
        status = r.status
        if status == "ok" and len(r.runs) < repeat:
            status = f"ok (best of {len(r.runs)}: time budget)"
        lines.append(
            f"| {SIZE_LABELS[r.size]} | `{r.contender}` | {count} | {best} | {rate} | "
            f"{_mib(r.peak_rss_kb)} | {_mib(r.baseline_rss_kb)} | {status} |"
        )
    return "\n".join(lines)


def evaluate(
    target: Target, results: list[Measurement], sizes: list[str], timeout: float
) -> tuple[list[str], str]:
    """Per-size cells and the verdict: PASS only if every measured size meets the target.

    A timed-out slower contender gives only a lower bound on the ratio: PASS if even the
    bound meets the goal, else INCONCLUSIVE (never MISS on a bound).
    """
    by_key = {(r.size, r.contender): r for r in results}
    cells: list[str] = []
    passed: list[bool | None] = []
    for size in sizes:
        if target.kind == "rss":
            if size != target.rss_size:
                cells.append("n/a")
                continue
            peaks = [
                by_key[(size, c)].peak_rss_kb for c in target.rss_contenders if (size, c) in by_key
            ]
            if not peaks or any(p is None for p in peaks):
                cells.append("not measured")
                continue
            worst = max(p for p in peaks if p is not None) / 1024
            cells.append(f"{worst:.1f} MiB")
            passed.append(worst < target.max_mib)
            continue
        fast, slow = by_key.get((size, target.faster)), by_key.get((size, target.slower))
        if (
            fast is None
            or slow is None
            or fast.rate is None
            or fast.status not in ("ok", "timeout")
        ):
            cells.append("not measured")
            continue
        if slow.status == "timeout" and slow.rate is None and fast.best:
            # The slower contender finished no run within the timeout, so its rate is under
            # readings/timeout and the ratio over timeout/fast.best: report that bound.
            bound = timeout / fast.best
            cells.append(f"> {bound:.1f}× (timeout)")
            passed.append(True if bound >= target.minimum else None)  # None: cannot tell
            continue
        if slow.rate is None or slow.status not in ("ok", "timeout"):
            cells.append("not measured")
            continue
        ratio = fast.rate / slow.rate
        cells.append(f"{ratio:.2f}×")
        passed.append(ratio >= target.minimum)
    if not passed:
        verdict = "n/a"
    elif False in passed:
        verdict = "MISS"
    elif None in passed:
        verdict = "INCONCLUSIVE"
    else:
        verdict = "PASS"
    return cells, verdict


def targets_table(results: list[Measurement], sizes: list[str], timeout: float) -> str:
    header = "| Target | Goal | " + " | ".join(SIZE_LABELS[s] for s in sizes) + " | Verdict |"
    lines = [header, "|---|---|" + "--:|" * len(sizes) + "---|"]
    for target in TARGETS:
        cells, verdict = evaluate(target, results, sizes, timeout)
        goal = f"≥ {target.minimum:g}×" if target.kind == "ratio" else f"< {target.max_mib:g} MiB"
        lines.append(f"| {target.label} | {goal} | " + " | ".join(cells) + f" | **{verdict}** |")
    return "\n".join(lines)


def files_table(manifests: dict[str, tuple[Path, generate.Manifest]]) -> str:
    lines = [
        "| File | Readings | IntervalBlocks | Size (MB) | Readings with a quality (blocks) "
        "| Readings with a cost |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for size, (path, m) in manifests.items():
        lines.append(
            f"| {SIZE_LABELS[size]} (`bench/data/{path.name}`) | {m.readings:,} | {m.days:,} | "
            f"{m.bytes / 1e6:.1f} | {m.readings_with_quality:,} ({m.blocks_with_quality}) | "
            f"{m.readings_with_cost:,} |"
        )
    return "\n".join(lines)


def render_docs(
    results: list[Measurement],
    manifests: dict[str, tuple[Path, generate.Manifest]],
    info: dict[str, str],
    sizes: list[str],
    repeat: int,
    budget: float,
    timeout: float,
    when: dt.datetime,
    started_cli: startup.Startup | None = None,
    validated: list[validation_bench.ValidateRow] | None = None,
) -> str:
    cli_section = startup.section(started_cli) + "\n\n" if started_cli is not None else ""
    if validated:
        cli_section += validation_bench.section(validated) + "\n\n"
    contender_lines = "\n".join(
        f"{i}. `{c.name}` — {c.description}."
        for i, c in enumerate(contenders.CONTENDERS.values(), 1)
    )
    machine_lines = "\n".join(f"- **{key}**: {value}" for key, value in info.items())
    analysis_path = Path(__file__).with_name("ANALYSIS.md")
    analysis = analysis_path.read_text().strip() + "\n\n" if analysis_path.exists() else ""
    # The server benchmark's section (bench/server/run.py --write-docs), from its own run.
    server_path = RESULTS.with_name("server.md")
    server = (
        "\n<!-- server benchmark: bench/results/server.md -->\n\n"
        + server_path.read_text().strip()
        + "\n"
        if server_path.exists()
        else ""
    )
    # And the gateway benchmark's (bench/gateway/run.py --write-docs), after it.
    gateway_path = RESULTS.with_name("gateway.md")
    if gateway_path.exists():
        server += (
            "\n<!-- gateway benchmark: bench/results/gateway.md -->\n\n"
            + gateway_path.read_text().strip()
            + "\n"
        )
    return f"""# Performance

Generated by `bench/run.py --write-docs` on {when:%Y-%m-%d %H:%M} UTC; do not edit by hand
(rerun the benchmark instead).

## Results

{results_table(results, repeat)}

## Targets

{targets_table(results, sizes, timeout)}

A ratio is readings/s of the first contender over readings/s of the second (higher is
better); PASS needs every file (size and shape) to meet the goal.

{cli_section}{analysis}## What is measured, and how

The input is a generated Green Button feed (`bench/generate.py`, seeded, so the bytes are
the same on every machine): one UsagePoint, its LocalTimeParameters (Pacific time with US
DST rules), one MeterReading, one ReadingType (Wh, 15-minute intervals) and one
IntervalBlock entry per day holding 96 IntervalReadings (`timePeriod` duration and start,
`value`), linked with Green Button Alliance hrefs, Atom as the default namespace and the
`espi:` prefix for ESPI, indented like real exports.  About one day in twelve has an
estimated gap whose readings carry `ReadingQuality/quality`.  Two more 1-year files hold
the same readings in the shapes of today's real exports: "quality on every reading" (a
`ReadingQuality` before every `timePeriod`, as PG&E Share My Data and Ameren 2023 write
them: 17, validated, outside the gaps) and "cost on every reading" (a `cost` before every
`timePeriod`, ESPI the default namespace and `ns2:` for Atom, as the Texas ThirdPartyX
files write them; the gaps keep their qualities).  Their 5-year versions add nothing (the
readers' cost is per block), so they are not measured by default.  The 1-year files parse
with `espi_sst.parse` without warnings and are schema-valid (`bench/generate.py --check`),
and the espi_sst contenders fail on any reader warning: a tolerated deviation would mean
the file is not the clean feed it claims to be.

{files_table(manifests)}

Contenders, each reading every interval reading of the file:

{contender_lines}

Method:

- Every run is a fresh Python process, so its peak RSS
  (`getrusage(RUSAGE_SELF).ru_maxrss`) is that contender's alone; the table shows the
  largest over the runs.  "RSS after imports" is the same figure taken before the read:
  the interpreter plus the contender's imports (compare with the plain-lxml row for what
  a library's imports cost).  Linux keeps `ru_maxrss` across fork and exec, so contenders
  are started through a shell that forks again (the runner's own size cannot leak into
  the figure), and `VmHWM` from `/proc/self/status` cross-checks it.
- The read is timed inside the process with `time.perf_counter()`, after the imports.
  Each contender runs {repeat} times and the table shows the best; the runs are
  interleaved (every contender once, then again...), so a burst of other load slows all
  contenders rather than one.  A contender is not run again when one more run would take
  its total over {budget:g} s, and one still running after {timeout:g} s is killed
  ("timeout").
- Every contender's reading count, and the sum of the values it read, are checked against
  the generator's manifest ("Status"); for `espi_sst.parse` and greenbutton-objects the
  sum is taken after the clock stops, so their timed work is exactly "build, then count".
- greenbutton-objects reads only the first IntervalBlock of each entry; the generated
  feeds have one per entry, so its count is complete here.
- On a shared virtual machine absolute throughput can vary by tens of percent between
  runs (the load average below hints at how busy the machine was), and ratios by about
  10 %; compare ratios from the same run, and rerun before trusting a verdict whose ratio
  is within 10 % of its goal.

## Machine

{machine_lines}

## Reproduce

```sh
.venv/bin/pip install -c constraints.txt -e '.[bench]'   # greenbutton-objects
.venv/bin/python bench/run.py --write-docs
```

`bench/run.py --help` lists the options (sizes, contenders, repeats, timeout).
{server}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(generate.DEFAULT_SIZES),
        help=f"comma-separated, from {', '.join(generate.SIZES)}",
    )
    parser.add_argument(
        "--contenders", default=",".join(contenders.CONTENDERS), help="comma-separated names"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per contender, each in a fresh process (best kept)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=90.0,
        help="no further runs of a contender once its runs total this many seconds",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a contender is killed"
    )
    parser.add_argument(
        "--write-docs", action="store_true", help=f"rewrite {DOCS.relative_to(ROOT)}"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"write raw results here (default with --write-docs: {RESULTS.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--startup-repeat",
        type=int,
        default=15,
        help="fresh processes of `espi-sst inspect` and of the bare import (bench/startup.py;"
        " 0: skip)",
    )
    parser.add_argument(
        "--validate-repeat",
        type=int,
        default=3,
        help="fresh processes of each validator against xmllint (bench/validate.py; 0: skip)",
    )
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    names = [n for n in args.contenders.split(",") if n]
    bad = (set(sizes) - set(generate.SIZES)) | (set(names) - set(contenders.CONTENDERS))
    if bad:
        parser.error(f"unknown size or contender: {sorted(bad)}")

    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC)
    load_before = load_average()
    fingerprint = source_fingerprint()
    manifests = {size: generate.ensure(size) for size in sizes}
    results: list[Measurement] = []
    for size in sizes:
        path, manifest = manifests[size]
        results += measure_all(names, path, size, manifest, args.repeat, args.budget, args.timeout)
    started_cli = startup.measure(args.startup_repeat) if args.startup_repeat > 0 else None
    validated = (
        validation_bench.measure([s for s in sizes if s in ("1y", "5y")], args.validate_repeat)
        if args.validate_repeat > 0
        else None
    )
    info = machine()
    info["load average (1 min) before / after"] = f"{load_before} / {load_average()}"
    info["espi_sst sources (sha256)"] = fingerprint
    changed = source_fingerprint() != fingerprint
    if changed:
        info["espi_sst sources (sha256)"] += (
            " — CHANGED DURING THE RUN: the results mix two versions; rerun"
        )
        print(
            "warning: espi_sst/ changed during the run; the results mix two versions",
            file=sys.stderr,
        )
    print()
    print(results_table(results, args.repeat))
    print()
    print(targets_table(results, sizes, args.timeout))
    if started_cli is not None:
        print()
        print(startup.section(started_cli))
    if validated:
        print()
        print(validation_bench.section(validated))
    print(f"\n(total {time.perf_counter() - started:.0f} s)", file=sys.stderr)

    json_path = args.json or (RESULTS if args.write_docs else None)
    if json_path is not None:
        payload = {
            "date": when.isoformat(timespec="seconds"),
            "machine": info,
            "files": {size: asdict(m) for size, (_, m) in manifests.items()},
            "results": [asdict(r) | {"best": r.best, "rate": r.rate} for r in results],
            "startup": None
            if started_cli is None
            else asdict(started_cli) | {"ratio": started_cli.ratio, "goal": startup.GOAL},
            "validate": [
                asdict(r) | {"ratio": r.ratio, "verdict": r.verdict} for r in validated or []
            ],
        }
        _write_atomically(json_path, json.dumps(payload, indent=2) + "\n")
    if args.write_docs:
        _write_atomically(
            DOCS,
            render_docs(
                results,
                manifests,
                info,
                sizes,
                args.repeat,
                args.budget,
                args.timeout,
                when,
                started_cli,
                validated,
            ),
        )
        print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
    ok = not changed and all(r.status in ("ok", "timeout") for r in results)
    return 0 if ok else 1


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
