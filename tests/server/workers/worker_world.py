"""Two ``espi-sst worker`` processes on one PostgreSQL database, and the real things they
talk to: an SMTP sink (server/demo/mail_sink.py), an HTTP receiver on loopback standing in
for an ASP's notify URI, and the recording billing system (recording_billing.py).

The world is written straight into the database (one customer with ``n`` service
agreements, one ASP, one authorization, ``n`` confirmed rate changes, ``n`` passcode
mails): what is tested is the workers, not the API that queues the work (tested in
tests/server/sst).  Every wait is bounded by a count and a time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.outbox.queue import enqueue_email
from espi_sst_server.security import new_uuid
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    OutboxMessage,
    RateChangeRequestRecord,
    RetailCustomer,
    Tariff,
    UsagePoint,
)
from flask import Flask
from sqlalchemy import func, select, text

HERE = Path(__file__).resolve().parent
ISSUER = "http://127.0.0.1:5999"
MAIL_FROM = "Utility <no-reply@utility.example>"
CUSTOMER_EMAIL = "many@example.com"


class Receiver:
    """An ASP's notify endpoint on 127.0.0.1: every POST's ``Idempotency-Key`` and arrival.

    ``hold_first``: the first POST is read and never answered (the sender waits in its read
    timeout) until :meth:`close`; every later POST is answered 204.
    """

    def __init__(self, *, hold_first: bool = False) -> None:
        self.deliveries: list[tuple[str, float]] = []
        self.holding = threading.Event()
        self._release = threading.Event()
        self._hold_first = hold_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key") or "(none)"
                with receiver._lock:
                    receiver.deliveries.append((key, time.time()))
                    hold = receiver._hold_first and not receiver.holding.is_set()
                    if hold:
                        receiver.holding.set()
                if hold:
                    receiver._release.wait(120)
                    self.close_connection = True
                    return
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/notify"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def keys(self) -> list[str]:
        with self._lock:
            return [key for key, _ in self.deliveries]

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> float:
        """kill -9; returns the moment."""
        os.kill(self.pid, signal.SIGKILL)
        moment = time.time()
        self.process.wait(30)
        return moment

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Workers:
    database_url: str
    tmp: Path
    smtp_port: int
    lease_seconds: int = 3
    claim_seconds: int = 3
    extra_env: dict[str, str] = field(default_factory=dict)
    started: list[WorkerProcess] = field(default_factory=list)

    @property
    def billing_log(self) -> Path:
        return self.tmp / "billing.jsonl"

    def start(self, name: str) -> WorkerProcess:
        """``espi-sst worker --poll 0.1`` as its own process, named in pg_stat_activity."""
        env = {
            **os.environ,
            "PGAPPNAME": f"espi-test-{name}",
            "ESPI_DATABASE_URL": self.database_url,
            "ESPI_SECRET_KEY": "test-secret",
            "ESPI_ISSUER": ISSUER,
            "ESPI_BILLING_BACKEND": "recording_billing:recording",
            "ESPI_WORKER_LEASE_SECONDS": str(self.lease_seconds),
            "ESPI_OUTBOX_CLAIM_SECONDS": str(self.claim_seconds),
            "ESPI_NOTIFY_ALLOW_LOOPBACK": "true",
            "ESPI_NOTIFY_READ_TIMEOUT": "60",
            "ESPI_SMTP_HOST": "127.0.0.1",
            "ESPI_SMTP_PORT": str(self.smtp_port),
            "ESPI_SMTP_STARTTLS": "false",
            "ESPI_MAIL_FROM": MAIL_FROM,
            "ESPI_TEST_BILLING_LOG": str(self.billing_log),
            "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            **self.extra_env,
        }
        log = self.tmp / f"worker-{name}.log"
        with log.open("wb") as output:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "espi_sst.cli", "worker", "--poll", "0.1"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started = WorkerProcess(name, process, log)
        self.started.append(started)
        return started

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


def wait_for(what: str, condition: Callable[[], bool], timeout: float, workers: Workers) -> None:
    """Poll ``condition`` every 50 ms for at most ``timeout`` s; fail with the workers' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for worker in workers.started:
            code = worker.process.poll()
            if code is not None and code != -signal.SIGKILL:
                raise AssertionError(f"worker {worker.name} exited {code}: {_tail(worker.log)}")
        time.sleep(0.05)
    logs = "\n".join(f"--- {w.name}\n{_tail(w.log)}" for w in workers.started)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def connected(app: Flask, name: str) -> bool:
    """Whether worker ``name`` holds a connection to the database (it made its first pass)."""
    with app.app_context():
        rows = db.session.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": f"espi-test-{name}"},
        ).scalar()
        db.session.rollback()
        return bool(rows)


@dataclass
class Seeded:
    request_uuids: list[str]
    passcode_mails: int


def seed(app: Flask, *, notify_uri: str, n: int, passcode_mails: int, offset: int = 0) -> Seeded:
    """``n`` confirmed rate changes (one per service agreement) and ``passcode_mails`` mails."""
    now = int(time.time())
    with app.app_context():
        session = db.session
        customer = session.scalar(select(RetailCustomer).where(RetailCustomer.username == "many"))
        if customer is None:
            customer = RetailCustomer(
                uuid=new_uuid(),
                username="many",
                password_hash="x",
                display_name="Many Meters",
                email=CUSTOMER_EMAIL,
                created_at=now,
            )
            session.add(customer)
            session.add(
                Tariff(
                    code="TOU-C",
                    name="Time of use C",
                    rin="USCA-PGPG-0100-0000",
                    role="bundled",
                    lse="PGE",
                )
            )
            register_application(
                session,
                name="Many Notifications",
                redirect_uris=["https://asp.example/cb"],
                notify_uri=notify_uri,
                client_id="many-asp",
            )
            session.flush()
        tariff = session.scalar(select(Tariff).where(Tariff.code == "TOU-C"))
        application = session.scalar(select(Application).where(Application.client_id == "many-asp"))
        assert tariff is not None and application is not None
        points = [
            UsagePoint(
                uuid=new_uuid(),
                customer_id=customer.id,
                title=f"Meter {offset + i}",
                service_kind=0,
                service_agreement=f"SA-{offset + i}",
                udc="PGE",
                lse="PGE",
            )
            for i in range(n)
        ]
        session.add_all(points)
        authorization = Authorization(
            uuid=new_uuid(),
            subscription_uuid=new_uuid(),
            customer_id=customer.id,
            application_id=application.id,
            scope="FB=4_5_15 sst:rate_change",
            status=1,
            created_at=now,
            updated_at=now,
            grant_type="authorization_code",
            usage_points=points,
        )
        session.add(authorization)
        session.flush()
        uuids = []
        for i, point in enumerate(points):
            uuids.append(new_uuid())
            session.add(
                RateChangeRequestRecord(
                    uuid=uuids[-1],
                    usage_point_id=point.id,
                    authorization_id=authorization.id,
                    application_id=application.id,
                    idempotency_key=f"key-{offset + i}",
                    request_fingerprint="f" * 64,
                    target_tariff_id=tariff.id,
                    target_rin=tariff.rin,
                    target_tariff_code=tariff.code,
                    status="confirmed",
                    requested_at=now,
                    updated_at=now,
                    confirmed_at=now,
                    otp_attempts=0,
                    processing_attempts=0,
                )
            )
        for i in range(passcode_mails):
            enqueue_email(
                session,
                to=CUSTOMER_EMAIL,
                subject=f"Utility: your code to confirm rate change {offset + i}",
                text="Your confirmation code is: 123456\n",
                now=now,
            )
        session.commit()
    return Seeded(uuids, passcode_mails)


def open_work(app: Flask) -> int:
    """Rate changes not decided plus outbox messages not sent: 0 when the workers are done."""
    with app.app_context():
        session = db.session
        undecided = session.scalar(
            select(func.count())
            .select_from(RateChangeRequestRecord)
            .where(RateChangeRequestRecord.status.in_(["confirmed", "submitted"]))
        )
        unsent = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
        session.rollback()
        return int(undecided or 0) + int(unsent or 0)


def rows(app: Flask, model: Any, *where: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(select(model).where(*where)).all())
        for row in found:
            db.session.expunge(row)
        db.session.rollback()
        return found


@contextmanager
def running(workers: Workers) -> Iterator[Workers]:
    try:
        yield workers
    finally:
        workers.stop_all()
