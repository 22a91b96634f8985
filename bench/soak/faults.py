"""The fault schedule: each fault at a known moment, recorded with its window and recovery.

Every fault is a function that injects it, removes its cause (restarts what it killed,
starts what it stopped) and waits -- bounded -- until the service has recovered, filling a
:class:`FaultRecord`:

* ``injected_at``: the moment of the fault (``time.time()``);
* ``cause_removed_at``: when the broken part is back (a killed process: when it was killed,
  since the rest of the system must cope alone; a stopped database or mail server: when it
  is started again; a hanging endpoint: when it answers again);
* ``recovered_at``: when the service is whole again, by a check that would fail otherwise
  (the killed job decided, the held notification acknowledged, ``/readyz`` answering 200,
  every message queued during the outage delivered);
* the *window* is ``injected_at`` .. ``recovered_at`` + ``GRACE_S``: errors inside it are
  the fault's, errors outside any window count against the goal of zero.

:func:`run_schedule` runs the faults one after another, each no earlier than its planned
offset from the start of the load, in a thread of its own, and stops when told to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procfs
import requests
import topology  # bench/scaleout/topology.py

GRACE_S = 2.0
"""Seconds after ``recovered_at`` still counted in the window (requests already in flight)."""
CALM_S = 3.0
"""Seconds between one fault's window and the next fault: every window has its own errors."""


@dataclass
class FaultRecord:
    name: str
    planned_s: float  # offset from the start of the load
    injected_at: float | None = None
    cause_removed_at: float | None = None
    recovered_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def injected(self) -> bool:
        return self.injected_at is not None

    @property
    def recovered(self) -> bool:
        return self.recovered_at is not None

    def window(self, end: float) -> tuple[float, float]:
        assert self.injected_at is not None
        return self.injected_at, (self.recovered_at or end) + GRACE_S

    def as_json(self, started: float) -> dict[str, Any]:
        def offset(value: float | None) -> float | None:
            return None if value is None else round(value - started, 2)

        recover_s = None
        if self.recovered_at is not None and self.cause_removed_at is not None:
            recover_s = round(self.recovered_at - self.cause_removed_at, 2)
        outage_s = None
        if self.cause_removed_at is not None and self.injected_at is not None:
            outage_s = round(self.cause_removed_at - self.injected_at, 2)
        return {
            "name": self.name,
            "planned_s": self.planned_s,
            "injected_s": offset(self.injected_at),
            "cause_removed_s": offset(self.cause_removed_at),
            "recovered_s": offset(self.recovered_at),
            "outage_s": outage_s,
            "time_to_recover_s": recover_s,
            "injected": self.injected,
            "recovered": self.recovered,
            **self.detail,
        }


def _until(check: Callable[[], bool], bound: float, stop: threading.Event, poll: float = 0.2
           ) -> float | None:  # fmt: skip
    """``time.time()`` when ``check()`` first holds, within ``bound`` seconds (else None)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and not stop.is_set():
        try:
            if check():
                return time.time()
        except Exception:  # the thing checked is down: that is what we are waiting out
            pass
        time.sleep(poll)
    return None


def _psql(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True, connect_timeout=3)  # fmt: skip


def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with _psql(url) as db:
        return list(db.execute(sql, args).fetchall())


@dataclass
class Context:
    """What the faults act on."""

    world: topology.Topology
    billing_log: Path
    receivers: Any  # receivers.Receivers
    notify_path: str  # the flaky endpoint, where a delivery is interrupted
    hang_path: str  # the endpoint that stops answering
    sink: Any  # the running MailSink (replaced when restarted)
    maildir: Path
    web_workers: int
    stop: threading.Event
    lease_s: float
    claim_s: float
    restarts: int = 0

    def live_workers(self) -> list[topology.Process]:
        return [w for w in self.world.workers if w.alive()]

    def restart_worker(self, name: str) -> None:
        """What systemd's ``Restart=always`` does for ``espi-sst worker``: start it again."""
        self.restarts += 1
        self.world.start_worker(f"{name}-r{self.restarts}")


def kill_web_worker(ctx: Context, record: FaultRecord) -> None:
    """SIGKILL one gunicorn worker of node A; the master starts another."""
    node = ctx.world.nodes[0]
    before = procfs.children(node.server.pid)
    if not before:
        record.detail["error"] = "no gunicorn worker found"
        return
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    record.injected_at = record.cause_removed_at = time.time()
    record.detail["pid"] = victim

    def whole() -> bool:
        now = procfs.children(node.server.pid)
        return (victim not in now and len(now) >= ctx.web_workers
                and requests.get(node.url + "/readyz", timeout=5).status_code == 200)  # fmt: skip

    record.recovered_at = _until(whole, 60, ctx.stop)


def kill_worker_mid_rate_change(ctx: Context, record: FaultRecord) -> None:
    """SIGKILL the background worker inside a billing submission (billing.py's log says when).

    Recovered when that rate change is decided -- by the restarted worker, once the dead
    one's lease (``WORKER_LEASE_SECONDS``) ran out.
    """
    armed = time.time()
    victim: topology.Process | None = None
    job = ""
    deadline = time.monotonic() + 90
    while victim is None and time.monotonic() < deadline and not ctx.stop.is_set():
        if ctx.billing_log.exists():
            for line in ctx.billing_log.read_text().splitlines():
                entry = json.loads(line)
                if entry["event"] != "begin" or entry["t"] < armed:
                    continue
                victim = next((w for w in ctx.live_workers() if w.pid == entry["pid"]), None)
                if victim is not None:
                    job = entry["uuid"]
                    break
        if victim is None:
            time.sleep(0.05)
    if victim is None:
        record.detail["error"] = "no billing submission within 90 s"
        return
    victim.kill9()
    record.injected_at = record.cause_removed_at = time.time()
    record.detail.update(worker=victim.name, job=job)
    ctx.restart_worker(victim.name.split("-r")[0])

    def decided() -> bool:
        rows = _query(ctx.world.database_url,
                      "SELECT status FROM rate_change_request WHERE uuid = %s", job)  # fmt: skip
        return bool(rows) and rows[0][0] in ("accepted", "rejected")

    record.recovered_at = _until(decided, ctx.lease_s * 4 + 60, ctx.stop)


def kill_worker_mid_delivery(ctx: Context, record: FaultRecord) -> None:
    """SIGKILL the background worker while its notification POST is at the ASP, unanswered.

    The ASP has the BatchList; the outbox row is still claimed, not sent.  Recovered when
    the restarted worker (after ``OUTBOX_CLAIM_SECONDS``) sent it again and the ASP
    acknowledged that key -- a repeat the ASP drops by its ``Idempotency-Key``.
    """
    done = threading.Event()

    def hook(port: int, key: str) -> bool:
        pid = procfs.owner_of_port(port, [w.pid for w in ctx.live_workers()])
        victim = next((w for w in ctx.live_workers() if w.pid == pid), None)
        if victim is None:
            record.detail["missed"] = record.detail.get("missed", 0) + 1
            ctx.receivers.arm_kill(ctx.notify_path, hook)  # try the next POST
            return False
        victim.kill9()
        record.injected_at = record.cause_removed_at = time.time()
        record.detail.update(worker=victim.name, key=key)
        done.set()
        return True

    ctx.receivers.arm_kill(ctx.notify_path, hook)
    if not done.wait(90):
        ctx.receivers.arm_kill(ctx.notify_path, None)
        record.detail["error"] = "no notification POST within 90 s"
        return
    ctx.restart_worker(str(record.detail["worker"]).split("-r")[0])
    key = str(record.detail["key"])
    # Bounded generously: besides the claim, the ASP's own refusals (1 in 10) defer every
    # notification due to it by their backoff (queue.py, _back_off_destination).
    record.recovered_at = _until(lambda: key in ctx.receivers.last_ack,
                                 ctx.claim_s + 240, ctx.stop)  # fmt: skip
    # The ASP read it at the kill and again from the restarted worker: one repeat, same key.
    record.detail["received_times"] = ctx.receivers.endpoints[ctx.notify_path].received[key]


def restart_postgresql(ctx: Context, record: FaultRecord, *, down_s: float = 10.0) -> None:
    """``pg-test-cluster down`` (a fast shutdown: every connection cut), ``down_s``, ``up``."""
    cluster = ["bash", str(topology.PG_CLUSTER)]
    record.injected_at = time.time()
    subprocess.run([*cluster, "down", str(ctx.world.postgresql_folder)], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    ctx.stop.wait(down_s)
    subprocess.run([*cluster, "up", str(ctx.world.postgresql_folder)], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    record.cause_removed_at = time.time()
    record.detail["down_s"] = down_s

    def ready() -> bool:
        return requests.get(ctx.world.issuer + "/readyz", timeout=5).status_code == 200

    record.recovered_at = _until(ready, 60, ctx.stop)


def _drained(ctx: Context, kind: str, destination_like: str, before: float) -> bool:
    rows = _query(ctx.world.database_url,
                  "SELECT count(*) FROM outbox_message WHERE kind = %s AND destination LIKE %s "
                  "AND created_at <= %s AND sent_at IS NULL AND failed_at IS NULL",
                  kind, destination_like, int(before))  # fmt: skip
    return rows[0][0] == 0


def smtp_down(ctx: Context, record: FaultRecord, *, down_s: float = 60.0) -> None:
    """Stop the mail sink for ``down_s``; recovered when every e-mail queued until it came
    back was delivered (the outbox retries with backoff: 10, 20, 40 s ...)."""
    from espi_sst_server.demo.mail_sink import MailSink

    port = ctx.sink.port
    record.injected_at = time.time()
    ctx.sink.stop()
    ctx.stop.wait(down_s)
    for _ in range(50):  # the port is ours; bounded in case the kernel holds it a moment
        try:
            ctx.sink = MailSink(ctx.maildir, port=port).start()
            break
        except OSError:
            time.sleep(0.2)
    record.cause_removed_at = time.time()
    record.detail["down_s"] = down_s
    back = record.cause_removed_at
    record.recovered_at = _until(lambda: _drained(ctx, "email", "%", back), 240, ctx.stop, 0.5)


def notify_endpoint_hangs(ctx: Context, record: FaultRecord, *, hang_s: float = 60.0) -> None:
    """One ASP's notify endpoint holds every POST unanswered for ``hang_s``.

    Recovered when every notification to it queued until it answered again was delivered;
    meanwhile the other ASP's notifications must keep flowing (``others_acknowledged``).
    """
    record.injected_at = time.time()
    others_before = sum(ctx.receivers.endpoints[ctx.notify_path].acknowledged.values())
    ctx.receivers.hang(ctx.hang_path, hang_s)
    ctx.stop.wait(hang_s)
    record.cause_removed_at = time.time()
    record.detail["hang_s"] = hang_s
    record.detail["others_acknowledged"] = (
        sum(ctx.receivers.endpoints[ctx.notify_path].acknowledged.values()) - others_before
    )
    back = record.cause_removed_at
    pattern = f"%{ctx.hang_path}"
    record.recovered_at = _until(lambda: _drained(ctx, "asp_notification", pattern, back),
                                 300, ctx.stop, 0.5)  # fmt: skip


Fault = Callable[[Context, FaultRecord], None]


def run_schedule(ctx: Context, schedule: list[tuple[float, str, Fault]], started: float,
                 records: list[FaultRecord]) -> None:  # fmt: skip
    """Each fault no earlier than its offset (seconds after ``started``, time.monotonic())."""
    calm_until = 0.0  # windows never overlap: the next fault waits for the last one's end
    for offset, name, fault in schedule:
        record = FaultRecord(name, offset)
        records.append(record)
        start_at = max(started + offset, calm_until)
        if ctx.stop.wait(max(0.0, start_at - time.monotonic())):
            return
        try:
            fault(ctx, record)
        except Exception as exc:  # recorded; the soak goes on
            record.detail["error"] = f"{type(exc).__name__}: {exc}"
        calm_until = time.monotonic() + GRACE_S + CALM_S
