"""What an authorized read can cost at all on this stack: the bare endpoint, the floor, and
the real UsageSummary GET, in one run.

Usage::

    .venv/bin/python bench/server/floor.py                 # SQLite
    .venv/bin/python bench/server/floor.py --postgresql    # a throw-away cluster
    .venv/bin/python bench/server/floor.py --json          # one JSON object as the last line

Three gunicorns with the settings of ``bench/server/run.py`` (2 sync workers): the bare
Flask "hello" endpoint (``hello_app.py``), the floor (``floor_app.py``: Flask + SQLAlchemy
Core + lxml, one token statement, one grant-checked summary statement, a small entry) and
the espi-sst server, the last two on the same seeded database and with the same bearer
token.  Rounds of wrk at 32 clients interleave the three; the best round of each is kept.
The question it answers (issue 17): how far below 50 % of "hello" does the floor itself
sit, i.e. how much of the goal is the stack's and how much is ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import flow
import servers
from report import Series
from run import measure, usage_summary_target

RESOURCE_ROOT = "/espi/1_1/resource"


def floor_series(floor: servers.Server, espi: Series) -> Series:
    """The floor's URL for the same summary, checked once (200, the summary's id)."""
    path = urlsplit(espi.url).path
    url = floor.base_url + "/floor" + path.removeprefix(RESOURCE_ROOT)
    browser = flow.Browser(floor.base_url)
    try:
        status, _h, body = browser.request("GET", urlsplit(url).path, headers=espi.headers)
    finally:
        browser.close()
    if status != 200 or path.rsplit("/", 1)[1].encode() not in body:
        raise RuntimeError(f"floor: HTTP {status} {body[:200]!r}")
    return Series(
        "floor", url, espi.headers, response_bytes=len(body), server_pid=floor.process.pid
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="one JSON object as the last line")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="espi-bench-floor.") as work, ExitStack() as stack:
        from pathlib import Path

        work_dir = Path(work)
        hello = stack.enter_context(
            servers.gunicorn("hello", "hello_app:app", servers.free_port(), work_dir, {}, "/hello")
        )
        url = f"sqlite:///{work_dir / 'espi.db'}"
        if args.postgresql:
            cluster = stack.enter_context(servers.postgresql())
            if cluster is None:
                parser.error("PostgreSQL is not available")
            url = cluster.url
        port = servers.free_port()
        base = f"http://127.0.0.1:{port}"
        say("seeding the demo utility")
        demo = servers.prepare_database(url, base)
        espi_server = stack.enter_context(
            servers.gunicorn(
                "espi", "espi_sst_server.wsgi:app", port, work_dir, servers.espi_env(url, base),
                "/.well-known/openid-configuration",
            )
        )  # fmt: skip
        floor_server = stack.enter_context(
            servers.gunicorn(
                "floor", "floor_app:app", servers.free_port(), work_dir,
                {"ESPI_DATABASE_URL": url}, "/floor/ready",
            )
        )  # fmt: skip
        espi = usage_summary_target("espi-sst", espi_server.base_url, demo)
        espi.server_pid = espi_server.process.pid
        series = [
            Series("hello", hello.base_url + "/hello", {}, server_pid=hello.process.pid),
            floor_series(floor_server, espi),
            espi,
        ]
        for s in series:
            measure("wrk", s, args.clients, args.warmup)
        for number in range(1, args.rounds + 1):
            for s in series:
                result = measure("wrk", s, args.clients, args.seconds)
                s.rounds.append(result)
                say(
                    f"round {number} {s.key:<9} {result.rate:8,.0f} req/s  p50 "
                    f"{result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
                )
    best = {s.key: s.best for s in series}
    if any(b is None for b in best.values()):
        raise SystemExit("a target answered with errors in every round")
    rate = {key: b.rate for key, b in best.items() if b is not None}
    figures = {
        "database": "postgresql" if args.postgresql else "sqlite",
        "requests_per_second": {k: round(v) for k, v in rate.items()},
        "floor_share_of_hello": round(rate["floor"] / rate["hello"], 3),
        "espi_share_of_hello": round(rate["espi-sst"] / rate["hello"], 3),
        "espi_share_of_floor": round(rate["espi-sst"] / rate["floor"], 3),
    }
    print(
        f"\n{figures['database']}: hello {rate['hello']:,.0f} req/s; floor {rate['floor']:,.0f} "
        f"({100 * figures['floor_share_of_hello']:.0f}% of hello); espi-sst "
        f"{rate['espi-sst']:,.0f} ({100 * figures['espi_share_of_hello']:.0f}% of hello, "
        f"{100 * figures['espi_share_of_floor']:.0f}% of the floor)"
    )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
