"""Benchmark the espi-sst server under gunicorn, next to a bare Flask endpoint.

Usage::

    .venv/bin/python bench/server/run.py                # print the Markdown results
    .venv/bin/python bench/server/run.py --write-docs   # and rewrite docs/performance.md

Seeds the demo utility into a fresh SQLite database (and into a throw-away PostgreSQL
cluster when ``scripts/pg-test-cluster`` can start one), serves it with ``gunicorn -w 2``
on 127.0.0.1 next to a bare Flask "hello" app with the same settings, and measures in one
run, rounds interleaved:

* an authorized ``GET .../UsageSummary/{id}`` (a bearer token from a real flow) and the
  bare endpoint: requests/s, p50 and p99 at 32 concurrent clients (wrk when installed);
* the whole authorization-code flow with PKCE over HTTP (sign-in, consent, token
  exchange with cookies and CSRF tokens): flows/s and p50/p99 per flow at 8 concurrent
  flows.

``--write-docs`` writes ``bench/results/server.md`` and ``server.json`` and regenerates
docs/performance.md, which embeds server.md after the reading benchmark (whose results
come from ``bench/results/latest.json``; the reading benchmark is not rerun).  A full run
takes about 4 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import cpu
import feed
import flow
import load
import servers
from report import (
    ANALYSIS,
    DOCS,
    HELLO,
    RESULTS_JSON,
    RESULTS_MD,
    ROOT,
    SINGLE_FLOWS,
    FlowSeries,
    Series,
    load_results,
    reading_benchmark,
    render,
    rewrite_performance_page,
    write,
)


@dataclass
class Espi:
    """One espi-sst server under test."""

    key: str
    server: servers.Server
    demo: dict[str, Any]
    database: str
    database_pid: int | None


# ---- preparing the targets ----------------------------------------------------------------


def benchmark_asp(demo: dict[str, Any]) -> flow.Asp:
    from espi_sst_server.demo.clients import DEMO_SCOPE

    client = next(
        c for c in demo["clients"] if c["client_secret"] and c["qualification"] == "qualified"
    )
    return flow.Asp(
        client["client_id"], client["client_secret"], client["redirect_uris"][0], DEMO_SCOPE
    )


def usage_summary_target(key: str, base: str, demo: dict[str, Any]) -> Series:
    """A real token (one full flow) and the newest UsageSummary of a bundled customer.

    The response is checked once: 200, Atom, valid against the official ESPI schemas.
    """
    import espi_sst

    customer = next(c for c in demo["customers"] if "bundled" in c["kinds"])
    _times, issued = flow.run_flow(
        base, benchmark_asp(demo), customer["username"], customer["password"]
    )
    subscription = issued["resourceURI"].rsplit("/", 1)[1]
    point = customer["usage_points"][0]
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    feed_path = f"/espi/1_1/resource/Subscription/{subscription}/UsagePoint/{point}/UsageSummary"
    browser = flow.Browser(base)
    try:
        status, _h, body = browser.request("GET", feed_path, headers=headers)
        ids = re.findall(rf"{feed_path}/([0-9a-f-]{{36}})", body.decode())
        if status != 200 or not ids:
            raise RuntimeError(f"no UsageSummary in the feed (HTTP {status})")
        path = f"{feed_path}/{ids[-1]}"
        status, response_headers, body = browser.request("GET", path, headers=headers)
    finally:
        browser.close()
    if status != 200 or not response_headers["content-type"].startswith("application/atom+xml"):
        raise RuntimeError(f"UsageSummary GET: HTTP {status}")
    problems = espi_sst.validate(body, profile="official")
    if problems:
        raise RuntimeError(f"UsageSummary response is not schema-valid: {problems[:3]}")
    return Series(key, base + path, headers, response_bytes=len(body))


def hello_target(server: servers.Server) -> Series:
    browser = flow.Browser(server.base_url)
    try:
        status, _h, body = browser.request("GET", "/hello")
    finally:
        browser.close()
    if status != 200:
        raise RuntimeError(f"hello: HTTP {status}")
    return Series(
        HELLO,
        server.base_url + "/hello",
        {},
        response_bytes=len(body),
        server_pid=server.process.pid,
    )


# ---- measuring ----------------------------------------------------------------------------


def measure(generator: str, series: Series, clients: int, seconds: float) -> load.LoadResult:
    """One load run, with the CPU each party used meanwhile (in cores)."""
    roots = {"server": series.server_pid}
    if series.database_pid:
        roots["database"] = series.database_pid
    trees = cpu.tree_seconds(roots)
    spent = cpu.children_seconds() if generator == "wrk" else cpu.own_seconds()
    if generator == "wrk":
        result = load.wrk(series.url, series.headers, clients, seconds)
        spent = cpu.children_seconds() - spent
    else:
        result = load.python(series.url, series.headers, clients, seconds)
        spent = cpu.own_seconds() - spent
    after = cpu.tree_seconds(roots)
    result.cores = {name: (after[name] - trees[name]) / result.seconds for name in roots}
    result.cores["generator"] = spent / result.seconds
    return result


def argon2_cost(samples: int = 10) -> dict[str, float]:
    """One sign-in's password check, alone on an idle machine: wall and CPU time (ms)."""
    from argon2 import PasswordHasher, extract_parameters
    from espi_sst_server.portal.identity import hash_password

    stored = hash_password("benchmark password")  # the server's own parameters
    parameters = extract_parameters(stored)
    hasher = PasswordHasher.from_parameters(parameters)
    wall, cpu = [], []
    for _ in range(samples):
        started, started_cpu = time.perf_counter(), time.process_time()
        hasher.verify(stored, "benchmark password")
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {
        "wall_ms": statistics.median(wall) * 1000,
        "cpu_ms": statistics.median(cpu) * 1000,
        "time_cost": parameters.time_cost,
        "memory_kib": parameters.memory_cost,
        "parallelism": parameters.parallelism,
    }


def log_problems(log: Path) -> list[str]:
    """Tracebacks, errors and worker timeouts gunicorn logged: a benchmark of a failing
    server measures nothing."""
    if not log.exists():
        return []
    return [
        line.strip()
        for line in log.read_text(errors="replace").splitlines()
        if "[ERROR]" in line or "[CRITICAL]" in line or line.startswith("Traceback")
    ][:5]


# ---- machine ------------------------------------------------------------------------------


def cpu_idle(seconds: float = 2.0) -> float:
    """Share of CPU time idle over a short sample (before the run: is anything else busy?)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return (idle1 - idle0) / max(1, total1 - total0)


def machine(reading: ModuleType) -> dict[str, str]:
    info = {k: v for k, v in reading.machine().items() if k not in ("greenbutton-objects",)}
    import sqlite3

    for package in ("gunicorn", "Flask", "SQLAlchemy", "Authlib", "argon2-cffi", "psycopg"):
        try:
            info[package] = version(package)
        except Exception:  # noqa: BLE001  (not installed: say so)
            info[package] = "not installed"
    info["SQLite"] = sqlite3.sqlite_version
    info["wrk"] = _wrk_version()
    info["server sources (sha256)"] = server_fingerprint()
    return info


def server_fingerprint() -> str:
    """A short hash of server/'s Python sources and templates: exactly what was measured
    (the commit alone does not say so in a working tree with changes)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "server").rglob("*")):
        if path.suffix in (".py", ".html") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    dirty = _git("status", "--porcelain", "--", "server")
    return digest.hexdigest()[:12] + (" (uncommitted changes in server/)" if dirty else "")


def _git(*args: str) -> str:
    import subprocess

    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _wrk_version() -> str:
    if load.WRK is None:
        return "not installed"
    import subprocess

    out = subprocess.run([load.WRK, "-v"], capture_output=True, text=True)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" [")[0].removeprefix("wrk ") if first else "unknown"


# ---- main ---------------------------------------------------------------------------------


def _scale() -> ModuleType:
    """bench/server/scale.py, imported when used (it loads the server and psycopg)."""
    import scale  # noqa: PLC0415

    return scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements per target (best kept)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per GET measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per GET target")
    parser.add_argument("--clients", type=int, default=32, help="concurrent GET clients")
    parser.add_argument(
        "--flow-clients",
        type=int,
        default=8,
        help="concurrent OAuth flows (at most one per demo customer)",
    )
    parser.add_argument("--flow-seconds", type=float, default=10.0, help="seconds per flow round")
    parser.add_argument("--flow-warmup", type=float, default=2.0, help="warm-up per flow round")
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="GET load generator (auto: wrk when installed)",
    )
    parser.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    parser.add_argument(
        "--no-feed", action="store_true", help="skip serving the Batch/Subscription feed"
    )
    parser.add_argument(
        "--with-scale",
        action="store_true",
        help="also the scale figure (bench/server/scale.py: 1,000 usage points x 13 months on "
        "PostgreSQL; seeding takes minutes); without it the last stored figures are kept",
    )
    parser.add_argument("--scale-points", type=int, default=1_000, help="with --with-scale")
    parser.add_argument("--scale-months", type=int, default=13, help="with --with-scale")
    parser.add_argument("--scale-rounds", type=int, default=30, help="with --with-scale")
    parser.add_argument(
        "--scale-smoke",
        action="store_true",
        help="with --with-scale: its smallest settings (20 points, 1 month, 3 rounds; seconds)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help=f"rewrite {DOCS.relative_to(ROOT)}"
    )
    parser.add_argument("--json", type=Path, default=None, help="write raw results here")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help=f"measure nothing: render {RESULTS_JSON.relative_to(ROOT)} again (after editing "
        f"{ANALYSIS.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        run, series, flows = load_results(args.json or RESULTS_JSON)
        markdown = render(run, series, flows)
        stored = feed.load_results(args.json or RESULTS_JSON)
        if stored:
            markdown += "\n" + feed.render(stored)
        stored_scale = _scale().load_results(args.json or RESULTS_JSON)
        if stored_scale is not None:
            markdown += "\n" + _scale().render(stored_scale)
        print(markdown)
        if args.write_docs:
            write(RESULTS_MD, markdown)
            write(DOCS, rewrite_performance_page(reading_benchmark()))
        return 0
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if load.WRK else "python"
    if generator == "wrk" and load.WRK is None:
        parser.error("wrk is not installed (apt-get install wrk), use --generator python")

    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC)
    reading = reading_benchmark()
    idle = cpu_idle()
    load_before = reading.load_average()
    series: list[Series] = []
    flows: list[FlowSeries] = []
    problems: list[str] = []
    run: dict[str, Any] = {
        "date": when,
        "settings": {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "clients": args.clients,
            "flow_clients": args.flow_clients,
            "flow_seconds": args.flow_seconds,
            "flow_warmup": args.flow_warmup,
            "generator": generator,
            "workers": servers.WORKERS,
        },
    }

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="espi-bench-server.") as work, ExitStack() as stack:
        work_dir = Path(work)
        hello = stack.enter_context(
            servers.gunicorn("hello", "hello_app:app", servers.free_port(), work_dir, {}, "/hello")
        )
        databases: list[tuple[str, str, int | None]] = [
            ("sqlite", f"sqlite:///{work_dir / 'espi.db'}", None)
        ]
        if not args.no_postgresql:
            cluster = stack.enter_context(servers.postgresql())
            if cluster is not None:
                databases.append(("postgresql", cluster.url, cpu.postmaster_pid(cluster.path)))
                run["postgresql"] = f"PostgreSQL {servers.postgresql_version(cluster.url)}"
        espis: list[Espi] = []
        for key, url, database_pid in databases:
            port = servers.free_port()
            base = f"http://127.0.0.1:{port}"
            say(f"seeding the demo utility into {key}")
            demo = servers.prepare_database(url, base)
            server = stack.enter_context(
                servers.gunicorn(
                    f"espi-{key}",
                    "espi_sst_server.wsgi:app",
                    port,
                    work_dir,
                    servers.espi_env(url, base),
                    "/.well-known/openid-configuration",
                )
            )
            espis.append(Espi(key, server, demo, url, database_pid))

        series = [hello_target(hello)]
        for e in espis:
            target = usage_summary_target(e.key, e.server.base_url, e.demo)
            target.server_pid, target.database_pid = e.server.process.pid, e.database_pid
            series.append(target)
        for s in series:
            say(f"warm-up {s.key} ({args.warmup:g} s)")
            measure(generator, s, args.clients, args.warmup)
        for number in range(1, args.rounds + 1):
            for s in series:
                result = measure(generator, s, args.clients, args.seconds)
                s.rounds.append(result)
                say(
                    f"round {number} {s.key:<10} {result.rate:8,.0f} req/s  p50 {result.p50_ms:6.1f} ms"
                    f"  p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
                )
        hello_best = series[0].best
        if generator == "wrk" and hello_best is not None:
            say(f"generator check: Python generator on {HELLO} ({args.seconds:g} s)")
            check = load.python(series[0].url, {}, args.clients, args.seconds)
            run["generator_check"] = {"wrk": hello_best.rate, "python": check.rate}

        flows = [FlowSeries(e.key) for e in espis]
        for espi, f in zip(espis, flows, strict=True):
            say(f"single flows on the idle {f.key} server")
            customer = espi.demo["customers"][0]
            for number in range(2 + SINGLE_FLOWS):  # the first two warm the workers up
                times, _issued = flow.run_flow(
                    espi.server.base_url,
                    benchmark_asp(espi.demo),
                    customer["username"],
                    customer["password"],
                )
                if number >= 2:
                    f.alone.append(times)
        for number in range(1, args.rounds + 1):
            for espi, f in zip(espis, flows, strict=True):
                customers = [(c["username"], c["password"]) for c in espi.demo["customers"]]
                # One flow per customer at a time: a customer's new consent to the same ASP
                # replaces the earlier grant (issue 12), and with it a parallel flow's code.
                result = flow.closed_loop(
                    espi.server.base_url,
                    benchmark_asp(espi.demo),
                    customers,
                    min(args.flow_clients, len(customers)),
                    args.flow_seconds,
                    warmup=args.flow_warmup,
                )
                f.rounds.append(result)
                say(
                    f"flows round {number} {f.key:<10} {result.rate:5.1f} flows/s  "
                    f"p50 {result.flow_ms(0.5) if result.flows else float('nan'):7.1f} ms  "
                    f"errors {result.errors} {result.first_error[:120]}"
                )
        feeds: list[feed.FeedResult] = []
        if not args.no_feed:
            say("serving the 13-month and 5-year Batch/Subscription feeds (bench/server/feed.py)")
            feed_dir = work_dir / "feed"
            feed_dir.mkdir()
            feeds = feed.measure_feeds(feed_dir, args.rounds)
            for r in feeds:
                say(
                    f"feed {r.period}: {r.rate:,.0f} readings/s, plain lxml on the bytes "
                    f"{r.anchor_rate:,.0f}/s ({r.rate / r.anchor_rate:.2f}x), worker peak RSS "
                    f"{r.worker_peak_rss_mb:.0f} MB"
                )
        scale_result = None
        if args.with_scale:
            say("the scale figure (bench/server/scale.py): seeding PostgreSQL")
            settings = (
                _scale().SMOKE
                if args.scale_smoke
                else {
                    "points": args.scale_points,
                    "months": args.scale_months,
                    "rounds": args.scale_rounds,
                }
            )
            scale_result = _scale().measure_scale(**settings)
            say(
                f"scale: {scale_result.bytes_per_reading:.2f} bytes per reading; p50 ratios "
                + ", ".join(f"{w} {h / lo:.2f}x" for w, (lo, h) in scale_result.p50_ms.items())
            )
        elif args.write_docs:  # not measured this time: the last stored figures, dated
            scale_result = _scale().load_results(RESULTS_JSON)
        say("argon2 cost, servers idle")
        run["argon2"] = argon2_cost()
        for s in [hello, *(e.server for e in espis)]:
            problems += [f"{s.name}: {line}" for line in log_problems(s.log)]

    info = machine(reading)
    info["CPU idle before the run (2 s sample)"] = f"{idle:.0%}"
    info["load average (1 min) before / after"] = f"{load_before} / {reading.load_average()}"
    info["gunicorn workers"] = f"{servers.WORKERS} (sync), same settings for every server"
    run["machine"] = info
    markdown = render(run, series, flows)
    if feeds:
        markdown += "\n" + feed.render(feeds)
    if scale_result is not None:
        markdown += "\n" + _scale().render(scale_result)
    print(markdown)
    for problem in problems:
        print(f"warning: server log: {problem}", file=sys.stderr)
    say("done")

    json_path = args.json or (RESULTS_JSON if args.write_docs else None)
    if json_path is not None:
        payload = {
            **run,
            "date": when.isoformat(timespec="seconds"),
            "get": [asdict(s) | {"headers": sorted(s.headers)} for s in series],
            "flows": [asdict(f) for f in flows],
            "feeds": [asdict(r) | {"rate": r.rate, "anchor_rate": r.anchor_rate} for r in feeds],
            "scale": None if scale_result is None else asdict(scale_result),
            "problems": problems,
        }
        write(json_path, json.dumps(payload, indent=2) + "\n")
    if args.write_docs:
        write(RESULTS_MD, markdown)
        write(DOCS, rewrite_performance_page(reading))
        print(f"wrote {RESULTS_MD.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}", file=sys.stderr)
    failed = problems or any(r.errors for s in series for r in s.rounds)
    failed = failed or any(r.errors for f in flows for r in f.rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
