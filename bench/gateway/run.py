"""Benchmark the statewide gateway: nginx in front of an espi-sst server, against direct calls.

Usage::

    .venv/bin/python bench/gateway/run.py                # print the Markdown results
    .venv/bin/python bench/gateway/run.py --write-docs   # and rewrite docs/performance.md

Issue 7, part 6: the latency (p50, p99) the gateway adds and the throughput it costs,
measured side by side with direct calls in the same run (targets: p50 overhead < 1 ms,
throughput loss < 10 %).  One utility server -- the demo utility seeded into SQLite,
``gunicorn -w 2`` as in ``bench/server`` -- runs on 127.0.0.1 with ``ISSUER`` under the
gateway and ``TRUSTED_PROXY_HOPS = 1``, as it would behind the SST (concept design 2.2.2,
7.16); Debian's nginx runs the configuration :mod:`espi_sst_server.gateway` generates, with
rate limits too generous to ever refuse.  wrk GETs the same UsageSummary with the same
bearer token at gunicorn and at ``/SST/v1/PGE/...`` through nginx, rounds interleaved
(direct, gateway, then gateway, direct, ...) so that drift in the machine's load hits both,
at 32 connections (throughput) and at one connection (latency, where overhead is clearest).

Then the keep-alive comparison: a second server on the same database with gthread workers
(which keep connections open, as docs/deployment.md runs production), measured directly,
through the generated gateway and through the gateway with an upstream keep-alive pool.

``--write-docs`` writes ``bench/results/gateway.md`` and puts it, after the server
benchmark's section, into docs/performance.md.  A run takes about 4 minutes on 2 cores:
many short rounds rather than a few long ones, so a burst of other work on a shared machine
spoils one round of a pair, which the per-round medians then leave out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE.parent / "server"))  # bench/server's servers, load, cpu, report

import cpu  # noqa: E402
import load  # noqa: E402
import proxy  # noqa: E402
import servers  # noqa: E402
from render import (  # noqa: E402
    DIRECT,
    DOCS,
    GATEWAY,
    GTHREAD_DIRECT,
    GTHREAD_GATEWAY,
    GTHREAD_KEEPALIVE,
    RESULTS_MD,
    ROOT,
    Load,
    Series,
    load_run,
    render,
    rewrite_performance_page,
)
from report import write  # noqa: E402  (bench/server/report.py: an atomic write)

ENTITY = "PGE"  # the measured server's id at the gateway
GTHREAD_ENTITY, KEEPALIVE_ENTITY = "GT", "GK"  # the gthread server, without / with the pool
GTHREAD_ARGS = "--worker-class gthread --threads 4"  # docs/deployment.md's, with -w 2


def server_benchmark() -> ModuleType:
    """``bench/server/run.py`` as a module: its token, log and machine helpers."""
    path = HERE.parent / "server" / "run.py"
    spec = importlib.util.spec_from_file_location("bench_server_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def checked_response(url: str, headers: dict[str, str]) -> int:
    """GET once: 200, Atom, schema-valid (the gateway must not change what is measured)."""
    import espi_sst

    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        kind = response.headers.get("Content-Type", "")
    if not kind.startswith("application/atom+xml"):
        raise RuntimeError(f"{url}: {kind}, not Atom")
    problems = espi_sst.validate(body, profile="official")
    if problems:
        raise RuntimeError(f"{url}: not schema-valid: {problems[:3]}")
    return len(body)


def targets(urls: dict[str, str], headers: dict[str, str], loads: list[Load]) -> list[Series]:
    """A series per path and load; each path's response checked once."""
    sizes = {key: checked_response(url, headers) for key, url in urls.items()}
    return [
        Series(key, each, url, headers, response_bytes=sizes[key])
        for each in loads
        for key, url in urls.items()
    ]


def measure(series: Series, seconds: float, roots: dict[str, int]) -> load.LoadResult:
    """One wrk run, with the CPU each party (a process tree, and wrk) used meanwhile."""
    before = cpu.tree_seconds(roots)
    spent = cpu.children_seconds()
    result = load.wrk(
        series.url, series.headers, series.load.connections, seconds, series.load.threads
    )
    spent = cpu.children_seconds() - spent
    after = cpu.tree_seconds(roots)
    result.cores = {name: (after[name] - before[name]) / result.seconds for name in roots}
    result.cores["wrk"] = spent / result.seconds
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="pairs (direct, gateway) per load")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per path")
    parser.add_argument("--clients", type=int, default=32, help="connections, throughput load")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads, throughput load")
    parser.add_argument(
        "--keepalive-rounds",
        type=int,
        default=3,
        help="rounds of the keep-alive comparison (0: skip it)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help=f"rewrite {DOCS.relative_to(ROOT)}"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="write (with --render-only: read) raw results"
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: render --json again (after editing bench/ANALYSIS_GATEWAY.md)",
    )
    parser.add_argument(
        "--embed-only",
        action="store_true",
        help=f"measure nothing: put {RESULTS_MD.relative_to(ROOT)} back into "
        f"{DOCS.relative_to(ROOT)} (after bench/run.py rewrote the page)",
    )
    args = parser.parse_args(argv)
    if min(args.seconds, args.warmup, args.rounds) < 1:
        parser.error(
            "--seconds, --warmup and --rounds must be at least 1 (wrk takes whole seconds)"
        )
    if args.embed_only:
        write(DOCS, rewrite_performance_page())
        return 0
    if args.render_only:
        if args.json is None:
            parser.error("--render-only needs --json (a file an earlier run wrote)")
        saved, measured = load_run(args.json)
        markdown = render(saved, measured)
        print(markdown)
        if args.write_docs:
            _write_docs(markdown)
        return 0
    nginx = proxy.nginx_binary()
    if load.WRK is None or nginx is None:
        parser.error("needs Debian's wrk and nginx: apt-get install wrk nginx")
    bench_server = server_benchmark()
    reading = bench_server.reading_benchmark()

    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC)
    idle = bench_server.cpu_idle()
    load_before = reading.load_average()
    loads = [Load("throughput", args.clients, args.threads), Load("latency", 1, 1)]
    run: dict[str, Any] = {
        "date": when,
        "settings": {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "gthread_rounds": args.keepalive_rounds,
            "gthread_args": f"gunicorn -w {servers.WORKERS} {GTHREAD_ARGS}",
        },
    }
    problems: list[str] = []

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    def rounds(group: list[Series], count: int, roots: dict[str, int]) -> None:
        """``count`` rounds; in each, every load once, its paths in order, then reversed
        (A B C, C B A, ...: a steady drift in the machine's load evens out)."""
        for number in range(count):
            for each in loads:
                paths = [s for s in group if s.load == each]
                for s in paths if number % 2 == 0 else reversed(paths):
                    result = measure(s, args.seconds, roots)
                    s.rounds.append(result)
                    say(
                        f"round {number + 1} {each.connections:>3} conn {s.key:<17} "
                        f"{result.rate:7,.0f} req/s  p50 {result.p50_ms:6.2f}  "
                        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
                    )

    series: list[Series] = []
    with tempfile.TemporaryDirectory(prefix="espi-bench-gateway.") as work, ExitStack() as stack:
        folder = Path(work)
        public = f"http://127.0.0.1:{servers.free_port()}"
        issuer = f"{public}/SST/v1/{ENTITY}"
        database = f"sqlite:///{folder / 'espi.db'}"
        say("seeding the demo utility into SQLite")
        demo = servers.prepare_database(database, issuer)
        env = servers.espi_env(database, issuer) | {"ESPI_TRUSTED_PROXY_HOPS": "1"}
        ready = "/.well-known/openid-configuration"
        app = "espi_sst_server.wsgi:app"
        port = servers.free_port()
        server = stack.enter_context(servers.gunicorn("espi-sync", app, port, folder, env, ready))
        gateway = stack.enter_context(
            proxy.running_gateway(nginx, public, {ENTITY: server.base_url}, folder / "gateway")
        )
        run["nginx_config"] = gateway.config.read_text()
        target = bench_server.usage_summary_target("sqlite", server.base_url, demo)
        path = target.url.removeprefix(server.base_url)
        urls = {DIRECT: target.url, GATEWAY: gateway.entity_url(ENTITY) + path}
        series = targets(urls, target.headers, loads)
        roots = {"gunicorn": server.process.pid, "nginx": gateway.process.pid}
        for s in series:
            if s.load == loads[0]:
                say(f"warm-up {s.key} ({args.warmup:g} s)")
                measure(s, args.warmup, roots)
        rounds(series, args.rounds, roots)
        logs = [(server.log, gateway.error_log)]

        if args.keepalive_rounds:
            say("keep-alive comparison: a gthread server, two gateways")
            public2 = f"http://127.0.0.1:{servers.free_port()}"
            env2 = env | {"GUNICORN_CMD_ARGS": GTHREAD_ARGS}  # gunicorn's own variable
            threaded = stack.enter_context(
                servers.gunicorn("espi-gthread", app, servers.free_port(), folder, env2, ready)
            )
            gateway2 = stack.enter_context(
                proxy.running_gateway(
                    nginx,
                    public2,
                    {GTHREAD_ENTITY: threaded.base_url, KEEPALIVE_ENTITY: threaded.base_url},
                    folder / "gateway-keepalive",
                    keepalive=(KEEPALIVE_ENTITY,),
                )
            )
            run["nginx_config_keepalive"] = gateway2.config.read_text()
            urls = {
                GTHREAD_DIRECT: threaded.base_url + path,
                GTHREAD_GATEWAY: gateway2.entity_url(GTHREAD_ENTITY) + path,
                GTHREAD_KEEPALIVE: gateway2.entity_url(KEEPALIVE_ENTITY) + path,
            }
            group = targets(urls, target.headers, loads)
            roots = {"gunicorn": threaded.process.pid, "nginx": gateway2.process.pid}
            for s in group:
                if s.load == loads[0]:
                    measure(s, min(args.warmup, 2), roots)
            rounds(group, args.keepalive_rounds, roots)
            series += group
            logs.append((threaded.log, gateway2.error_log))
        for gunicorn_log, nginx_log in logs:
            problems += [f"gunicorn: {line}" for line in bench_server.log_problems(gunicorn_log)]
            problems += [f"nginx: {line}" for line in proxy.log_problems(nginx_log)]

    info = bench_server.machine(reading)
    for name in ("argon2-cffi", "psycopg", "SQLAlchemy", "Authlib"):
        info.pop(name, None)
    info["nginx"] = proxy.nginx_version(nginx)
    info["nginx workers"] = "auto (one per core), as generated"
    info["gunicorn workers"] = (
        f"{servers.WORKERS} (sync); the keep-alive comparison: {GTHREAD_ARGS}"
    )
    info["CPU idle before the run (2 s sample)"] = f"{idle:.0%}"
    info["load average (1 min) before / after"] = f"{load_before} / {reading.load_average()}"
    run["machine"] = info
    run["problems"] = problems
    markdown = render(run, series)
    print(markdown)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    say("done")
    if args.json is not None:
        payload = {
            **run,
            "date": when.isoformat(timespec="seconds"),
            "series": [asdict(s) | {"headers": sorted(s.headers)} for s in series],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.write_docs:
        _write_docs(markdown)
    failed = problems or any(r.errors for s in series for r in s.rounds)
    return 1 if failed else 0


def _write_docs(markdown: str) -> None:
    write(RESULTS_MD, markdown)
    write(DOCS, rewrite_performance_page())
    print(f"wrote {RESULTS_MD.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
