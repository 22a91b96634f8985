"""``espi-sst worker``: the server's background work, durable in the database.

One pass (:meth:`Worker.run_once`) does, each step in its own transactions:

1. expire rate changes whose passcode ran out unconfirmed;
2. end authorizations past their end date (``lifecycle.expire_authorizations``);
3. hand every confirmed rate change to the billing backend and record its decision;
4. make scheduled rate changes effective on their date (``BillingBackend.apply_due``);
5. deliver due customer e-mail (the outbox's e-mail lane), with backoff;
6. deliver due ASP notifications (the outbox's ASP lane), with backoff per notify URI.

The two outbox lanes never wait for each other (issue 11, item 11: one ASP whose notify
URI never answered held every customer's passcode for a minute).  :meth:`Worker.run_once`
takes them in this order, e-mail first; :meth:`Worker.run_forever` runs the ASP lane in a
thread of its own, so steps 1-5 go on while an ASP's endpoint is slow.  Each POST has its
own connect and read timeouts (``NOTIFY_CONNECT_TIMEOUT``, ``NOTIFY_READ_TIMEOUT``), and a
notify URI that fails is backed off as a whole (server/outbox/queue.py).

Nothing lives only in memory: a worker killed at any point leaves every request in a
stored state another worker (or the same one, restarted) resumes from.  Step 3 claims a
request with a conditional UPDATE (``confirmed`` -> ``submitted`` with a lease); a claim
whose lease runs out -- its worker died mid-submission -- is claimed again, and the
backend's idempotency by request uuid makes the second submission return the first
decision instead of scheduling twice.  A worker records the decision only while its lease
still holds (:meth:`Worker._still_held`): one that was merely slow, not dead, finds the
request claimed by another and leaves the decision to it.  Several workers may run at once.  A billing system
that keeps failing is not retried forever: after ``BILLING_MAX_ATTEMPTS`` submissions the
request is rejected (reason ``other``), which tells the customer and the ASP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from espi_sst.model import sst

from .observability import logs
from .outbox.queue import ASP_NOTIFICATION, CUSTOMER_KINDS, deliver_due
from .security import now as current_time
from .security import running_clock
from .sst import rate_change
from .sst.billing import backend_for
from .storage import db
from .storage.models import RateChangeRequestRecord
from .storage.rows import audit, rowcount

log = logging.getLogger(__name__)
Status = rate_change.Status
GAVE_UP_MESSAGE = "the billing system could not process the request; ask the utility"


@dataclass
class WorkReport:
    expired_requests: int = 0
    expired_authorizations: int = 0
    decided: int = 0
    applied: int = 0
    sent: int = 0
    retried: int = 0
    errors: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.expired_requests or self.decided or self.applied or self.sent)


class Worker:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def run_once(self, *, now: int | None = None) -> WorkReport:
        """One pass of every step, the ASP lane last (tests, ``espi-sst worker --once``)."""
        clock = running_clock(current_time() if now is None else now)
        report = self._main_pass(clock())
        notified = self._asp_pass(clock())
        report.sent += notified.sent
        report.retried += notified.retried
        return report

    def _main_pass(self, moment: int) -> WorkReport:
        """Steps 1-5: everything but the ASP notifications."""
        report = WorkReport()
        clock = running_clock(moment)  # each step (and claim) from its own time: issue 15
        with self.app.app_context():
            session = db.session
            try:
                report.expired_requests = self._step(
                    session,
                    lambda: rate_change.expire_unconfirmed(self.app, session, now=clock()),
                )
                report.expired_authorizations = self._step(
                    session, lambda: _expire_authorizations(session, clock())
                )
                report.decided = self._process_confirmed(session, clock, report)
                report.applied = self._step(
                    session, lambda: backend_for(self.app, session).apply_due(now=clock())
                )
                delivery = deliver_due(self.app, session, now=clock(), kind=CUSTOMER_KINDS)
                report.sent, report.retried = delivery.sent, delivery.retried
            finally:
                session.rollback()
        return report

    def _asp_pass(self, moment: int) -> WorkReport:
        """Step 6, the ASP lane: in its own app context (its own session and thread)."""
        report = WorkReport()
        with self.app.app_context():
            session = db.session
            try:
                delivery = deliver_due(self.app, session, now=moment, kind=ASP_NOTIFICATION)
                report.sent, report.retried = delivery.sent, delivery.retried
            finally:
                session.rollback()
        return report

    def _step(self, session: Session, work: object) -> int:
        assert callable(work)
        try:
            done = int(work())
            session.commit()
            return done
        except Exception:
            session.rollback()
            log.exception("worker step failed; it is retried on the next pass")
            return 0

    def _process_confirmed(
        self, session: Session, clock: Callable[[], int], report: WorkReport
    ) -> int:
        """Submit each confirmed request (or one whose lease ran out) to billing, each leased
        from the time it is claimed: one slow submission must not leave the next request's
        lease over before it starts (another worker would submit it too)."""
        lease = int(self.app.config["WORKER_LEASE_SECONDS"])
        now = clock()
        candidates = session.execute(
            select(
                RateChangeRequestRecord.id,
                RateChangeRequestRecord.status,
                RateChangeRequestRecord.lease_until,
            )
            .where(
                or_(
                    RateChangeRequestRecord.status == Status.confirmed.value,
                    (RateChangeRequestRecord.status == Status.submitted.value)
                    & (RateChangeRequestRecord.lease_until <= now),
                )
            )
            .order_by(RateChangeRequestRecord.id)
            .limit(20)
        ).all()
        session.rollback()
        decided = 0
        for request_id, status, lease_until in candidates:
            now = clock()
            if not self._claim(session, request_id, status, lease_until, now, lease):
                continue
            record = session.get(RateChangeRequestRecord, request_id)
            assert record is not None
            started = time.perf_counter()
            job: dict[str, Any] = {
                "lane": "billing",
                "job": f"rate_change:{record.uuid}",
                "started": started,
                "attempt": record.processing_attempts,
            }  # the request id of the POST is not stored with a rate change: none here
            try:
                decision = backend_for(self.app, session).submit(record, now=now)
                if not self._still_held(session, request_id, now + lease):
                    session.rollback()  # the lease ran out mid-submission: the taker decides
                    report.errors += 1
                    logs.log_job(outcome="lease_lost", level=logging.WARNING, **job)
                    continue
                rate_change.decide(
                    self.app,
                    session,
                    record,
                    accepted=decision.accepted,
                    effective_date=decision.effective_date,
                    reason=decision.reason,
                    message=decision.message,
                    now=now,
                )
                session.commit()
                decided += 1
                logs.log_job(outcome="accepted" if decision.accepted else "rejected", **job)
            except Exception as exc:  # the billing system failed: retry when the lease ends
                session.rollback()
                report.errors += 1
                logs.log_job(outcome="error", level=logging.WARNING, **job)
                log.exception("billing backend failed for rate change %s", request_id)
                error = f"{type(exc).__name__}: {exc}"[:500]
                audit(
                    session,
                    at=now,
                    actor="system",
                    action="rate_change_submission_failed",
                    subject=f"rate_change_request:{record.uuid}",
                    detail={"error": error},
                )
                session.commit()
                decided += self._give_up(session, record, error, now=now, lease_until=now + lease)
        return decided

    @staticmethod
    def _still_held(session: Session, request_id: int, lease_until: int) -> bool:
        """Whether this worker's claim still holds, locking the row until the commit.

        A submission slower than ``WORKER_LEASE_SECONDS`` lets another worker claim the
        request again; both then hold a billing decision (the backend returned the same one
        twice: it is idempotent by request uuid), and only one may record it, or the customer
        and the ASP would hear of it twice.  The conditional UPDATE is that test: on
        PostgreSQL it also locks the row, so a competing claim waits for this commit and then
        finds the request decided.
        """
        held = session.execute(
            update(RateChangeRequestRecord)
            .where(
                RateChangeRequestRecord.id == request_id,
                RateChangeRequestRecord.status == Status.submitted.value,
                RateChangeRequestRecord.lease_until == lease_until,
            )
            .values(lease_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        return rowcount(held) == 1

    def _give_up(
        self,
        session: Session,
        record: RateChangeRequestRecord,
        error: str,
        *,
        now: int,
        lease_until: int,
    ) -> int:
        """Reject a request the billing system failed ``BILLING_MAX_ATTEMPTS`` times; 1 if so.

        Rejected with reason ``other`` through :func:`rate_change.decide`, so the customer
        is e-mailed, the ASP notified and the decision audited, after a ``rate_change_gave_up``
        row.  Only while this worker's claim holds (a worker that took over decides itself).
        """
        limit = int(self.app.config["BILLING_MAX_ATTEMPTS"])
        attempts, uuid = record.processing_attempts, record.uuid
        if (
            attempts < limit
            or record.status != Status.submitted.value
            or record.lease_until != lease_until
        ):
            return 0
        try:
            audit(
                session,
                at=now,
                actor="system",
                action="rate_change_gave_up",
                subject=f"rate_change_request:{uuid}",
                detail={"attempts": attempts, "limit": limit, "error": error},
            )
            rate_change.decide(
                self.app,
                session,
                record,
                accepted=False,
                effective_date=None,
                reason=sst.RejectionReason.other,
                message=GAVE_UP_MESSAGE,
                now=now,
            )
            session.commit()
        except Exception:  # still submitted: the next lease tries (and gives up) again
            session.rollback()
            log.exception("could not give up on rate change %s", uuid)
            return 0
        log.warning("gave up on rate change %s after %s attempts", uuid, attempts)
        return 1

    def _claim(
        self,
        session: Session,
        request_id: int,
        status: str,
        lease_until: int | None,
        now: int,
        lease: int,
    ) -> bool:
        """confirmed (or submitted with a dead lease) -> submitted, leased to this worker."""
        condition = [
            RateChangeRequestRecord.id == request_id,
            RateChangeRequestRecord.status == status,
        ]
        if lease_until is None:
            condition.append(RateChangeRequestRecord.lease_until.is_(None))
        else:
            condition.append(RateChangeRequestRecord.lease_until == lease_until)
        claimed = session.execute(
            update(RateChangeRequestRecord)
            .where(*condition)
            .values(
                status=Status.submitted.value,
                lease_until=now + lease,
                submitted_at=now,
                updated_at=now,
                processing_attempts=RateChangeRequestRecord.processing_attempts + 1,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return False
        if status == Status.confirmed.value:  # a new status: audit it and tell the ASP
            record = session.get(RateChangeRequestRecord, request_id)
            assert record is not None
            session.refresh(record)
            rate_change.announce(self.app, session, record, "rate_change_submitted", now)
        session.commit()
        return True

    def run_forever(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        """Pass after pass until ``stop`` is set; a busy pass is followed at once by another.

        The ASP lane loops in a thread of its own beside the main passes.
        """
        lane = threading.Thread(
            target=self._loop,
            args=(stop, poll_seconds, lambda: self._asp_pass(current_time())),
            name="espi-sst-worker-asp-lane",
            daemon=True,
        )
        lane.start()
        try:
            self._loop(stop, poll_seconds, lambda: self._main_pass(current_time()))
        finally:
            stop.set()
            lane.join(timeout=float(self.app.config["NOTIFY_READ_TIMEOUT"]) + 10)

    @staticmethod
    def _loop(
        stop: threading.Event, poll_seconds: float, one_pass: Callable[[], WorkReport]
    ) -> None:
        while not stop.is_set():
            try:
                report = one_pass()
            except Exception:
                log.exception("worker pass failed")
                report = WorkReport()
            if not report.busy:
                stop.wait(poll_seconds)


def _expire_authorizations(session: Session, now: int) -> int:
    from .lifecycle.access import expire_authorizations

    return expire_authorizations(session, now=now)


def main_loop(app: Flask, *, once: bool, poll_seconds: float) -> int:
    worker = Worker(app)
    if once:
        report = worker.run_once()
        print(report)
        return 0
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        worker.run_forever(stop, poll_seconds=poll_seconds)
    except KeyboardInterrupt:
        pass
    return 0
