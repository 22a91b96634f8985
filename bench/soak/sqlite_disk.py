"""SQLite mode with the disk nearly full: the soak's single-host phase.

A single-host deployment keeps its database in one SQLite file (docs/deployment.md).  Its
disk filling up is that deployment's outage: every write fails with "database or disk is
full" while reads still work.  This phase starts, on free loopback ports, one gunicorn
node whose database lives on a **small tmpfs** (``mount -t tmpfs -o size=...``: needs root;
without it the phase is reported as not injected, with the reason), the background worker
beside it and nginx in front (its timing log, as in the main soak), runs a few simulated
customers (asps.py), then fills the tmpfs to the last byte with a filler file, holds it
full, and removes the filler.

Recovered when ``/readyz`` answers 200 and a new consent (a write of several rows) goes
through.  Then the same accounting as the main soak runs on the SQLite file -- nothing
lost, nothing applied twice, no grant in an impossible state -- plus SQLite's own
``PRAGMA integrity_check``.
"""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import accounting
import asps
import faults
import flow
import topology

SQLITE_NOTIFY_PATH = "/sqlite/notify"
TMPFS_SIZE = "48m"
"""The database (seeded: a few MB) and its WAL fit with room for the load, not much more."""


@contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` (unmounted and removed on exit); OSError when not allowed."""
    folder = Path(tempfile.mkdtemp(prefix="espi-soak-tmpfs."))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(folder)], capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        folder.rmdir()
        raise OSError(f"cannot mount a tmpfs (root needed): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        try:
            folder.rmdir()
        except OSError:
            pass


def fill(folder: Path) -> Path:
    """Write a filler file until the file system is full (ENOSPC); returns its path.

    Unbuffered: each write reaches the file system (and fails there), nothing is left to
    fail at close.
    """
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 1 << 10, 1):  # megabytes, then the last kilobytes and bytes
            for _ in range(100_000):  # bounded: a tmpfs here is megabytes, not terabytes
                try:
                    if out.write(b"\0" * size) == 0:
                        break
                except OSError:
                    break
    return filler


class SqliteView:
    """A sqlite3 connection speaking the two calls accounting.py makes (``execute`` with
    ``%s`` placeholders, rows as tuples) and answering JSON columns as dicts."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(str(path), timeout=30)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql.replace("%s", "?"), tuple(params))

    def close(self) -> None:
        self.connection.close()


def run_phase(plan_customers: int, load_s: float, full_s: float, settings: dict[str, str],
              maildir: Path, endpoints: Any, stop: threading.Event, say: Any
              ) -> dict[str, Any]:  # fmt: skip
    """The phase; a dict with the fault record (``fault``) and its accounting."""
    from espi_sst_server.demo.mail_sink import read_maildir  # noqa: F401  (installed: fail early)

    record = faults.FaultRecord(f"SQLite mode: disk full {full_s:g} s", 0.0)
    try:
        disk = tmpfs(TMPFS_SIZE)
        folder = disk.__enter__()
    except OSError as exc:
        record.detail["error"] = str(exc)
        return {"fault": record, "figures": None}
    stack = ExitStack()
    stack.callback(disk.__exit__, None, None, None)
    work = Path(tempfile.mkdtemp(prefix="espi-soak-sqlite."))
    stack.callback(topology.shutil.rmtree, work, True)
    with stack:
        database = folder / "espi-sst.db"
        port, node_port = topology.free_port(), topology.free_port()
        issuer = f"http://127.0.0.1:{port}"
        import secrets

        from cryptography.fernet import Fernet

        env = {
            **settings,  # the main soak's: mail, lease, billing, limits
            "ESPI_DATABASE_URL": f"sqlite:///{database}",
            "ESPI_ISSUER": issuer,
            "ESPI_SECRET_KEY": secrets.token_urlsafe(32),
            "ESPI_OUTBOX_KEY": Fernet.generate_key().decode(),
            "ESPI_RATELIMIT_STORAGE_URI": "memory://",
            "ESPI_AUTO_MIGRATE": "false",
            "ESPI_LOG_FORMAT": "json",
            "PYTHONPATH": str(topology.HERE),
        }
        # One more customer than the load's: the recovery probe consents as that one (a new
        # consent replaces the customer's earlier grant to the ASP: lifecycle/replacement.py).
        demo = topology._migrate_and_seed(env, work, plan_customers + 1)
        notify = endpoints.add(SQLITE_NOTIFY_PATH, fail_one_in=0, slow_s=0.05)
        with sqlite3.connect(str(database)) as db:  # every ASP's notifications come to us
            db.execute("UPDATE application SET notify_uri = ?", (notify,))
        say(f"SQLite phase: database on a {TMPFS_SIZE} tmpfs, "
            f"{database.stat().st_size // 1024} KiB seeded")  # fmt: skip
        (work / "node").mkdir()
        node = topology._spawn("sqlite-node", [
            str(topology.BIN / "gunicorn"), "-c", "python:espi_sst_server.gunicorn_conf",
            "-w", "2", "-b", f"127.0.0.1:{node_port}", "--no-control-socket", "--timeout", "60",
            "espi_sst_server.wsgi:app"], work / "node",
            {**env, "PROMETHEUS_MULTIPROC_DIR": str(work)})  # fmt: skip
        stack.callback(node.stop)
        topology._wait_http(node, f"http://127.0.0.1:{node_port}/healthz")
        proxy = topology._nginx(work / "nginx", port, [node_port])
        stack.callback(proxy.stop)
        topology._wait_http(proxy, issuer + "/healthz", timeout=20)
        worker = topology._spawn("sqlite-worker", [str(topology.BIN / "espi-sst"), "worker",
                                                   "--poll", "0.5"], work, env)  # fmt: skip
        stack.callback(worker.stop)

        tally = asps.Tally()
        load_stop = threading.Event()
        from espi_sst_server.demo.clients import DEMO_SCOPE

        client = next(c for c in demo["clients"] if c["client_id"] == "demo-energy-insights")
        asp = flow.Asp(client["client_id"], client["client_secret"], client["redirect_uris"][0],
                       DEMO_SCOPE)  # fmt: skip
        everyone = [asps.Customer(c["username"], c["password"], c["email"], asp)
                    for c in demo["customers"] if c["username"].startswith("casey-")]  # fmt: skip
        customers, prober = everyone[:-1], everyone[-1]
        started_at, started = time.time(), time.monotonic()
        threads = [threading.Thread(target=asps.run_customer, daemon=True,
                                    args=(issuer, maildir, c, asps.Habits(refresh_every=3,
                                          rate_change_every=4, reconsent_every=7, pause_s=0.5),
                                          tally, started + load_s + 300, load_stop, i))
                   for i, c in enumerate(customers)]  # fmt: skip
        for thread in threads:
            thread.start()
        stop.wait(min(15.0, load_s / 3))
        record.injected_at = time.time()
        filler = fill(folder)
        record.detail["filled_bytes"] = filler.stat().st_size
        stop.wait(full_s)
        filler.unlink()
        record.cause_removed_at = time.time()

        def writes_again() -> bool:
            ready = faults.requests.get(issuer + "/readyz", timeout=5).status_code == 200
            return ready and bool(flow.run_flow(issuer, asp, prober.username, prober.password))

        record.recovered_at = faults._until(writes_again, 60, stop, 0.5)
        stop.wait(max(0.0, started + load_s - time.monotonic()))
        load_stop.set()
        load_ended = time.time()
        joined_by = time.monotonic() + asps.DECISION_WAIT_S + 30
        for thread in threads:
            thread.join(timeout=max(0.1, joined_by - time.monotonic()))
        drained = _drain(database, 120)
        view = SqliteView(database)
        try:
            integrity = view.execute("PRAGMA integrity_check").fetchone()[0]
            figures = {
                **accounting.rate_changes(view, tally.rate_changes_confirmed),
                **accounting.mails(view, maildir, issuer),
                **accounting.notifications(
                    view,
                    issuer,
                    endpoints.acknowledged(),
                    endpoints.endpoints[SQLITE_NOTIFY_PATH].unkeyed,
                ),
                **accounting.grants(view),
            }
        finally:
            view.close()
        import windows

        served = windows.read_timing_log(work / "nginx" / "timing.log")
        span = record.window(load_ended)
        per_window, outside = windows.split(served, [span], started_at, load_ended)
        failures_outside = [f for f in tally.failures if not windows.inside(f.at, [span])]
        record.detail.update(windows.summary(per_window[0]))
        record.detail["paths_5xx"] = windows.by_path(per_window[0], 503)
        return {
            "fault": record,
            "started_at": started_at,
            "integrity_check": integrity,
            "drained_s": drained,
            "outside": windows.summary(outside),
            "client_failures_outside": [f.what for f in failures_outside],
            "requests": len(served),
            "rate_changes_confirmed": len(tally.rate_changes_confirmed),
            "figures": figures,
        }


def _drain(database: Path, bound_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound_s:
        with sqlite3.connect(str(database), timeout=30) as db:
            busy = db.execute("SELECT count(*) FROM rate_change_request "
                              "WHERE status IN ('confirmed', 'submitted')").fetchone()[0]  # fmt: skip
            mail = db.execute("SELECT count(*) FROM outbox_message WHERE "
                              "sent_at IS NULL AND failed_at IS NULL").fetchone()[0]  # fmt: skip
        if busy == 0 and mail == 0:
            break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


__all__ = ["run_phase"]
