"""The gauges Prometheus reads from the database at each scrape: grants by status, rate
changes by state, outbox depth and age per lane.

Why computed at scrape time and not counted as things happen: these are *states* of rows
that several processes change (web workers, the background worker, admin commands); the
database holds the one true count, and a few grouped ``COUNT(*)`` over indexed columns cost
less than any bookkeeping that could drift.  Each scrape runs three small queries on its own
short session.  Known states are always reported (0 when none), so a dashboard never meets
a missing series.  docs/operations.md, "Metrics", says what each gauge means.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from espi_sst.model.sst import RateChangeStatus

from ..observability.metrics import PREFIX
from ..outbox.queue import ASP_NOTIFICATION, EMAIL, SMS
from ..storage.models import Authorization, OutboxMessage, RateChangeRequestRecord

GRANT_STATUSES = {0: "revoked", 1: "active"}
"""ESPI AuthorizationStatus values (espi.xsd, AuthorizationStatus) and their label."""
RATE_CHANGE_STATES = tuple(status.value for status in RateChangeStatus)
"""RateChangeRequestRecord.status: the SST rate-change states (espi_sst.model.sst)."""
OUTBOX_LANES = (EMAIL, SMS, ASP_NOTIFICATION)
"""The outbox kinds by label: customer e-mail and text messages (one worker lane) and ASP
notifications (the other; server/worker.py)."""


class DatabaseCollector(Collector):
    """A ``prometheus_client`` collector that reads the current state from ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        with Session(self._engine) as session:
            yield from _grants(session)
            yield from _rate_changes(session)
            yield from _outbox(session, int(time.time()))


def _grants(session: Session) -> Iterator[Metric]:
    gauge = GaugeMetricFamily(
        f"{PREFIX}_grants",
        "Customer grants (ESPI Authorizations) by status: active or revoked (ended).",
        labels=["status"],
    )
    counts = {label: 0 for label in GRANT_STATUSES.values()}
    rows = session.execute(
        select(Authorization.status, func.count()).group_by(Authorization.status)
    )
    for status, count in rows:
        label = GRANT_STATUSES.get(status, f"status_{int(status)}")
        counts[label] = counts.get(label, 0) + int(count)
    for label, count in sorted(counts.items()):
        gauge.add_metric([label], count)
    yield gauge


def _rate_changes(session: Session) -> Iterator[Metric]:
    gauge = GaugeMetricFamily(
        f"{PREFIX}_rate_changes",
        "SST rate-change requests by state (awaitingConfirmation ... accepted, rejected).",
        labels=["state"],
    )
    counts = dict.fromkeys(RATE_CHANGE_STATES, 0)
    rows = session.execute(
        select(RateChangeRequestRecord.status, func.count()).group_by(
            RateChangeRequestRecord.status
        )
    )
    for state, count in rows:
        counts[str(state)] = int(count)
    for state, count in counts.items():
        gauge.add_metric([state], count)
    yield gauge


def _outbox(session: Session, now: int) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        f"{PREFIX}_outbox_pending_messages",
        "Outbox messages not yet sent and not given up, per worker lane.",
        labels=["lane"],
    )
    oldest = GaugeMetricFamily(
        f"{PREFIX}_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox message per lane (0 when none is pending).",
        labels=["lane"],
    )
    failed = GaugeMetricFamily(
        f"{PREFIX}_outbox_failed_messages",
        "Outbox messages the worker gave up on (failed_at set), per lane.",
        labels=["lane"],
    )
    pending: dict[str, tuple[int, int | None]] = {lane: (0, None) for lane in OUTBOX_LANES}
    rows = session.execute(
        select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
        .group_by(OutboxMessage.kind)
    )
    for lane, count, first in rows:
        pending[str(lane)] = (int(count), None if first is None else int(first))
    gave_up = dict.fromkeys(OUTBOX_LANES, 0)
    for lane, count in session.execute(
        select(OutboxMessage.kind, func.count())
        .where(OutboxMessage.failed_at.is_not(None))
        .group_by(OutboxMessage.kind)
    ):
        gave_up[str(lane)] = int(count)
    for lane, (count, first_at) in pending.items():
        depth.add_metric([lane], count)
        oldest.add_metric([lane], max(0, now - first_at) if first_at is not None else 0)
    for lane, count in gave_up.items():
        failed.add_metric([lane], count)
    yield depth
    yield oldest
    yield failed


__all__ = ["DatabaseCollector", "GRANT_STATUSES", "OUTBOX_LANES", "RATE_CHANGE_STATES"]
