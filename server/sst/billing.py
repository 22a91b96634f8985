"""The billing system behind a rate change (1623(c)(1)(D)): the :class:`BillingBackend` interface
and the sample backend.

The SST never changes a rate itself: the worker hands each confirmed request to the
utility's billing system and records its decision.  A backend must be **idempotent by
request uuid**: the worker may submit the same request again after a crash (it cannot know
whether the first submission got through), and the second call must return the first
decision without scheduling anything twice.

:class:`SampleBillingBackend` applies the eligibility rules the concept design names, in
this order, each with its reason code (all five are :func:`.eligibility.ineligibility`, which
RateInformation states and the API asks before it sends a passcode; here they are the second
line, for a service agreement that changed in between):

1. the target is the current rate -> ``alreadyOnRate``;
2. a CCA generation product -> ``generationProductBelongsToCca`` (the CCA changes those);
3. a rate of another LSE (a bundled IOU rate for a CCA customer, say) ->
   ``lseSwitchNotAllowed`` (switching LSE is not an SST transaction);
4. not among the rates the catalog offers this service agreement -> ``notEligible``;
5. a voluntary change less than 12 months ago -> ``twelveMonthRestriction``;

and otherwise schedules the change for the start of the next billing cycle
(:class:`~espi_sst_server.storage.models.ScheduledRateChange`, unique per request), which
:meth:`apply_due` makes effective on that date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from espi_sst.model import sst

from ..storage.models import (
    RateChangeRequestRecord,
    ScheduledRateChange,
    Tariff,
    UsagePoint,
)
from ..storage.rows import audit
from .catalog import TariffTableCatalog, catalog_for
from .comparison import cycle_bounds
from .eligibility import ineligibility


@dataclass(frozen=True)
class Decision:
    """What the billing system decided about one request."""

    accepted: bool
    effective_date: int | None = None  # accepted: the start of the next billing cycle
    reason: sst.RejectionReason | None = None  # rejected: why
    message: str | None = None


class BillingBackend(Protocol):
    """A utility's billing system, as the SST worker sees it."""

    def submit(self, request: RateChangeRequestRecord, *, now: int) -> Decision:
        """Decide (and on acceptance schedule) ``request``; idempotent by ``request.uuid``."""
        ...

    def apply_due(self, *, now: int) -> int:
        """Make scheduled changes whose date has come effective; returns how many."""
        ...


def backend_for(app: Flask, session: Session) -> BillingBackend:
    """The configured backend (``BILLING_BACKEND``), else the sample."""
    from .adapters import load_factory

    factory = load_factory(app.config, "BILLING_BACKEND", SampleBillingBackend)
    backend: BillingBackend = factory(session, app.config, catalog_for(app, session))
    return backend


class SampleBillingBackend:
    """Decides in the database the SST uses; the schedule commits with the decision."""

    def __init__(
        self, session: Session, config: Mapping[str, Any], catalog: Any | None = None
    ) -> None:
        self.session = session
        self.config = config
        self.catalog = catalog or TariffTableCatalog(session, config)

    def submit(self, request: RateChangeRequestRecord, *, now: int) -> Decision:
        scheduled = self.session.scalar(
            select(ScheduledRateChange).where(ScheduledRateChange.request_uuid == request.uuid)
        )
        if scheduled is not None:  # a retry after a crash: the first decision stands
            return Decision(True, scheduled.effective_date)
        point = request.usage_point
        target = request.target_tariff
        rejected = self._rule_out(point, request, now)
        if rejected is not None:
            return rejected
        _start, next_cycle = cycle_bounds(point, now)
        self.session.add(
            ScheduledRateChange(
                request_uuid=request.uuid,
                usage_point_id=point.id,
                tariff_id=target.id,
                effective_date=next_cycle,
                created_at=now,
            )
        )
        return Decision(
            True,
            next_cycle,
            message=f"{target.code} from {_day(next_cycle)} (start of the next billing cycle)",
        )

    def _rule_out(
        self, point: UsagePoint, request: RateChangeRequestRecord, now: int
    ) -> Decision | None:
        refused = ineligibility(self.catalog, point, request.target_tariff, now=now)
        if refused is not None:  # the API refused these up front; the point may have changed
            return Decision(False, reason=refused.reason, message=refused.message)
        return None

    def apply_due(self, *, now: int) -> int:
        due = self.session.scalars(
            select(ScheduledRateChange).where(
                ScheduledRateChange.applied_at.is_(None),
                ScheduledRateChange.effective_date <= now,
            )
        ).all()
        applied = 0
        for change in due:
            claimed = self.session.execute(
                update(ScheduledRateChange)
                .where(
                    ScheduledRateChange.id == change.id, ScheduledRateChange.applied_at.is_(None)
                )
                .values(applied_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another worker applied it
            point = self.session.get(UsagePoint, change.usage_point_id)
            assert point is not None
            previous = point.tariff.code if point.tariff else None
            point.tariff = self.session.get(Tariff, change.tariff_id)
            point.rate_effective_date = change.effective_date
            point.last_voluntary_change_at = change.effective_date
            audit(
                self.session,
                at=now,
                actor="billing",
                action="rate_change_applied",
                subject=f"rate_change_request:{change.request_uuid}",
                detail={
                    "usage_point": point.uuid,
                    "from": previous,
                    "to_tariff_id": change.tariff_id,
                    "effective_date": change.effective_date,
                },
            )
            applied += 1
        return applied


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
