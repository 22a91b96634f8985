"""Bill comparison (1623(c)(1)(C)): estimated annual bills under the current and each eligible rate.

The estimate is the utility's rate-analysis tool's job; :class:`BillComparisonSource` is the
interface it plugs in through (``BILL_COMPARISON_SOURCE``).  :class:`TariffBillComparison` is
the sample: it prices the customer's last 12 months of interval data under each rate's
tariff definition (``espi-sst-tariff/1``: seasons, TOU periods, baseline tiers, fixed
charges, Net Billing export credit) with :mod:`.pricing`, billing cycle by billing cycle.

:func:`current_comparison` caches one result per usage point and billing cycle (the cycle
starts on the point's read day, local time): an ASP asking a thousand times in a cycle gets
the same comparison, computed once, valid until the next cycle starts (NFR: "stable for the
billing cycle").  With fewer than 12 months of history the answer is the explicit
``insufficientHistory`` status, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from espi_sst import Rin
from espi_sst.model import espi as m
from espi_sst.model import sst
from espi_sst.model.enums import Currency, FlowDirectionKind, ServiceKind, UnitSymbolKind
from espi_sst.model.sst import MAX_VALIDITY_SECONDS, add_months

from ..security import new_uuid
from ..storage.interval_data import readings_between
from ..storage.models import (
    BillComparisonRecord,
    MeterReading,
    ReadingType,
    Tariff,
    UsagePoint,
)
from ..storage.zones import zone_of
from . import pricing
from .catalog import CurrentRates, RateOption, caches_generation_rin, catalog_for

COST_UNITS = 100_000  # ESPI cost: 1e-5 of the currency


@dataclass(frozen=True)
class Estimate:
    rin: str
    tariff_code: str
    tariff_name: str
    annual_cost: float  # in the currency (dollars)
    is_current: bool
    basis: sst.EstimateBasis


@dataclass(frozen=True)
class ComparisonResult:
    status: sst.ComparisonStatus
    message: str | None = None
    usage_start: int | None = None
    usage_end: int | None = None
    currency: int | None = None
    estimates: tuple[Estimate, ...] = ()
    cacheable: bool = True
    """False: do not keep this answer for the cycle (a rate tool that did not answer, a batch
    not yet run); the GET still gets it, and the next GET asks the source again."""


Interval = tuple[int, int, float]
"""One reading: start, duration (epoch seconds) and kWh."""
Usage = tuple[list[Interval], list[Interval] | None, int | None, int | None]
"""Delivered and exported (None: no export channel) kWh per interval in the period, and the
first and last moment of the data held (None: none)."""


class UsageReader(Protocol):
    """Where a point's interval data come from when this server does not hold them.

    Bolt-on mode: the existing custodian, read with the ASP's token inside the ASP's request
    (``upstream/usage.py``).  The HTTP layer makes it and passes it in, so the domain never
    reads the request (its token, ``flask.g``) itself.
    """

    def __call__(self, point: UsagePoint, usage_start: int, usage_end: int) -> Usage: ...


@dataclass(frozen=True)
class ComparisonRequest:
    """What a source is asked: one usage point, its rates, and the 12 months to price."""

    point: UsagePoint
    current: CurrentRates
    options: list[RateOption]
    usage_start: int  # local midnight, 12 months before usage_end
    usage_end: int  # the start of the current billing cycle
    zone: tzinfo
    read_usage: UsageReader | None = None
    """Bolt-on mode's reader of the usage held upstream; None outside a request."""


class BillComparisonSource(Protocol):
    """A utility's rate-analysis tool."""

    def compare(self, request: ComparisonRequest) -> ComparisonResult: ...


NOT_OFFERED = ComparisonResult(
    sst.ComparisonStatus.noRateTool,
    "no rate comparison is offered for this service (only electric rates have RINs)",
)
"""The answer for a service without a rate to compare (gas, or no rate on file)."""


def rate_to_compare(request: ComparisonRequest) -> sst.CurrentRate | None:
    """The current rate the estimates are compared with: the bundled or delivery rate of an
    electric service; None when there is none (then the answer is :data:`NOT_OFFERED`)."""
    if request.point.service_kind != ServiceKind.electricity:
        return None
    return next((r for r in request.current.rates if r.role is not sst.Role.generation), None)


def only_rate(tariff_code: str | None) -> ComparisonResult:
    """The answer when the current rate is the only one open to the service agreement."""
    return ComparisonResult(
        sst.ComparisonStatus.singleEligibleRate,
        f"{tariff_code} is the only rate this service agreement is eligible for",
    )


# ---- billing cycles ---------------------------------------------------------------------


def cycle_bounds(point: UsagePoint, now: int) -> tuple[int, int]:
    """(start, next start) of the billing cycle holding ``now``, local read-day midnights."""
    zone = zone_of(point.local_time)
    read_day = point.read_day or 1
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(day=read_day, hour=0, minute=0, second=0, microsecond=0)
    if start > local:
        start = add_months(start, -1)
    following = add_months(start, 1)
    return _epoch(start, zone), _epoch(following, zone)


def _epoch(moment: datetime, zone: tzinfo) -> int:
    """A naive-wall-clock local midnight -> epoch seconds (re-localised across DST)."""
    naive = moment.replace(tzinfo=None)
    return int(naive.replace(tzinfo=zone).timestamp())


# ---- the cache --------------------------------------------------------------------------


def current_comparison(
    app: Flask,
    session: Session,
    point: UsagePoint,
    *,
    now: int,
    read_usage: UsageReader | None = None,
) -> BillComparisonRecord:
    """This cycle's comparison for ``point``: the stored one, or computed once and stored.

    ``read_usage``: in bolt-on mode, where the usage is held upstream (see
    :class:`UsageReader`)."""
    cycle_start, next_cycle = cycle_bounds(point, now)
    stored = _stored(session, point.id, cycle_start)
    if stored is not None:
        return stored
    result = compute(app, session, point, cycle_start, read_usage=read_usage)
    record = BillComparisonRecord(
        uuid=new_uuid(),
        usage_point_id=point.id,
        cycle_start=cycle_start,
        computed_at=now,
        valid_until=min(next_cycle, now + MAX_VALIDITY_SECONDS) if result.cacheable else now,
        status=result.status.value,
        status_message=result.message,
        usage_start=result.usage_start,
        usage_duration=(
            None
            if result.usage_start is None or result.usage_end is None
            else result.usage_end - result.usage_start
        ),
        currency=result.currency,
        estimates=[_estimate_row(e) for e in result.estimates],
    )
    if not result.cacheable:  # answered, not stored: valid only now, asked again next GET
        return record
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # another request stored this cycle's comparison first
        stored = _stored(session, point.id, cycle_start)
        assert stored is not None
        return stored
    session.commit()
    return record


def _stored(session: Session, point_id: int, cycle_start: int) -> BillComparisonRecord | None:
    return session.scalar(
        select(BillComparisonRecord).where(
            BillComparisonRecord.usage_point_id == point_id,
            BillComparisonRecord.cycle_start == cycle_start,
        )
    )


def _estimate_row(estimate: Estimate) -> dict[str, Any]:
    return {
        "rin": estimate.rin,
        "tariff_code": estimate.tariff_code,
        "tariff_name": estimate.tariff_name,
        "annual_cost": round(estimate.annual_cost * COST_UNITS),
        "is_current": estimate.is_current,
        "basis": estimate.basis.value,
    }


def compute(
    app: Flask,
    session: Session,
    point: UsagePoint,
    cycle_start: int,
    *,
    read_usage: UsageReader | None = None,
) -> ComparisonResult:
    """Ask the configured source (``BILL_COMPARISON_SOURCE``) about the 12 months before
    ``cycle_start``."""
    from .adapters import load_factory

    zone = zone_of(point.local_time)
    start_local = datetime.fromtimestamp(cycle_start, zone)
    usage_start = _epoch(add_months(start_local, -12), zone)
    catalog = catalog_for(app, session)
    request = ComparisonRequest(
        point=point,
        current=catalog.current_rates(point),
        options=catalog.eligible_rates(point),
        usage_start=usage_start,
        usage_end=cycle_start,
        zone=zone,
        read_usage=read_usage,
    )
    factory = load_factory(app.config, "BILL_COMPARISON_SOURCE", TariffBillComparison)
    source: BillComparisonSource = factory(session, app.config)
    return source.compare(request)


def to_model(record: BillComparisonRecord) -> sst.BillComparison:
    """The stored comparison as the SST resource (``savingsVersusCurrent`` derived here)."""
    rows = record.estimates
    current = next((r["annual_cost"] for r in rows if r["is_current"]), None)
    period = None
    if record.usage_start is not None and record.usage_duration is not None:
        period = m.DateTimeInterval(start=record.usage_start, duration=record.usage_duration)
    return sst.BillComparison(
        status=sst.ComparisonStatus(record.status),
        status_message=record.status_message,
        usage_period=period,
        computed_at=record.computed_at,
        valid_until=record.valid_until,
        currency=record.currency,
        rate_estimate=[
            sst.RateEstimate(
                rin=Rin.parse(r["rin"]),
                tariff_code=r["tariff_code"],
                tariff_name=r["tariff_name"][:256],
                estimated_annual_cost=r["annual_cost"],
                average_monthly_cost=round(r["annual_cost"] / 12),
                savings_versus_current=0 if current is None else current - r["annual_cost"],
                is_current=r["is_current"],
                basis=sst.EstimateBasis(r["basis"]),
            )
            for r in rows
        ],
    )


# ---- the sample rate-analysis tool --------------------------------------------------------


class TariffBillComparison:
    """Prices 12 months of the customer's interval data under each eligible tariff."""

    def __init__(self, session: Session, config: Mapping[str, Any]) -> None:
        self.session = session
        self.config = config

    def compare(self, request: ComparisonRequest) -> ComparisonResult:
        point = request.point
        electric = point.service_kind == ServiceKind.electricity
        if not electric or point.tariff is None or point.tariff.definition is None:
            return NOT_OFFERED
        options = [o for o in request.options if o.switchable and o.tariff is not None]
        if not any(o.tariff is not None and o.tariff.id != point.tariff.id for o in options):
            return only_rate(point.tariff.code)
        delivered, exported, first, last = self._usage(point, request)
        if first is None or last is None or first > request.usage_start or last < request.usage_end:
            held = 0 if first is None or last is None else max(0, last - first)
            return ComparisonResult(
                sst.ComparisonStatus.insufficientHistory,
                f"{held // 86400} days of usage history; 12 months are needed for an estimate",
            )
        days = pricing.days_from_intervals(delivered, request.zone, exported=exported)
        read_day = point.read_day or 1
        territory = point.baseline_territory
        credit = float(self.config.get("NET_BILLING_EXPORT_CREDIT", 0.0)) if exported else 0.0
        cached = caches_generation_rin(self.config, point.lse)
        estimates: list[Estimate] = []
        current_in_options = any(o.tariff is point.tariff for o in options)
        priced = [o.tariff for o in options if o.tariff is not None]
        if not current_in_options:
            priced.insert(0, point.tariff)
        for tariff in priced:
            is_current = tariff.id == point.tariff.id
            definitions, basis = self._definitions(point, tariff, is_current, cached)
            cost = pricing.annual_cost(
                definitions,
                days,
                read_day=read_day,
                territory=territory,
                export_credit_per_unit=credit,
            )
            estimates.append(
                Estimate(tariff.rin, tariff.code, tariff.name, cost, is_current, basis)
            )
        currency = int((point.tariff.definition or {}).get("currency_code", Currency.USD))
        return ComparisonResult(
            sst.ComparisonStatus.available,
            None,
            request.usage_start,
            request.usage_end,
            currency,
            tuple(estimates),
        )

    def _definitions(
        self, point: UsagePoint, tariff: Tariff, is_current: bool, cached: bool
    ) -> tuple[list[dict[str, Any]], sst.EstimateBasis]:
        """The tariffs to add up for one estimate, and what the estimate is based on."""
        own = [tariff.definition or {}]
        if point.bundled:
            return own, sst.EstimateBasis.utilityTool
        if not cached:
            return own, sst.EstimateBasis.deliveryOnly
        if is_current and point.generation_tariff is not None:
            return own + [point.generation_tariff.definition or {}], sst.EstimateBasis.utilityTool
        generation = self._generation_counterpart(point, tariff)
        if generation is None:
            return own, sst.EstimateBasis.deliveryOnly
        return own + [generation.definition or {}], sst.EstimateBasis.iouMirroredCcaRate

    def _generation_counterpart(self, point: UsagePoint, delivery: Tariff) -> Tariff | None:
        """The CCA generation rate that mirrors the bundled version of ``delivery``."""
        rin = Rin.parse(delivery.rin)
        bundled = f"{rin.country}{rin.state}-{rin.distribution_company}{rin.distribution_company}"
        bundled += f"-{rin.rate}-{rin.location}"
        found: Tariff | None = self.session.scalar(
            select(Tariff).where(
                Tariff.role == "generation",
                Tariff.lse == point.lse,
                Tariff.iou_mirror_of == bundled,
            )
        )
        return found

    def _usage(self, point: UsagePoint, request: ComparisonRequest) -> Usage:
        """Delivered and exported kWh per interval in the period, and the data's extent."""
        if self.config.get("UPSTREAM_RESOURCE_URL"):  # bolt-on mode: the data are upstream
            if request.read_usage is None:
                return [], None, None, None
            return request.read_usage(point, request.usage_start, request.usage_end)
        channels = self.session.execute(
            select(MeterReading.id, ReadingType.flow_direction, ReadingType.power_of_ten_multiplier)
            .join(ReadingType, ReadingType.id == MeterReading.reading_type_id)
            .where(MeterReading.usage_point_id == point.id, ReadingType.uom == UnitSymbolKind.Wh)
        ).all()
        delivered: list[Interval] = []
        exported: list[Interval] | None = None
        first = last = None
        margin = timedelta(days=1).total_seconds()
        for reading_id, flow, power in channels:
            scale = 10 ** (power or 0) / 1000  # Wh -> kWh
            rows = readings_between(
                self.session, reading_id, request.usage_start - int(margin), request.usage_end
            )
            values = [
                (s, d, v * scale)
                for s, d, v, _cost, _quality in rows
                if request.usage_start <= s < request.usage_end
            ]
            if flow == FlowDirectionKind.reverse:  # received: rooftop solar export
                exported = values
            elif flow == FlowDirectionKind.forward or flow is None:  # delivered
                delivered.extend(values)
                if rows:
                    first = rows[0][0] if first is None else min(first, rows[0][0])
                    end = rows[-1][0] + rows[-1][1]
                    last = end if last is None else max(last, end)
        return delivered, exported, first, last
