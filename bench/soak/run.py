"""The reliability soak (issue 15): sustained load with failures injected, and nothing lost.

``python bench/soak/run.py [--short] [--json] [--write-docs]`` starts, on free loopback
ports, PostgreSQL, Redis, one gunicorn node (4 web workers) behind nginx, the background
worker (``espi-sst worker``), the mail sink and the ASPs' notify endpoints, then for 10
minutes (``--short``: 2) runs 32 (``--short``: 8) simulated ASP customers (asps.py) while
faults.py injects, each at a known moment:

1. SIGKILL of a web worker;
2. SIGKILL of the background worker inside a rate-change submission to billing;
3. SIGKILL of the background worker while an ASP holds its notification POST;
4. PostgreSQL stopped, 10 s, started again;
5. the SMTP sink down for a minute (``--short``: 20 s);
6. one ASP's notify endpoint never answering for a minute (``--short``: 15 s);
7. in bolt-on mode, the upstream Green Button Connect custodian slow (every request past the
   bolt-on's read timeout) for 30 s, then down (its port closed) for 30 s (``--short``: 10
   s and 10 s) -- on a lane of its own (bolt_on.py: the custodian, one of our servers in
   bolt-on mode before it, 4 ASP customers, ``--short`` 2), at the same time as the
   schedule above rather than after it.

Then, once the outbox has drained (bounded), accounting.py checks the database against
the mail sink and the notify endpoints.  The last line on stdout is one JSON object:
``faults`` (each with its window, 5xx and latency inside it, time to recover), ``lost``,
``duplicated``, ``errors_outside_faults``, ``requests`` ... (``--json``: progress goes to
stderr).  Exit status 0 when the goals hold (nothing lost, duplicated or in an impossible
state, no error outside a fault window, every fault injected and recovered), else 1.

``--write-docs`` writes the figures into docs/reliability.md (after its marker) and the
JSON into bench/results/soak.json.  Every loop here is bounded in count and time; every
process started is stopped by its id on exit, on failure and on Ctrl-C.

While developing on a shared machine: ``--clients 4 --seconds 60 --scale 0.5``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(HERE.parent / "scaleout"), str(HERE.parent / "server")]

import accounting  # noqa: E402
import asps  # noqa: E402
import bolt_on  # noqa: E402
import faults  # noqa: E402
import flow  # noqa: E402  (bench/server/flow.py)
import receivers  # noqa: E402
import soak_docs  # noqa: E402
import sqlite_disk  # noqa: E402
import topology  # noqa: E402  (bench/scaleout/topology.py)
import windows  # noqa: E402

LEASE_SECONDS = 5
"""``ESPI_WORKER_LEASE_SECONDS`` (production 300): a killed worker's rate change is retried
after it, so the soak's takeover fits in its window."""
OUTBOX_CLAIM_SECONDS = 45
"""``ESPI_OUTBOX_CLAIM_SECONDS`` (production 120): longer than one send (notify connect 3 s
+ read 5 s; SMTP 10 s) and than the full disk (30 s; the worker records a send again for
as long as the claim lasts, less 5 s: queue.py ``_record``), shorter than the soak.  At 15 s
one short run counted a repeat, most likely a send made as SQLite's disk filled and recorded
too late (the count was not named then)."""
BILLING_DELAY = 1.0
MAX_OVERTIME_S = 300.0
"""How long the load may run past its plan while the last fault recovers."""
FLAKY_PATH, HANGING_PATH = "/insights/notify", "/mobile/notify"
ASPS = {  # client id -> its notify endpoint's path
    "demo-energy-insights": FLAKY_PATH,
    "demo-rate-coach-mobile": HANGING_PATH,
}
OTHER_PATH = "/other/notify"
"""Every other seeded ASP's notify URI: the seed's point at the demo ASP's fixed port."""


@dataclass(frozen=True)
class Plan:
    name: str
    customers: int
    load_s: float
    web_workers: int
    web_kill_s: float
    rate_change_kill_s: float
    delivery_kill_s: float
    postgresql_s: float
    postgresql_down_s: float
    smtp_s: float
    smtp_down_s: float
    hang_s: float
    hang_for_s: float
    drain_s: float
    habits: asps.Habits
    sqlite_load_s: float = 0.0
    sqlite_full_s: float = 0.0
    backoff_first_s: int = 10  # OUTBOX_BACKOFF_FIRST_SECONDS (production's)
    backoff_max_s: int = 3600  # OUTBOX_BACKOFF_MAX_SECONDS (production's)
    bolt_on_customers: int = 4
    bolt_on_s: float = 150.0  # the upstream's fault: slow, then down (its own lane)
    upstream_slow_s: float = 30.0
    upstream_down_s: float = 30.0


FULL = Plan("full", customers=32, load_s=600, web_workers=4, web_kill_s=30,
            rate_change_kill_s=60, delivery_kill_s=120, postgresql_s=200, postgresql_down_s=10,
            smtp_s=290, smtp_down_s=60, hang_s=430, hang_for_s=60, drain_s=300,
            habits=asps.Habits(refresh_every=5, rate_change_every=8, reconsent_every=20,
                               pause_s=1.0), sqlite_load_s=120, sqlite_full_s=30)  # fmt: skip
SHORT = Plan("short", customers=8, load_s=120, web_workers=4, web_kill_s=8,
             rate_change_kill_s=14, delivery_kill_s=24, postgresql_s=40, postgresql_down_s=10,
             smtp_s=60, smtp_down_s=20, hang_s=88, hang_for_s=15, drain_s=240,
             habits=asps.Habits(refresh_every=3, rate_change_every=4, reconsent_every=9,
                                pause_s=0.5), sqlite_load_s=45, sqlite_full_s=10,
             backoff_first_s=2, backoff_max_s=30, bolt_on_customers=2, bolt_on_s=30,
             upstream_slow_s=10, upstream_down_s=10)  # fmt: skip
"""The CI run: the same faults on a shorter clock.  Retries back off from 2 s up to 30 s
instead of 10 s up to an hour, so what a fault deferred is delivered within the run rather
than minutes after it (the accounting waits for the outbox to drain)."""


def scaled(plan: Plan, *, clients: int | None, seconds: float | None, scale: float | None,
           web_workers: int | None) -> Plan:  # fmt: skip
    """The plan with fewer clients, a shorter load (fault moments scaled alike), or shorter
    outages (``scale``) -- for a machine shared with others."""
    if seconds is not None:
        k = seconds / plan.load_s
        plan = replace(plan, load_s=seconds, web_kill_s=plan.web_kill_s * k,
                       rate_change_kill_s=plan.rate_change_kill_s * k,
                       delivery_kill_s=plan.delivery_kill_s * k,
                       postgresql_s=plan.postgresql_s * k, smtp_s=plan.smtp_s * k,
                       hang_s=plan.hang_s * k, bolt_on_s=plan.bolt_on_s * k)  # fmt: skip
    if scale is not None:
        plan = replace(plan, sqlite_full_s=plan.sqlite_full_s * scale,
                       postgresql_down_s=plan.postgresql_down_s * scale,
                       smtp_down_s=plan.smtp_down_s * scale,
                       hang_for_s=plan.hang_for_s * scale,
                       upstream_slow_s=plan.upstream_slow_s * scale,
                       upstream_down_s=plan.upstream_down_s * scale)  # fmt: skip
    if clients is not None:
        plan = replace(plan, customers=clients)
    if web_workers is not None:
        plan = replace(plan, web_workers=web_workers)
    return plan


def settings(sink_port: int, billing_log: Path, plan: Plan) -> dict[str, str]:
    return {
        "ESPI_OUTBOX_BACKOFF_FIRST_SECONDS": str(plan.backoff_first_s),
        "ESPI_OUTBOX_BACKOFF_MAX_SECONDS": str(plan.backoff_max_s),
        "ESPI_SMTP_HOST": "127.0.0.1",
        "ESPI_SMTP_PORT": str(sink_port),
        "ESPI_SMTP_STARTTLS": "false",
        "ESPI_MAIL_FROM": "Demo Utility <no-reply@utility.example>",
        "ESPI_NOTIFY_ALLOW_LOOPBACK": "true",
        "ESPI_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "ESPI_OUTBOX_CLAIM_SECONDS": str(OUTBOX_CLAIM_SECONDS),
        "ESPI_BILLING_BACKEND": "billing:factory",
        "ESPI_BENCH_BILLING_LOG": str(billing_log),
        "ESPI_BENCH_BILLING_DELAY": str(BILLING_DELAY),
        # Every simulated customer comes from 127.0.0.1 and uses one of two clients: the
        # per-address and per-client limits would refuse most of them.  The limits stay
        # on (in Redis), high enough not to be what the soak measures.
        "ESPI_LOGIN_IP_RATE_LIMIT": "",
        "ESPI_RESOURCE_RATE_LIMIT": "500 per second",
        "ESPI_RESOURCE_BULK_RATE_LIMIT": "500 per second",
        "ESPI_TOKEN_RATE_LIMIT": "500 per second",
        "ESPI_RATE_CHANGE_CLIENT_RATE_LIMIT": "1000 per minute",
        "ESPI_OTP_RATE_LIMIT": "1000 per 15 minutes",
        "ESPI_OTP_CLIENT_RATE_LIMIT": "1000 per minute",
        # A customer asks for a rate change every few rounds: more than the 3 an hour a
        # service agreement may start in production.
        "ESPI_RATE_CHANGE_USAGE_POINT_LIMIT": "",
    }


def _asp(world: topology.Topology, client_id: str) -> flow.Asp:
    from espi_sst_server.demo.clients import DEMO_SCOPE

    client = next(c for c in world.demo["clients"] if c["client_id"] == client_id)
    return flow.Asp(client["client_id"], client.get("client_secret") or "",
                    client["redirect_uris"][0], DEMO_SCOPE)  # fmt: skip


def _customers(world: topology.Topology, count: int) -> list[asps.Customer]:
    """Three in four on the flaky ASP, one in four on the ASP whose endpoint will hang."""
    seeded = [c for c in world.demo["customers"] if c["username"].startswith("casey-")][:count]
    clients = [_asp(world, client_id) for client_id in ASPS]
    return [
        asps.Customer(c["username"], c["password"], c["email"], clients[1 if i % 4 == 3 else 0])
        for i, c in enumerate(seeded)
    ]


def run(plan: Plan, say: Any, stop: threading.Event) -> dict[str, Any]:
    from espi_sst_server.demo.mail_sink import MailSink

    began = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="espi-soak."))
    maildir, billing_log = scratch / "mail", scratch / "billing.jsonl"
    sink = MailSink(maildir).start()
    try:
        with receivers.Receivers() as endpoints:
            urls = {client_id: endpoints.add(path, fail_one_in=10 if path == FLAKY_PATH else 0)
                    for client_id, path in ASPS.items()}  # fmt: skip
            say(f"starting PostgreSQL, Redis, gunicorn -w {plan.web_workers}, nginx, the worker "
                f"({plan.customers} customers, {plan.load_s:g} s)")  # fmt: skip
            with topology.scaleout(nodes=1, workers=1, web_workers=plan.web_workers,
                                   extra_customers=plan.customers,
                                   settings=settings(sink.port, billing_log, plan)) as world:  # fmt: skip
                with faults._psql(world.database_url) as db:
                    db.execute("UPDATE application SET notify_uri = %s",
                               (endpoints.add(OTHER_PATH, fail_one_in=0, slow_s=0),))  # fmt: skip
                    for client_id, url in urls.items():
                        db.execute("UPDATE application SET notify_uri = %s WHERE client_id = %s",
                                   (url, client_id))  # fmt: skip
                say(f"up in {time.monotonic() - began:.1f} s; gateway {world.issuer}")
                ctx = faults.Context(world=world, billing_log=billing_log, receivers=endpoints,
                                     notify_path=FLAKY_PATH, hang_path=HANGING_PATH, sink=sink,
                                     maildir=maildir, web_workers=plan.web_workers, stop=stop,
                                     lease_s=LEASE_SECONDS, claim_s=OUTBOX_CLAIM_SECONDS)  # fmt: skip
                (scratch / "bolt-on").mkdir()
                try:
                    with bolt_on.running_lane(plan.bolt_on_customers, scratch / "bolt-on",
                                              say) as lane:  # fmt: skip
                        result = _soak(plan, world, ctx, maildir, endpoints, say, stop, lane)
                finally:
                    sink = ctx.sink
            if plan.sqlite_load_s > 0 and not stop.is_set():
                try:
                    phase = sqlite_disk.run_phase(min(plan.customers, 3), plan.sqlite_load_s,
                                                  plan.sqlite_full_s,
                                                  settings(sink.port, billing_log, plan), maildir,
                                                  endpoints, stop, say)  # fmt: skip
                except Exception as exc:  # recorded as a fault not recovered: the soak fails
                    record = faults.FaultRecord("SQLite mode: disk full", 0.0)
                    record.detail["error"] = f"{type(exc).__name__}: {exc}"
                    phase = {"fault": record, "figures": None}
                _add_sqlite_phase(result, phase, say)
            stop.set()
    finally:
        if sink.running:
            sink.stop()
        topology.shutil.rmtree(scratch, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - began, 1)
    return result


def _soak(plan: Plan, world: topology.Topology, ctx: faults.Context, maildir: Path,
          endpoints: receivers.Receivers, say: Any, stop: threading.Event,
          lane: bolt_on.Lane) -> dict[str, Any]:  # fmt: skip
    tally = asps.Tally()
    load_stop = threading.Event()
    started_at, started = time.time(), time.monotonic()
    end = started + plan.load_s
    # Customers stop at ``load_stop``, not at a time: the load outlasts the faults.
    threads = []
    for index, customer in enumerate(_customers(world, plan.customers)):
        thread = threading.Thread(target=asps.run_customer, daemon=True,
                                  args=(world.issuer, maildir, customer, plan.habits, tally,
                                        end + MAX_OVERTIME_S, load_stop, index))  # fmt: skip
        thread.start()
        threads.append(thread)
        stop.wait(0.25)  # customers arrive one after another, not in one burst
    for index in range(len(lane.tokens)):  # the bolt-on lane's customers, all along
        thread = threading.Thread(target=bolt_on.run_customer, daemon=True,
                                  args=(lane, index, end + MAX_OVERTIME_S, load_stop,
                                        plan.habits.pause_s))  # fmt: skip
        thread.start()
        threads.append(thread)
    schedule: list[tuple[float, str, faults.Fault]] = [
        (plan.web_kill_s, "web worker killed (SIGKILL)", faults.kill_web_worker),
        (plan.rate_change_kill_s, "background worker killed mid rate-change submission",
         faults.kill_worker_mid_rate_change),
        (plan.delivery_kill_s, "background worker killed mid notification delivery",
         faults.kill_worker_mid_delivery),
        (plan.postgresql_s, f"PostgreSQL stopped {plan.postgresql_down_s:g} s, started",
         partial(faults.restart_postgresql, down_s=plan.postgresql_down_s)),
        (plan.smtp_s, f"SMTP sink down {plan.smtp_down_s:g} s",
         partial(faults.smtp_down, down_s=plan.smtp_down_s)),
        (plan.hang_s, f"an ASP notify endpoint never answers for {plan.hang_for_s:g} s",
         partial(faults.notify_endpoint_hangs, hang_s=plan.hang_for_s)),
    ]  # fmt: skip
    records: list[faults.FaultRecord] = []
    injector = threading.Thread(target=faults.run_schedule, args=(ctx, schedule, started, records),
                                daemon=True)  # fmt: skip
    injector.start()
    upstream = faults.FaultRecord(f"bolt-on: upstream GBC slow {plan.upstream_slow_s:g} s, "
                                  f"then down {plan.upstream_down_s:g} s", plan.bolt_on_s)  # fmt: skip
    upstream_injector = threading.Thread(target=_upstream_fault, daemon=True,
                                         args=(plan, lane, stop, upstream, started))  # fmt: skip
    upstream_injector.start()
    # The load runs its planned time, and on until the last fault has recovered (bounded):
    # every fault happens, and is recovered from, under load.
    hard_end = end + MAX_OVERTIME_S

    def faulting() -> bool:
        return injector.is_alive() or upstream_injector.is_alive()

    while (time.monotonic() < end or faulting()) and time.monotonic() < hard_end:
        left = end - time.monotonic()
        if stop.wait(min(10.0, left) if left > 0.5 else 10.0):
            break
        say(
            f"  {time.monotonic() - started:5.0f} s: {tally.rounds} rounds, {tally.calls} calls, "
            f"{len(tally.rate_changes_confirmed)} rate changes confirmed, "
            f"{len(tally.failures)} failures, faults {[r.name.split(' ')[0] for r in records]}"
        )
    load_stop.set()
    load_ended = time.time()
    joined_by = time.monotonic() + asps.DECISION_WAIT_S + 30  # one waiting for a decision
    for thread in threads:
        thread.join(timeout=max(0.1, joined_by - time.monotonic()))
    injector.join(timeout=60)
    upstream_injector.join(timeout=60)
    for record in records:
        say(f"fault {record.name}: {json.dumps(record.as_json(started_at))}")
    drained_s = accounting.drain(world.database_url, plan.drain_s)
    say(f"outbox drained in {drained_s} s")
    figures = accounting.account(world.database_url, world.issuer, maildir,
                                 endpoints.acknowledged(),
                                 sum(e.unkeyed for e in endpoints.endpoints.values()),
                                 tally.rate_changes_confirmed)  # fmt: skip
    _relative_times(figures, started_at)
    served = windows.read_timing_log(world.folder / "nginx" / "timing.log")
    injected = [r for r in records if r.injected]
    spans = [r.window(load_ended) for r in injected]
    per_window, outside = windows.split(served, spans, started_at, load_ended)
    fault_rows = []
    for record, inside in zip(injected, per_window, strict=True):
        fault_rows.append({**record.as_json(started_at), **windows.summary(inside)})
    fault_rows += [r.as_json(started_at) for r in records if not r.injected]
    failures_outside = [f for f in tally.failures if not windows.inside(f.at, spans)]
    outside_summary = windows.summary(outside)
    errors_outside = outside_summary["5xx"] + len(failures_outside)
    # The bolt-on lane: its own gateway, its own window; its errors outside it count too.
    lane_figures = bolt_on.figures(lane, upstream, started_at, load_ended)
    upstream_row = {**upstream.as_json(started_at), "lane": "bolt-on", **lane_figures["window"]}
    if "down_at" in upstream_row:
        upstream_row["down_at_s"] = round(float(upstream_row.pop("down_at")) - started_at, 2)
    fault_rows.append(upstream_row)
    say(f"fault {upstream.name}: {json.dumps(upstream_row)}")
    errors_outside += (lane_figures["outside"]["5xx"]
                       + lane_figures["client_failures_outside_fault"])  # fmt: skip
    lane_figures.pop("window")
    return {
        "plan": plan.name,
        "customers": plan.customers,
        "load_s": plan.load_s,
        "load_ran_s": round(load_ended - started_at, 1),
        "web_workers": plan.web_workers,
        "faults": fault_rows,
        "faults_planned": len(schedule) + 1,
        "faults_injected": len(injected) + (1 if upstream.injected else 0),
        "faults_recovered": sum(1 for r in [*records, upstream] if r.recovered),
        "lost": figures["lost"],
        "duplicated": figures["duplicated"],
        "errors_outside_faults": errors_outside,
        "requests": len(served) + lane_figures["requests"],
        "requests_5xx": sum(1 for s in served if s.status >= 500) + lane_figures["5xx"],
        "paths_429": windows.by_path(served, 429),
        "paths_500": windows.by_path(served, 500),
        "outside_faults": outside_summary,
        "client_failures": len(tally.failures),
        "client_failures_outside_faults": len(failures_outside),
        "first_failures_outside_faults": [
            f"+{f.at - started_at:.0f} s {f.what}" for f in failures_outside[:5]
        ],
        "first_failures": [f"+{f.at - started_at:.0f} s {f.what}" for f in tally.failures[:5]],
        "load": {
            "rounds": tally.rounds,
            "calls": tally.calls,
            "token_refreshes": tally.refreshes,
            "refusals_4xx": tally.refusals,
            "revocations": tally.revocations,
            "consents": tally.consents,
            "rate_changes_confirmed": len(tally.rate_changes_confirmed),
            "rate_changes_decided_seen": tally.rate_changes_decided,
            "passcodes_used": len(tally.passcodes_used),
        },
        "notify_endpoints": {
            path: {
                "posts": e.posts,
                "refused_503": e.refused,
                "acknowledged": sum(e.acknowledged.values()),
            }
            for path, e in endpoints.endpoints.items()
        },  # fmt: skip
        **figures,
        "bolt_on": lane_figures,
        "drained_s": drained_s,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }


def _upstream_fault(
    plan: Plan,
    lane: bolt_on.Lane,
    stop: threading.Event,
    record: faults.FaultRecord,
    started: float,
) -> None:
    """The bolt-on lane's fault at its moment, beside (not after) the schedule's faults."""
    if stop.wait(max(0.0, started + plan.bolt_on_s - time.monotonic())):
        return
    try:
        bolt_on.upstream_slow_then_down(lane, stop, record, slow_s=plan.upstream_slow_s,
                                        down_s=plan.upstream_down_s)  # fmt: skip
    except Exception as exc:  # recorded; the soak goes on (and fails: not recovered)
        record.detail["error"] = f"{type(exc).__name__}: {exc}"


def _add_sqlite_phase(result: dict[str, Any], phase: dict[str, Any], say: Any) -> None:
    """The SQLite phase's fault and figures, counted into the soak's goals."""
    record: faults.FaultRecord = phase["fault"]
    result["faults_planned"] += 1
    started = phase.get("started_at", time.time())
    row = {**record.as_json(started), "phase": "sqlite"}  # its times: from the phase's start
    result["faults"].append(row)
    say(f"fault {record.name}: {json.dumps(row)}")
    if not record.injected:
        # Mounting a tmpfs needs root: without it the fault is skipped and says why.
        if "root needed" in str(record.detail.get("error", "")):
            result["faults_skipped"] = result.get("faults_skipped", 0) + 1
        return
    result["faults_injected"] += 1
    result["faults_recovered"] += 1 if record.recovered else 0
    figures = phase["figures"]
    _relative_times(figures, started)
    result["sqlite"] = {
        "integrity_check": phase["integrity_check"],
        "requests": phase["requests"],
        "outside_faults": phase["outside"],
        "client_failures_outside_faults": phase["client_failures_outside"][:5],
        "rate_changes_confirmed": phase["rate_changes_confirmed"],
        **{k: v for k, v in figures.items() if k.endswith(("_lost", "_twice", "_duplicated",
                                                            "impossible", "_detail"))},
    }  # fmt: skip
    result["requests"] += phase["requests"]
    result["lost"] += (figures["rate_changes_lost"] + figures["mails_lost"]
                       + figures["passcode_mail_rows_missing"] + figures["notifications_lost"])  # fmt: skip
    result["duplicated"] += (figures["rate_changes_applied_twice"] + figures["mails_duplicated"]
                             + figures["notifications_duplicated"])  # fmt: skip
    result["errors_outside_faults"] += (phase["outside"]["5xx"]
                                        + len(phase["client_failures_outside"]))  # fmt: skip
    result["grants_impossible"] += figures["grants_impossible"]
    if phase["integrity_check"] != "ok":
        result["lost"] += 1  # a damaged database has lost something, whatever the counts say


def passed(result: dict[str, Any]) -> bool:
    skipped = result.get("faults_skipped", 0)  # not allowed here (no root): said in the JSON
    lane = result.get("bolt_on") or {}
    bolt_on_held = (lane.get("improper_5xx", 1) == 0 and lane.get("over_bound", 1) == 0
                    and lane.get("customers_fed_after_recovery") == lane.get("customers"))  # fmt: skip
    return (bolt_on_held and result["lost"] == 0 and result["duplicated"] == 0
            and result["errors_outside_faults"] == 0 and result["grants_impossible"] == 0
            and result["faults_injected"] + skipped == result["faults_planned"]
            and result["faults_recovered"] + skipped == result["faults_planned"])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="2 minutes, 8 customers (CI)")
    parser.add_argument("--json", action="store_true", help="progress on stderr, JSON on stdout")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="write docs/reliability.md's figures and bench/results/soak.json",
    )
    parser.add_argument("--clients", type=int, help="simulated customers (default 32; short 8)")
    parser.add_argument("--seconds", type=float, help="load duration; fault moments scale alike")
    parser.add_argument(
        "--scale",
        type=float,
        help="multiply the outages (PostgreSQL, SMTP, hanging endpoint) by this",
    )
    parser.add_argument("--web-workers", type=int, help="gunicorn workers (default 4)")
    args = parser.parse_args(argv)
    plan = scaled(SHORT if args.short else FULL, clients=args.clients, seconds=args.seconds,
                  scale=args.scale, web_workers=args.web_workers)  # fmt: skip
    if plan.customers < 1 or plan.load_s <= 0:
        parser.error("--clients must be at least 1 and --seconds more than 0")

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    stop = threading.Event()

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)  # cleaned up like Ctrl-C
    try:
        result = run(plan, say, stop)
    except topology.Unavailable as exc:
        print(json.dumps({"unavailable": str(exc)}))
        return 3
    except KeyboardInterrupt:
        stop.set()
        say("interrupted: everything started was stopped")
        return 130
    result["passed"] = passed(result)
    if args.write_docs:
        soak_docs.write(result, plan)
        say(f"wrote {soak_docs.DOCS.relative_to(ROOT)} and {soak_docs.RESULTS.relative_to(ROOT)}")
    print(json.dumps(result))
    return 0 if result["passed"] else 1


def _relative_times(figures: dict[str, Any], started: float) -> None:
    """A repeated mail's times as seconds from the load's start, like the faults' windows."""
    for story in figures.get("mails_duplicated_detail", []):
        for key in ("created_at", "sent_at"):
            if story.get(key) is not None:
                story[key.replace("_at", "_s")] = round(story.pop(key) - started, 2)
        story["delivered_s"] = [round(t - started, 2) for t in story.pop("delivered_at")]


if __name__ == "__main__":
    sys.exit(main())
