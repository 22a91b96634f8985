"""The gateway benchmark's results: what was measured, and its Markdown section.

``run.py`` measures into :class:`Series` (one path, direct or through the gateway, under one
load); this module turns them into ``bench/results/gateway.md`` (results, overhead, targets,
the hand-written ``bench/ANALYSIS_GATEWAY.md``, method, machine) and puts that section at the
end of docs/performance.md, after the server benchmark's, as ``bench/server`` embeds its own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load import LoadResult

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
DOCS = ROOT / "docs" / "performance.md"
RESULTS_MD = BENCH / "results" / "gateway.md"
ANALYSIS = BENCH / "ANALYSIS_GATEWAY.md"
MARKER = "<!-- gateway benchmark: bench/results/gateway.md -->"

DIRECT = "direct"
GATEWAY = "gateway"
GTHREAD_DIRECT = "gthread-direct"
GTHREAD_GATEWAY = "gthread-gateway"
GTHREAD_KEEPALIVE = "gthread-keepalive"
LABELS = {
    DIRECT: "direct to gunicorn",
    GATEWAY: "through the gateway",
    GTHREAD_DIRECT: "direct to gunicorn (gthread)",
    GTHREAD_GATEWAY: "through the gateway, as generated",
    GTHREAD_KEEPALIVE: "through the gateway, with an upstream keepalive pool",
}
MAX_P50_OVERHEAD_MS = 1.0
MAX_LOSS = 0.10


@dataclass(frozen=True)
class Load:
    """A wrk load: ``-t threads -c connections``."""

    name: str  # "throughput" | "latency"
    connections: int
    threads: int


@dataclass
class Series:
    """One path (direct or gateway) under one load, measured in several rounds."""

    key: str
    load: Load
    url: str
    headers: dict[str, str]
    rounds: list[LoadResult] = field(default_factory=list)
    response_bytes: int = 0

    def median(self, value: Callable[[LoadResult], float]) -> float:
        values = [value(r) for r in self.rounds]
        return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class Pair:
    """The direct and gateway series of one load: rounds paired by their number."""

    direct: Series
    gateway: Series

    @property
    def load(self) -> Load:
        return self.direct.load

    def paired(self, value: Callable[[LoadResult, LoadResult], float]) -> list[float]:
        return [value(d, g) for d, g in zip(self.direct.rounds, self.gateway.rounds, strict=False)]

    def p50_overhead(self) -> list[float]:
        return self.paired(lambda d, g: g.p50_ms - d.p50_ms)

    def p99_overhead(self) -> list[float]:
        return self.paired(lambda d, g: g.p99_ms - d.p99_ms)

    def loss(self) -> list[float]:
        return self.paired(lambda d, g: 1 - g.rate / d.rate if d.rate else float("nan"))

    def server_cpu_added(self) -> list[float]:
        """Server-side CPU per request (gunicorn + nginx, µs), gateway minus direct."""
        return self.paired(lambda d, g: server_cpu_us(g) - server_cpu_us(d))


def pairs(series: list[Series], base: str = DIRECT, other: str = GATEWAY) -> list[Pair]:
    """``base`` against ``other`` under each load both were measured with."""
    found = []
    for s in series:
        if s.key == base:
            match = [g for g in series if g.key == other and g.load == s.load]
            if match:
                found.append(Pair(s, match[0]))
    return found


# ---- rendering --------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ms(value: float, digits: int = 2) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def _signed(value: float, digits: int = 2) -> str:
    return "–" if math.isnan(value) else f"{value:+.{digits}f}"


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(min(values))} … {fmt(max(values))}" if values else "–"


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.1%}"


def _load_label(each: Load, seconds: float) -> str:
    noun = "connection" if each.connections == 1 else "connections"
    wrk = f"`wrk -t{each.threads} -c{each.connections} -d{seconds:g}s`"
    return f"{each.connections} {noun} ({wrk})"


def _per_request_us(result: LoadResult, party: str) -> float:
    return (
        result.cores.get(party, float("nan")) * 1e6 / result.rate if result.rate else float("nan")
    )


def _cores_of(party: str) -> Callable[[LoadResult], float]:
    return lambda result: result.cores.get(party, float("nan"))


def _per_request_of(party: str) -> Callable[[LoadResult], float]:
    return lambda result: _per_request_us(result, party)


def server_cpu_us(result: LoadResult) -> float:
    """CPU per request of the system under test: gunicorn's and nginx's (not wrk's)."""
    return _per_request_us(result, "gunicorn") + _per_request_us(result, "nginx")


def results_table(rows: list[Series], seconds: float) -> str:
    lines = [
        "| Load | Path | Requests/s | p50 (ms) | p90 (ms) | p99 (ms) | CPU (cores): gunicorn "
        "/ nginx / wrk | CPU per request (µs): gunicorn / nginx | Errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in rows:
        cores = " / ".join(_ms(s.median(_cores_of(p))) for p in ("gunicorn", "nginx", "wrk"))
        per_request = " / ".join(
            f"{s.median(_per_request_of(p)):,.0f}" for p in ("gunicorn", "nginx")
        )
        lines.append(
            f"| {_load_label(s.load, seconds)} | {LABELS[s.key]} | "
            f"{s.median(lambda r: r.rate):,.0f} | {_ms(s.median(lambda r: r.p50_ms))} | "
            f"{_ms(s.median(lambda r: r.p90_ms))} | {_ms(s.median(lambda r: r.p99_ms))} | "
            f"{cores} | {per_request} | {sum(r.errors for r in s.rounds)} |"
        )
    return "\n".join(lines)


def overhead_table(found: list[Pair], with_path: bool = False) -> str:
    path = "Path | " if with_path else ""
    lines = [
        f"| Load | {path}p50 overhead (ms): median, every round's range | p99 overhead (ms): "
        "median, range | Throughput loss: median, range | CPU per request added, gunicorn + "
        "nginx (µs): median, range |",
        "|---|" + ("---|" if with_path else "") + "--:|--:|--:|--:|",
    ]
    for pair in found:
        p50, p99, loss = pair.p50_overhead(), pair.p99_overhead(), pair.loss()
        added = pair.server_cpu_added()
        cell = f"{LABELS[pair.gateway.key]} | " if with_path else ""
        lines.append(
            f"| {pair.load.connections} conn. | {cell}**{_signed(_median(p50))}** "
            f"({_spread(p50, _signed)}) | **{_signed(_median(p99))}** ({_spread(p99, _signed)}) "
            f"| **{_pct(_median(loss))}** ({_spread(loss, _pct)}) | "
            f"{_median(added):+,.0f} ({_spread(added, lambda v: f'{v:+,.0f}')}) |"
        )
    return "\n".join(lines)


def rounds_table(found: list[Pair]) -> str:
    lines = [
        "| Round | Load | First | Direct: req/s, p50 / p99 (ms) | Gateway: req/s, p50 / p99 (ms) "
        "| p50 overhead (ms) | Throughput loss |",
        "|--:|---|---|--:|--:|--:|--:|",
    ]
    rounds = max((len(p.direct.rounds) for p in found), default=0)
    for number in range(rounds):
        for pair in found:
            if number >= min(len(pair.direct.rounds), len(pair.gateway.rounds)):
                continue
            d, g = pair.direct.rounds[number], pair.gateway.rounds[number]
            first = DIRECT if number % 2 == 0 else GATEWAY
            lines.append(
                f"| {number + 1} | {pair.load.connections} conn. | {first} | {d.rate:,.0f}, "
                f"{_ms(d.p50_ms)} / {_ms(d.p99_ms)} | {g.rate:,.0f}, {_ms(g.p50_ms)} / "
                f"{_ms(g.p99_ms)} | {_signed(g.p50_ms - d.p50_ms)} | "
                f"{_pct(1 - g.rate / d.rate) if d.rate else '–'} |"
            )
    return "\n".join(lines)


def targets_table(found: list[Pair]) -> str:
    lines = ["| Target | Goal |" + "".join(f" {p.load.connections} conn. |" for p in found)]
    lines.append("|---|---|" + "--:|" * len(found))
    cells = []
    for pair in found:
        value = _median(pair.p50_overhead())
        verdict = "PASS" if value < MAX_P50_OVERHEAD_MS else "MISS"
        cells.append(f"{_signed(value)} ms **{verdict}**")
    lines.append(
        f"| p50 latency added by the gateway | < {MAX_P50_OVERHEAD_MS:g} ms | "
        + " | ".join(cells)
        + " |"
    )
    cells = []
    for pair in found:
        value = _median(pair.loss())
        if pair.load.connections == 1:
            # One connection's throughput is 1 / latency: the p50 row above says it.
            cells.append(f"{_pct(value)} (latency-bound, no verdict)")
        else:
            verdict = "PASS" if value < MAX_LOSS else "MISS"
            cells.append(f"{_pct(value)} **{verdict}**")
    lines.append(
        f"| Throughput lost to the gateway | < {MAX_LOSS:.0%} | " + " | ".join(cells) + " |"
    )
    return "\n".join(lines)


def _wrap(text: str, bullet: bool = False) -> str:
    words = " ".join(text.split())
    if bullet:
        return textwrap.fill(words, 90, initial_indent="- ", subsequent_indent="  ")
    return textwrap.fill(words, 90)


def keepalive_section(run: dict[str, Any], series: list[Series]) -> str:
    """The second server (gthread workers) direct, through the generated gateway, and through
    the gateway with the proposed upstream pool; empty when not measured."""
    rows = [s for s in series if s.key.startswith("gthread-")]
    if not rows:
        return ""
    settings = run["settings"]
    found = pairs(series, GTHREAD_DIRECT, GTHREAD_GATEWAY)
    found += pairs(series, GTHREAD_DIRECT, GTHREAD_KEEPALIVE)
    found.sort(key=lambda p: -p.load.connections)
    rows.sort(key=lambda s: -s.load.connections)
    intro = _wrap(
        "The same request to a second server on the same database, run as docs/deployment.md "
        f"runs it in production: `{settings['gthread_args']}`. gthread workers keep a client's "
        "connection open between requests (gunicorn's `--keep-alive`, 2 s), so wrk's direct "
        "connections are reused, and the comparison shows what the gateway gives away when it "
        "opens a new connection to the server for every request, as the generated configuration "
        "does, and what an `upstream` block with a keep-alive pool (the change proposed below; "
        "the benchmark's edit of the generated file is `bench/gateway/proxy.py` "
        "`with_upstream_keepalive`) wins back. "
        f"{settings['gthread_rounds']} rounds, the three paths in order and then reversed, "
        f"{settings['seconds']:g} s each."
    )
    return f"""### Keep-alive toward the server

{intro}

{results_table(rows, settings["seconds"])}

What each gateway adds over the direct path (per round, as above):

{overhead_table(found, with_path=True)}

"""


def render(run: dict[str, Any], series: list[Series]) -> str:
    settings = run["settings"]
    seconds = settings["seconds"]
    found = pairs(series)
    main_rows = sorted(
        (s for s in series if s.key in (DIRECT, GATEWAY)), key=lambda s: -s.load.connections
    )
    analysis = ANALYSIS.read_text().strip() + "\n\n" if ANALYSIS.exists() else ""
    machine_lines = "\n".join(f"- **{k}**: {v}" for k, v in run["machine"].items())
    sizes = {s.key: s.response_bytes for s in series}
    throughput = next((p.load for p in found if p.load.connections > 1), None)
    clients = throughput.connections if throughput else 0
    problems = run.get("problems") or []
    problem_note = (
        "Logged during the run (the run counts as failed): "
        + "; ".join(f"`{p[:160]}`" for p in problems)
        if problems
        else "Both logs stayed empty in this run."
    )
    intro = _wrap(
        f"One espi-sst server measured directly and through the statewide gateway in the same "
        f"run: {settings['rounds']} rounds, each measuring both paths back to back (the order "
        f"alternating), {seconds:g} s per measurement after a {settings['warmup']:g} s warm-up "
        "of each path; load from `wrk`. Every figure is the median over the rounds."
    )
    method = [
        "The server is `gunicorn -w 2 -b 127.0.0.1:PORT espi_sst_server.wsgi:app` with "
        "gunicorn's defaults otherwise, as in the server benchmark above (sync workers: one "
        "request at a time per worker, and every response closes its connection), serving the "
        "demo utility (`espi_sst_server.demo.seed`) from a fresh SQLite file. It is configured "
        "as behind the SST: `ESPI_ISSUER` is the gateway's `/SST/v1/PGE` URL and "
        "`ESPI_TRUSTED_PROXY_HOPS=1`. Direct requests carry no `X-Forwarded-*` headers, so "
        "ProxyFix leaves them as they are; through the gateway the entry's links point under "
        f"`/SST/v1/PGE`, hence the response sizes: direct {sizes.get(DIRECT, 0):,} bytes, "
        f"through the gateway {sizes.get(GATEWAY, 0):,} bytes.",
        "The gateway is Debian's nginx running the `nginx.conf` that "
        "`espi_sst_server.gateway.write_nginx_gateway` writes (what `espi-sst gateway` writes), "
        "with one entity, as a foreground master on 127.0.0.1: plain HTTP (TLS would cost the "
        "same in front of any server and is not the gateway's routing), `worker_processes "
        "auto`, the access log on, and both rate limits (per client and per address) at "
        "nginx's maximum, 999999r/s with a burst of 100000: every request is checked against "
        "both `limit_req` zones, none is refused.",
        "The request is the server benchmark's: a bearer token issued by one full "
        "authorization-code flow, and the newest monthly UsageSummary of a bundled customer's "
        "usage point, `GET …/espi/1_1/resource/Subscription/{id}/UsagePoint/{id}/UsageSummary/"
        "{id}` at gunicorn and `GET /SST/v1/PGE/espi/1_1/resource/…` at nginx. Through both "
        "paths the response was checked once: 200, Atom, valid against the official ESPI "
        "schemas.",
        f"wrk runs each load as a closed loop (each connection sends its next request when "
        f"its last response is complete): {clients} connections on {throughput.threads if throughput else 0} "
        "threads for throughput, one connection for latency. Latency runs from sending a "
        "request to its last byte. wrk keeps its connections to nginx open (HTTP/1.1 "
        "keep-alive, `keepalive_timeout 30s`); gunicorn closes every connection, so the direct "
        "path opens a TCP connection per request, and so does nginx toward gunicorn.",
        "Rounds are interleaved: in each round both loads run, each as its two paths back to "
        "back, direct first in odd rounds and the gateway first in even ones, so drift in the "
        "machine's load hits both paths alike. Overheads and losses are computed per round "
        "(the gateway against the direct measurement next to it) and their median is shown "
        "with the range over the rounds. A response >= 400 (a 429 from the gateway's limits "
        f"included) or a socket error counts as an error; gunicorn's and nginx's error logs "
        f"are checked for warnings. {problem_note}",
        "The keep-alive comparison runs a second gunicorn (`-w 2` with gthread workers, as "
        "docs/deployment.md) on the same SQLite file, and a second nginx with two entities "
        "pointing at it: one location exactly as generated, the other edited by the benchmark "
        "to `proxy_pass` through `upstream { server …; keepalive 32; keepalive_timeout 1s; }` "
        "(the timeout below gunicorn's 2 s `--keep-alive`, so nginx never reuses a connection "
        "gunicorn is closing). Both nginx instances run beside each other, idle when not "
        "measured.",
        "CPU columns: CPU time of the gunicorn master and its workers, of the nginx master "
        "and its workers (both from `/proc`), and of wrk, over each measurement, in cores and "
        "per request. The machine's cores are shared by all three (and by anything else "
        "running: see the idle CPU and load average below); on a shared virtual machine "
        "absolute figures vary by tens of percent between runs, which is why both paths are "
        "measured in the same run and compared round by round.",
    ]
    method_lines = "\n".join(_wrap(item, bullet=True) for item in method)
    return f"""## Gateway: latency and throughput through nginx

Generated by `bench/gateway/run.py --write-docs` on {run["date"]:%Y-%m-%d %H:%M} UTC, in a
run of its own (the sections above have their own dates); do not edit by hand.

### Results

{intro}

{results_table(main_rows, seconds)}

What the gateway adds (gateway minus direct, per round; negative is faster through the
gateway):

{overhead_table(found)}

Every round:

{rounds_table(found)}

### Targets

{targets_table(found)}

{keepalive_section(run, series)}{analysis}### What is measured, and how

{method_lines}

### Machine

{machine_lines}

### Reproduce

```sh
apt-get install wrk nginx      # Debian's load generator and the gateway
.venv/bin/python bench/gateway/run.py --write-docs
```

`bench/gateway/run.py --help` lists the options (rounds, seconds, connections, threads).
"""


def rewrite_performance_page() -> str:
    """docs/performance.md with the gateway section at its end, replacing an older one.

    The reading benchmark renders the page with the server section and knows nothing of this
    one; everything before the marker is kept as it is.
    """
    page = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    before = page.split(f"\n{MARKER}", 1)[0].rstrip("\n")
    return f"{before}\n\n{MARKER}\n\n{RESULTS_MD.read_text().strip()}\n"


def load_run(path: Path) -> tuple[dict[str, Any], list[Series]]:
    """A run written with ``--json``, as :func:`render` takes it."""
    data = json.loads(path.read_text())
    run = {k: v for k, v in data.items() if k != "series"}
    run["date"] = dt.datetime.fromisoformat(data["date"])
    series = [
        Series(
            s["key"],
            Load(**s["load"]),
            s["url"],
            {},
            [LoadResult(**r) for r in s["rounds"]],
            s["response_bytes"],
        )
        for s in data["series"]
    ]
    return run, series
