"""The bench's billing system: the sample backend, slowed down and watched.

``ESPI_BILLING_BACKEND=billing:factory`` (topology.py puts this folder on ``PYTHONPATH``).
Every submission appends two JSON lines to ``ESPI_BENCH_BILLING_LOG`` (``O_APPEND``: lines
from both workers never interleave): ``begin`` when the worker hands a request over, then
``end`` with the decision once the backend has decided -- ``new`` when this submission
scheduled the change, ``replay`` when the first decision stood (the backend is idempotent by
request uuid; server/sst/billing.py).  Between them it waits ``ESPI_BENCH_BILLING_DELAY``
seconds, like a slow billing API: the window in which run.py kills a worker mid-job.

Whether a change was *scheduled twice* is read from the database (``scheduled_rate_change``
rows per request uuid), not from this log: a worker killed after ``end`` but before its
commit scheduled nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from espi_sst_server.sst.billing import Decision, SampleBillingBackend
from espi_sst_server.storage.models import RateChangeRequestRecord, ScheduledRateChange
from sqlalchemy import select
from sqlalchemy.orm import Session


def _write(path: str, entry: dict[str, Any]) -> None:
    line = (json.dumps(entry) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


class WatchedBillingBackend(SampleBillingBackend):
    def __init__(self, session: Session, config: Mapping[str, Any], catalog: Any = None) -> None:
        super().__init__(session, config, catalog)
        self.log = str(config["BENCH_BILLING_LOG"])
        self.delay = float(config.get("BENCH_BILLING_DELAY", 0))

    def submit(self, request: RateChangeRequestRecord, *, now: int) -> Decision:
        entry = {"uuid": request.uuid, "pid": os.getpid()}
        _write(self.log, {**entry, "event": "begin", "t": time.time()})
        time.sleep(self.delay)
        existing = self.session.scalar(
            select(ScheduledRateChange.id).where(ScheduledRateChange.request_uuid == request.uuid)
        )
        decision = super().submit(request, now=now)
        kind = "replay" if existing is not None else "new"
        _write(self.log, {**entry, "event": "end", "t": time.time(), "kind": kind,
                          "accepted": decision.accepted})  # fmt: skip
        return decision


def factory(session: Session, config: Mapping[str, Any], catalog: Any) -> WatchedBillingBackend:
    return WatchedBillingBackend(session, config, catalog)
