"""Where an authorized UsageSummary GET spends its time: cProfile inside one process.

Usage::

    .venv/bin/python bench/server/profile_request.py                  # SQLite
    .venv/bin/python bench/server/profile_request.py --postgresql     # throw-away cluster
    .venv/bin/python bench/server/profile_request.py --top 40         # more functions

Seeds the demo utility, serves it on 127.0.0.1 for one real authorization-code flow (the
token the benchmark uses too), then calls the same app's WSGI entry directly (Flask's
test client, no sockets) for ``--requests`` GETs: first timed, then under cProfile.  It
prints the time per request, the inclusive share of the parts of the request (the token
guard, the grant-checked query, the XML writer, Flask's session and teardown ...), the
SQL statements one request sends, and the top functions.  Run it next to
``bench/server/run.py``: that one says how fast, this one says why.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import servers
from run import usage_summary_target

# (label, file suffix, function name): inclusive time of these functions, per request.
PARTS = (
    ("whole request in Flask (wsgi_app)", "flask/app.py", "wsgi_app"),
    ("  request context push (incl. session cookie open)", "flask/ctx.py", "push"),
    ("  the view: routes.usage_summary", "resource/routes.py", "usage_summary"),
    ("    token guard: guard.current_grant", "oauth/guard.py", "current_grant"),
    ("      Scope.parse of the token's scope", "espi_sst/scope.py", "parse"),
    ("      lazy load token.authorization", "orm/strategies.py", "_emit_lazyload"),
    ("    grant-checked query: access.usage_summary", "resource/access.py", "usage_summary"),
    ("    parse_query(request.args)", "resource/query.py", "parse_query"),
    ("    EntryBuilder.usage_summary (model objects)", "resource/build.py", "usage_summary"),
    ("    routes.atom: espi_sst.serialize + Response", "resource/routes.py", "atom"),
    ("  all SQLAlchemy Session.execute / scalar", "orm/session.py", "_execute_internal"),
    ("    statement compile (cache lookups)", "sql/elements.py", "_compile_w_cache"),
    ("    DBAPI cursor.execute", "engine/default.py", "do_execute"),
    ("    pool checkout (incl. pre-ping)", "pool/base.py", "_checkout"),
    ("  app context teardown (session remove)", "flask/app.py", "do_teardown_appcontext"),
)


def serve_and_authorize(
    database_url: str, demo: dict[str, Any], base: str
) -> tuple[Any, str, dict[str, str]]:
    """The app, the UsageSummary path and the bearer header, from one real HTTP flow."""
    from espi_sst_server import create_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines
    port = int(urlsplit(base).port or 80)
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "ISSUER": base,
            "SECRET_KEY": "profile",
            # As in the gunicorn benchmark (servers.espi_env): one ASP's token at full
            # speed would be answered 429 past the per-ASP limits.
            "RESOURCE_RATE_LIMIT": "",
            "RESOURCE_BULK_RATE_LIMIT": "",
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = usage_summary_target("profile", base, demo)
    finally:
        server.shutdown()
        server.server_close()
    return app, urlsplit(target.url).path, target.headers


def count_statements(app: Any, path: str, headers: dict[str, str]) -> list[str]:
    from espi_sst_server.storage import db
    from sqlalchemy import event

    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split())[:110])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        client = app.test_client()
        assert client.get(path, headers=headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return statements


def per_request(app: Any, path: str, headers: dict[str, str], requests: int) -> tuple[float, float]:
    """Best-of-5 process CPU time and wall time (ms) per test-client GET.  CPU is steadier
    than wall time on a shared machine (other processes' load does not count); wall time
    also counts the database's round trips and, for PostgreSQL, its server's work."""
    client = app.test_client()
    for _ in range(200):  # warm caches: SQLAlchemy's compiled statements, lxml, Jinja
        assert client.get(path, headers=headers).status_code == 200
    best_cpu = best_wall = float("inf")
    batch = max(1, requests // 5)
    for _ in range(5):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(batch):
            client.get(path, headers=headers)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / batch * 1000)
        best_wall = min(best_wall, (time.perf_counter() - wall) / batch * 1000)
    return best_cpu, best_wall


def compare_with_bare_flask(app: Any, path: str, headers: dict[str, str], requests: int) -> None:
    """The in-process analogue of run.py's share: the bare endpoint's time per request over
    this request's, both through the test client in this process."""
    from hello_app import app as hello

    espi_cpu, espi_wall = per_request(app, path, headers, requests)
    bare_cpu, bare_wall = per_request(hello, "/hello", {}, requests)
    print(
        f"Per request, best of 5 x {max(1, requests // 5)} (test client): UsageSummary GET"
        f" CPU {espi_cpu:.3f} ms / wall {espi_wall:.3f} ms, bare Flask CPU {bare_cpu:.3f} ms"
        f" / wall {bare_wall:.3f} ms: share {100 * bare_cpu / espi_cpu:.1f} % (CPU),"
        f" {100 * bare_wall / espi_wall:.1f} % (wall)"
    )


def profile(
    app: Any, path: str, headers: dict[str, str], requests: int, top: int, dump: str | None = None
) -> None:
    client = app.test_client()
    for _ in range(200):  # warm caches: SQLAlchemy's compiled statements, lxml, Jinja
        assert client.get(path, headers=headers).status_code == 200
    started = time.perf_counter()
    for _ in range(requests):
        client.get(path, headers=headers)
    plain = (time.perf_counter() - started) / requests * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(path, headers=headers)
    profiler.disable()
    if dump:
        profiler.dump_stats(dump)
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    # The test client's get(): the whole request as the app sees it, plus building the
    # WSGI environ (gunicorn does that part in production).
    total = max(
        (v[3] for (f, _l, n), v in table.items() if f.endswith("werkzeug/test.py") and n == "get"),
        default=1e-9,
    )
    print(f"{plain:.3f} ms per request without the profiler ({requests} requests, test client)")
    print(
        f"\nInclusive time per part, share of the test client's GET ({total / requests * 1000:.3f} ms"
        " per request under cProfile):"
    )
    for label, suffix, name in PARTS:
        cumulative = sum(
            v[3] for (f, _l, n), v in table.items() if f.endswith(suffix) and n == name
        )
        print(f"  {100 * cumulative / total:5.1f} %  {label}")
    print()
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgresql", action="store_true", help="a throw-away PostgreSQL cluster")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument(
        "--no-profile", action="store_true", help="only the CPU per request and the share"
    )
    parser.add_argument("--dump", default=None, metavar="FILE", help="also save the pstats here")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="espi-profile.")))
        if args.postgresql:
            cluster = stack.enter_context(servers.postgresql())
            if cluster is None:
                parser.error("PostgreSQL is not available")
            url = cluster.url
        else:
            url = f"sqlite:///{work / 'espi.db'}"
        base = f"http://127.0.0.1:{servers.free_port()}"
        demo = servers.prepare_database(url, base)
        app, path, headers = serve_and_authorize(url, demo, base)
        statements = count_statements(app, path, headers)
        print(f"{len(statements)} SQL statements per request:")
        for statement in statements:
            print(f"  {statement}")
        print()
        compare_with_bare_flask(app, path, headers, args.requests)
        if not args.no_profile:
            print()
            profile(app, path, headers, args.requests, args.top, args.dump)
        with app.app_context():
            from espi_sst_server.storage import db

            engine = db.engine
        if engine is not None:
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
