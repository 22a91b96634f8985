"""The server benchmark's results: what was measured, and its Markdown section.

``run.py`` measures into :class:`Series` (one URL) and :class:`FlowSeries` (the OAuth
flow on one server); this module turns them into ``bench/results/server.md`` (tables,
targets, the hand-written ``bench/ANALYSIS_SERVER.md``, method, machine) and puts that
section into docs/performance.md through the reading benchmark's ``render_docs``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import os
import statistics
import sys
import textwrap
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import flow
import load

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
DOCS = ROOT / "docs" / "performance.md"
RESULTS_JSON = BENCH / "results" / "server.json"
RESULTS_MD = BENCH / "results" / "server.md"
ANALYSIS = BENCH / "ANALYSIS_SERVER.md"
MARKER = "<!-- server benchmark: bench/results/server.md -->"

HELLO = "hello"
BACKEND_LABELS = {
    HELLO: "bare Flask",
    "sqlite": "espi-sst, SQLite",
    "postgresql": "espi-sst, PostgreSQL",
}
MIN_SHARE = 0.5  # UsageSummary requests/s over the bare endpoint's
MAX_P99_MS = 50.0
SINGLE_FLOWS = 7  # one at a time on an idle server: what each step costs without queueing


@dataclass
class Series:
    """One URL measured in several rounds."""

    key: str  # "hello", "sqlite", "postgresql"
    url: str
    headers: dict[str, str]
    rounds: list[load.LoadResult] = field(default_factory=list)
    response_bytes: int = 0
    server_pid: int = 0  # the gunicorn master: its tree is the server's CPU
    database_pid: int | None = None  # the PostgreSQL postmaster, if any

    @property
    def best(self) -> load.LoadResult | None:
        ok = [r for r in self.rounds if not r.errors]
        return max(ok, key=lambda r: r.rate) if ok else None


@dataclass
class FlowSeries:
    key: str
    rounds: list[flow.FlowResult] = field(default_factory=list)
    alone: list[list[float]] = field(default_factory=list)
    """Step times of single flows on an idle server (one flow at a time)."""

    def alone_ms(self, index: int | None) -> float:
        """Median of a step (None: of the whole flow) over the single flows."""
        if not self.alone:
            return float("nan")
        values = [sum(t) if index is None else t[index] for t in self.alone]
        return statistics.median(values) * 1000

    @property
    def best(self) -> flow.FlowResult | None:
        ok = [r for r in self.rounds if not r.errors and r.flows]
        return max(ok, key=lambda r: r.rate) if ok else None


def reading_benchmark() -> ModuleType:
    """``bench/run.py`` (the reading benchmark) as a module: its machine info and page."""
    sys.path.insert(1, str(BENCH))  # its own imports: contenders, generate
    spec = importlib.util.spec_from_file_location("bench_reading_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# ---- rendering ----------------------------------------------------------------------------


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}"


def results_table(series: list[Series]) -> str:
    hello = next((s.best for s in series if s.key == HELLO), None)
    lines = [
        "| Server | Endpoint | Requests/s (best round) | Requests/s, every round | p50 (ms) "
        "| p99 (ms) | p99 every round (ms) | Share of bare Flask | CPU, best round (cores): "
        "gunicorn / load generator / PostgreSQL | Errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in series:
        endpoint = "`GET /hello`" if s.key == HELLO else "`GET …/UsageSummary/{id}`, bearer token"
        best = s.best
        every = " / ".join(_n(r.rate) for r in s.rounds)
        p99s = " / ".join(_ms(r.p99_ms) for r in s.rounds)
        errors = sum(r.errors for r in s.rounds)
        if best is None:
            lines.append(
                f"| {BACKEND_LABELS[s.key]} | {endpoint} | – | {every} | – | – | {p99s} | – | – "
                f"| {errors} |"
            )
            continue
        share = f"{best.rate / hello.rate:.0%}" if hello else "–"
        lines.append(
            f"| {BACKEND_LABELS[s.key]} | {endpoint} | {_n(best.rate)} | {every} | "
            f"{_ms(best.p50_ms)} | {_ms(best.p99_ms)} | {p99s} | {share} | {_cores(best)} "
            f"| {errors} |"
        )
    return "\n".join(lines)


def _cores(result: load.LoadResult) -> str:
    cores = result.cores
    if not cores:
        return "–"
    parts = [cores.get(name) for name in ("server", "generator", "database")]
    return " / ".join("–" if part is None else f"{part:.2f}" for part in parts)


def flows_table(flows: list[FlowSeries]) -> str:
    lines = [
        "| Server | Flows/s (best round) | Flows/s, every round | Flow p50 (ms) | Flow p99 (ms) "
        "| Errors |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for f in flows:
        best = f.best
        every = " / ".join(f"{r.rate:.1f}" for r in f.rounds)
        errors = sum(r.errors for r in f.rounds)
        if best is None:
            lines.append(f"| {BACKEND_LABELS[f.key]} | – | {every} | – | – | {errors} |")
            continue
        lines.append(
            f"| {BACKEND_LABELS[f.key]} | {best.rate:.1f} | {every} | "
            f"{_ms(best.flow_ms(0.5))} | {_ms(best.flow_ms(0.99))} | {errors} |"
        )
    return "\n".join(lines)


def steps_table(flows: list[FlowSeries]) -> str:
    """Each step alone (median of single flows on an idle server) and under load."""
    measured = [(f, f.best) for f in flows if f.best is not None]
    header = "| Step |"
    for f, _ in measured:
        name = BACKEND_LABELS[f.key].removeprefix("espi-sst, ")
        header += f" {name}: one flow alone, median (ms) | {name}: {f.best.concurrency if f.best else ''} at a time, p50 / p99 (ms) |"
    lines = [header, "|---|" + "--:|--:|" * len(measured)]
    for index, step in enumerate(flow.STEPS):
        cells = "".join(
            f" {_ms(f.alone_ms(index))} | {_ms(b.step_ms(index, 0.5))} / {_ms(b.step_ms(index, 0.99))} |"
            for f, b in measured
        )
        lines.append(f"| {index + 1}. {step} |{cells}")
    cells = "".join(
        f" **{_ms(f.alone_ms(None))}** | **{_ms(b.flow_ms(0.5))} / {_ms(b.flow_ms(0.99))}** |"
        for f, b in measured
    )
    lines.append(f"| whole flow |{cells}")
    return "\n".join(lines)


def evaluate(series: list[Series], clients: int) -> list[tuple[str, str, list[str]]]:
    """(target, goal, one cell per database with its own verdict) for the two targets.

    Each database gets its own verdict: SQLite and PostgreSQL are separate deployments.
    """
    hello = next((s.best for s in series if s.key == HELLO), None)
    share_cells, p99_cells = [], []
    for s in series:
        if s.key == HELLO:
            continue
        best = s.best
        if best is None or hello is None:
            share_cells.append("not measured")
            p99_cells.append("not measured")
            continue
        share = best.rate / hello.rate
        verdict = "PASS" if share >= MIN_SHARE else "MISS"
        share_cells.append(f"{share:.0%} ({_n(best.rate)} / {_n(hello.rate)}) **{verdict}**")
        verdict = "PASS" if best.p99_ms < MAX_P99_MS else "MISS"
        p99_cells.append(f"{_ms(best.p99_ms)} ms **{verdict}**")
    return [
        (
            "UsageSummary GET requests/s, share of the bare Flask endpoint's",
            f"≥ {MIN_SHARE:.0%}",
            share_cells,
        ),
        (
            f"UsageSummary GET p99 latency at {clients} concurrent clients",
            f"< {MAX_P99_MS:g} ms",
            p99_cells,
        ),
    ]


def targets_table(series: list[Series], clients: int) -> str:
    espi = [s for s in series if s.key != HELLO]
    lines = [
        "| Target | Goal |"
        + "".join(f" {BACKEND_LABELS[s.key].removeprefix('espi-sst, ')} |" for s in espi),
        "|---|---|" + "--:|" * len(espi),
    ]
    for label, goal, cells in evaluate(series, clients):
        lines.append(f"| {label} | {goal} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _wrap(text: str, bullet: bool = False) -> str:
    """One paragraph (or list item) of prose, reflowed to the page's width."""
    words = " ".join(text.split())
    if bullet:
        return textwrap.fill(words, 90, initial_indent="- ", subsequent_indent="  ")
    return textwrap.fill(words, 90)


def flow_cpu_note(flows: list[FlowSeries], argon: dict[str, float]) -> str:
    """How much of the machine the password checks took in the best flow rounds."""
    parts = []
    for f in flows:
        best = f.best
        if best is not None:
            share = best.rate * argon["cpu_ms"] / 1000 / (os.cpu_count() or 1)
            parts.append(f"{BACKEND_LABELS[f.key]} {share:.0%}")
    if not parts:
        return ""
    return (
        f"At the best rounds' flow rates the argon2 checks alone used this share of the "
        f"machine's {os.cpu_count()} cores: {', '.join(parts)}."
    )


def render(run: dict[str, Any], series: list[Series], flows: list[FlowSeries]) -> str:
    settings = run["settings"]
    analysis = ANALYSIS.read_text().strip() + "\n\n" if ANALYSIS.exists() else ""
    machine_lines = "\n".join(f"- **{k}**: {v}" for k, v in run["machine"].items())
    argon = run["argon2"]
    generator = settings["generator"]
    check = run.get("generator_check")
    generator_check = ""
    if check:
        generator_check = (
            f"On the bare endpoint the Python fallback generator (`bench/server/load.py`) "
            f"reached {_n(check['python'])} requests/s against wrk's {_n(check['wrk'])} "
            f"({check['python'] / check['wrk']:.0%}): in Python the generator itself would be "
            "the bottleneck there, which is why wrk measures."
        )
    elif generator == "python":
        generator_check = (
            "The Python generator measured (wrk was not installed or not chosen); on the bare "
            "endpoint it is likely the bottleneck (it reached about half of wrk's rate when "
            "both were compared), so the share of bare Flask is overstated."
        )
    sizes = "; ".join(f"{BACKEND_LABELS[s.key]} {s.response_bytes:,} bytes" for s in series)
    postgres = run.get("postgresql") or "not available in this run"
    intro = _wrap(
        f"{settings['clients']} concurrent clients, {settings['seconds']:g} s per measurement "
        f"after a {settings['warmup']:g} s warm-up, {settings['rounds']} rounds interleaved "
        f"(every server once, then again); load from `{generator}`. The best round is the "
        "one with the most requests/s; its p50 and p99 are shown, and every round's "
        "requests/s and p99 give the spread."
    )
    flow_intro = _wrap(
        f"The authorization-code flow with PKCE, {settings['flow_clients']} flows at a time "
        f"({settings['flow_seconds']:g} s per round after {settings['flow_warmup']:g} s of "
        f"warm-up, {settings['rounds']} rounds); each flow is six requests:"
    )
    method = [
        "Every server is `gunicorn -w 2 -b 127.0.0.1:PORT` with gunicorn's defaults otherwise "
        "(sync workers: one request at a time per worker, and every response closes its "
        "connection), on the same machine as the load generator. The bare Flask app "
        "(`bench/server/hello_app.py`, one route returning `hello`) runs with exactly the "
        "same settings: it is the ceiling of Flask under gunicorn here, and the difference is "
        "what the espi-sst server does per request.",
        "The espi-sst server is the production entry point `espi_sst_server.wsgi:app`, "
        "configured by `ESPI_DATABASE_URL`, `ESPI_ISSUER` and `ESPI_SECRET_KEY`. Its database "
        "is the demo utility (`espi_sst_server.demo.seed`: 4 customers, 13+ months of "
        "15-minute data, monthly UsageSummaries, 3 ASPs) in a fresh SQLite file and, when "
        f"`scripts/pg-test-cluster` can start one, in a throw-away PostgreSQL cluster "
        f"({postgres}; `fsync=off` as in the tests, on the same 2 cores).",
        "The UsageSummary request carries a real bearer token, issued by one full flow "
        "before the measurement, and asks for the newest monthly summary of a bundled "
        "customer's usage point; the response was checked once to be 200 and valid against "
        f"the official ESPI schemas. Response sizes: {sizes}.",
        f"Requests/s and latency come from `{generator}`: {settings['clients']} connections "
        "in a closed loop (each sends its next request when its last response is complete). "
        "Latency runs from sending a request to its last byte, so it includes the time a new "
        "connection waits in the listen backlog for a free worker; by Little's law latency "
        "is about clients / throughput, so p99 < 50 ms at 32 clients needs well over 640 "
        "requests/s. A response >= 400 or a socket error counts as an error, and a round "
        f"with errors is never the best. {generator_check}",
        "The flow runs as a browser and an ASP would, without a browser "
        "(`bench/server/flow.py`): the authorize request is redirected to the sign-in page, "
        "whose form and CSRF token are posted back with the session cookie; the consent "
        "page's CSRF token and pre-checked boxes are posted to approve; the ASP exchanges the "
        "code with its PKCE verifier and client secret (HTTP Basic) and gets an RS256 "
        f"id_token. {settings['flow_clients']} threads run flows back to back, the four demo "
        "customers in turn; flows/s counts the flows that end inside the window.",
        f"The sign-in checks the password with argon2id ({argon['time_cost']} passes, "
        f"{argon['memory_kib'] // 1024} MiB, {argon['parallelism']} lanes): alone on this "
        f"machine one check takes {_ms(argon['wall_ms'])} ms ({_ms(argon['cpu_ms'])} ms of "
        "CPU, the lanes run in threads). That cost is intentional -- it is what makes a "
        "stolen password table slow to crack -- and it bounds the flow rate: this machine "
        f"can check at most about {1000 * (os.cpu_count() or 1) / argon['cpu_ms']:.0f} "
        f"passwords per second. {flow_cpu_note(flows, argon)}",
        "The machine's 2 cores are shared by the two workers, the load generator and (for "
        "PostgreSQL) the database, so every figure here is lower than on a server whose "
        "workers have cores to themselves. On a shared virtual machine throughput varies by "
        "tens of percent between runs; the rounds show the spread, and the idle CPU and "
        "load average before the run show how busy the machine was. "
        "`bench/server/profile_request.py` profiles one UsageSummary GET in-process "
        "(cProfile) to say where its time goes.",
    ]
    method_lines = "\n".join(_wrap(item, bullet=True) for item in method)
    return f"""## Server: requests/s and latency under gunicorn

Generated by `bench/server/run.py --write-docs` on {run["date"]:%Y-%m-%d %H:%M} UTC, in a
run of its own (the reading benchmark above has its own date); do not edit by hand.

### Results

{intro}

{results_table(series)}

{flow_intro}

{flows_table(flows)}

Each step of the flow: alone (one flow at a time on the idle server, median of
{SINGLE_FLOWS}) and in the best round under load:

{steps_table(flows)}

### Targets

{targets_table(series, settings["clients"])}

{analysis}### What is measured, and how

{method_lines}

### Machine

{machine_lines}

### Reproduce

```sh
apt-get install wrk      # the load generator (without it, a slower Python one is used)
.venv/bin/python bench/server/run.py --write-docs
.venv/bin/python bench/server/run.py --write-docs --with-scale   # + the scale figure (minutes)
.venv/bin/python bench/server/profile_request.py     # where a UsageSummary GET's time goes
```

`bench/server/run.py --help` lists the options (rounds, seconds, clients, generator, the
scale figure's size, SQLite only).
"""


def rewrite_performance_page(reading: ModuleType) -> str:
    """docs/performance.md with the new server section.

    With ``bench/results/latest.json`` the whole page is rendered again by the reading
    benchmark's ``render_docs`` from its last results (which embeds server.md); without
    it the server section of the existing page is replaced (or appended).
    """
    latest = reading.RESULTS
    if latest.exists():
        data = json.loads(latest.read_text())
        names = {f.name for f in fields(reading.Measurement)}
        results = [
            reading.Measurement(**{k: v for k, v in r.items() if k in names})
            for r in data["results"]
        ]
        sizes = list(dict.fromkeys(r.size for r in results))
        manifests = {
            size: (
                reading.generate.paths(size)[0],
                reading.generate.Manifest(**data["files"][size]),
            )
            for size in sizes
        }
        # The reading benchmark's defaults (bench/run.py --repeat/--budget/--timeout): its
        # JSON does not record them, and its page was written with them.
        startup = data.get("startup")  # bench/startup.py's CLI start-up, when it ran
        started_cli = (
            None
            if not startup
            else reading.startup.Startup(
                inspect=startup["inspect"], bare_import=startup["bare_import"], file=startup["file"]
            )
        )
        return str(
            reading.render_docs(
                results, manifests, data["machine"], sizes, 3, 90.0, 300.0,
                dt.datetime.fromisoformat(data["date"]), started_cli,
            )
        )  # fmt: skip
    page = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    before = page.split(f"\n{MARKER}", 1)[0].rstrip("\n")
    text = f"{before}\n\n{MARKER}\n\n{RESULTS_MD.read_text().strip()}\n"
    gateway = RESULTS_MD.with_name("gateway.md")  # bench/gateway's section stays last
    if gateway.exists():
        text += f"\n<!-- gateway benchmark: bench/results/gateway.md -->\n\n{gateway.read_text().strip()}\n"
    return text


def load_results(path: Path) -> tuple[dict[str, Any], list[Series], list[FlowSeries]]:
    """A run written with ``--json`` / ``--write-docs``, as ``render`` takes it."""
    data = json.loads(path.read_text())
    run = {k: v for k, v in data.items() if k not in ("get", "flows", "problems")}
    run["date"] = dt.datetime.fromisoformat(data["date"])
    series = [
        Series(
            g["key"],
            g["url"],
            {},
            [load.LoadResult(**r) for r in g["rounds"]],
            g["response_bytes"],
        )
        for g in data["get"]
    ]
    flows = [
        FlowSeries(f["key"], [flow.FlowResult(**r) for r in f["rounds"]], f.get("alone", []))
        for f in data["flows"]
    ]
    return run, series, flows


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
