"""Bill comparisons computed in batch (concept design 7.14.1): ``PrecomputedComparison``.

A utility whose rate tool runs overnight, not per request, writes each billing cycle's
comparisons to a table; ``BILL_COMPARISON_SOURCE="espi_sst_server.sst.precomputed:
PrecomputedComparison"`` serves them.  ``PRECOMPUTED_COMPARISONS`` names the table: a CSV path
(or list of paths; read again when changed) or ``{"url": ..., "query": ...}``, a query run for
one point and cycle with the parameters ``:usage_point`` (uuid), ``:service_agreement`` and
``:cycle_start`` (ISO date text).  Columns, one row per rate priced::

    usage_point      the UsagePoint uuid or the service agreement number
    cycle_start      YYYY-MM-DD, the local date the billing cycle starts (the read day)
    rin, tariff_code, tariff_name
    annual_cost      in the currency (dollars), the 12 months before cycle_start
    is_current       true on exactly one row of the point's cycle
    basis            utilityTool (default when empty) | deliveryOnly | iouMirroredCcaRate
    status, message  optional: one row insufficientHistory | singleEligibleRate | noRateTool,
                     with an optional message and empty rate columns, instead of estimates
    currency         optional: ISO 4217 numeric, default 840

A CSV is checked whole when loaded (file, line and column named); a query's rows when read.
When the batch has no row for the point's current cycle the answer is ``noRateTool`` saying
so, not kept for the cycle (``cacheable=False``), so a batch that lands later is served.  So
is a batch whose current rate is not the point's (computed before a rate change took effect).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from espi_sst.model import sst
from espi_sst.model.enums import Currency

from ._tables import (
    Row,
    TableCache,
    TableError,
    fail,
    file_stamp,
    read_table,
    required_text,
    rin_of,
)
from .adapters import AdapterConfigError
from .comparison import (
    NOT_OFFERED,
    ComparisonRequest,
    ComparisonResult,
    Estimate,
    rate_to_compare,
)

log = logging.getLogger(__name__)

COLUMNS = (
    "usage_point",
    "cycle_start",
    "rin",
    "tariff_code",
    "tariff_name",
    "annual_cost",
    "is_current",
    "basis",
)
OPTIONAL = ("status", "message", "currency")
TRUE = ("true", "1", "yes", "t", "y")
FALSE = ("false", "0", "no", "f", "n", "")
_RATE_COLUMNS = ("rin", "tariff_code", "tariff_name", "annual_cost", "is_current", "basis")


class PrecomputedTableError(TableError):
    """A batch comparison table that cannot be served (file, line and column named)."""

    code = "precomputed_comparisons_invalid"


E = PrecomputedTableError


@dataclass(frozen=True)
class Batch:
    """One point's cycle in the batch: estimates, or a status with a message."""

    status: sst.ComparisonStatus
    message: str | None
    currency: int
    estimates: tuple[Estimate, ...]


Key = tuple[str, date]


def parse_batches(rows: list[Row]) -> dict[Key, Batch]:
    """Check the rows and group them by (usage point, cycle start)."""
    groups: dict[Key, list[tuple[Row, Estimate | None, sst.ComparisonStatus, int]]] = {}
    for row in rows:
        point = required_text(row, "usage_point", E, limit=64)
        cycle = _date(row)
        status, estimate, currency = _row(row)
        groups.setdefault((point, cycle), []).append((row, estimate, status, currency))
    batches: dict[Key, Batch] = {}
    for key, members in groups.items():
        first = members[0][0]
        if any(m[1] is None for m in members):
            if len(members) > 1:
                raise fail(
                    members[1][0],
                    "status",
                    f"the cycle {key[1]} of {key[0]} has a status row; it takes no other row "
                    f"(line {first.line})",
                    E,
                )
            row, _estimate, status, currency = members[0]
            batches[key] = Batch(status, row["message"][:256] or None, currency, ())
            continue
        estimates = [m[1] for m in members if m[1] is not None]
        seen: dict[str, Row] = {}
        for row, estimate, _status, currency in members:
            assert estimate is not None
            if estimate.tariff_code in seen:
                raise fail(
                    row,
                    "tariff_code",
                    f"{estimate.tariff_code} is also on line {seen[estimate.tariff_code].line}",
                    E,
                )
            seen[estimate.tariff_code] = row
            if currency != members[0][3]:
                raise fail(row, "currency", f"differs from line {first.line}", E)
        current = [m for m in members if m[1] is not None and m[1].is_current]
        if len(current) != 1:
            where = current[1][0] if len(current) > 1 else first
            raise fail(
                where,
                "is_current",
                f"exactly one row of {key[0]}'s cycle {key[1]} is the current rate; "
                f"found {len(current)}",
                E,
            )
        if len(estimates) < 2:
            raise fail(
                first,
                "tariff_code",
                f"{key[0]}'s cycle {key[1]} prices one rate; a comparison needs the current "
                "rate and another (or a status row: singleEligibleRate)",
                E,
            )
        batches[key] = Batch(sst.ComparisonStatus.available, None, members[0][3], tuple(estimates))
    return batches


def _date(row: Row) -> date:
    value = row["cycle_start"]
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise fail(row, "cycle_start", f"{value!r} is not a date (YYYY-MM-DD)", E) from None


def _row(row: Row) -> tuple[sst.ComparisonStatus, Estimate | None, int]:
    try:
        status = sst.ComparisonStatus(row["status"] or "available")
    except ValueError:
        raise fail(row, "status", f"{row['status']!r} is not a comparison status", E) from None
    currency = int(Currency.USD)
    if row["currency"]:
        if not row["currency"].isdigit() or not 0 < int(row["currency"]) < 1000:
            raise fail(row, "currency", "an ISO 4217 numeric code, like 840", E)
        currency = int(row["currency"])
    if status is not sst.ComparisonStatus.available:
        filled = [
            c for c in _RATE_COLUMNS if row[c] and not (c == "is_current" and row[c] in FALSE)
        ]
        if filled:
            raise fail(row, filled[0], f"a {status.value} row prices no rate; leave it empty", E)
        return status, None, currency
    rin = str(rin_of(row, "rin", E))
    try:
        cost = float(row["annual_cost"])
    except ValueError:
        cost = math.nan
    if not math.isfinite(cost):
        raise fail(row, "annual_cost", f"{row['annual_cost']!r} is not a number", E)
    flag = row["is_current"].lower()
    if flag not in TRUE + FALSE:
        raise fail(row, "is_current", f"{row['is_current']!r} is not true or false", E)
    try:
        basis = sst.EstimateBasis(row["basis"] or sst.EstimateBasis.utilityTool.value)
    except ValueError:
        raise fail(
            row,
            "basis",
            f"{row['basis']!r} is not utilityTool, deliveryOnly or iouMirroredCcaRate",
            E,
        ) from None
    estimate = Estimate(
        rin=rin,
        tariff_code=required_text(row, "tariff_code", E, limit=64),
        tariff_name=required_text(row, "tariff_name", E, limit=256),
        annual_cost=cost,
        is_current=flag in TRUE,
        basis=basis,
    )
    return status, estimate, currency


def load_precomputed(setting: object) -> dict[Key, Batch]:
    """A whole CSV batch, checked; raises :class:`PrecomputedTableError`."""
    return parse_batches(read_table(setting, required=COLUMNS, optional=OPTIONAL, error=E))


_BATCHES: TableCache[dict[Key, Batch]] = TableCache(load_precomputed, "PRECOMPUTED_COMPARISONS")


class PrecomputedComparison:
    """A :class:`~.comparison.BillComparisonSource` serving the batch's rows."""

    def __init__(self, session: Session, config: Mapping[str, Any]) -> None:
        setting = config.get("PRECOMPUTED_COMPARISONS")
        if not setting:
            raise AdapterConfigError(
                "BILL_COMPARISON_SOURCE is the precomputed table, but PRECOMPUTED_COMPARISONS "
                "is not set"
            )
        self.setting = setting

    def compare(self, request: ComparisonRequest) -> ComparisonResult:
        point = request.point
        current = rate_to_compare(request)
        if current is None:
            return NOT_OFFERED
        cycle = datetime.fromtimestamp(request.usage_end, request.zone).date()
        try:
            batch = self._batch(point.uuid, point.service_agreement, cycle)
        except PrecomputedTableError as exc:
            log.error("precomputed comparisons: %s", exc)
            return _not_yet("the utility's batch comparison could not be read")
        if batch is None:
            return _not_yet(
                f"the utility's batch comparison for the billing cycle starting {cycle} is not "
                "available yet"
            )
        if batch.status is not sst.ComparisonStatus.available:
            return ComparisonResult(batch.status, batch.message)
        priced = next(e for e in batch.estimates if e.is_current)
        if priced.tariff_code != current.tariff_code:
            log.warning(
                "precomputed comparison of %s for %s prices %s as current, not %s",
                point.uuid,
                cycle,
                priced.tariff_code,
                current.tariff_code,
            )
            return _not_yet(
                f"the utility's batch comparison for the billing cycle starting {cycle} was "
                f"made for another current rate ({priced.tariff_code})"
            )
        return ComparisonResult(
            sst.ComparisonStatus.available,
            None,
            request.usage_start,
            request.usage_end,
            batch.currency,
            batch.estimates,
        )

    def _batch(self, uuid: str, agreement: str, cycle: date) -> Batch | None:
        if isinstance(self.setting, Mapping):  # a query per point and cycle
            params = {
                "usage_point": uuid,
                "service_agreement": agreement,
                "cycle_start": cycle.isoformat(),
            }
            rows = read_table(
                self.setting, required=COLUMNS, optional=OPTIONAL, error=E, params=params
            )
            rows = [r for r in rows if r["usage_point"] in (uuid, agreement)]
            batches = parse_batches(rows)
        else:
            batches = _BATCHES.get(self.setting, stamp=file_stamp(self.setting), refresh_seconds=0)
        return batches.get((uuid, cycle)) or batches.get((agreement, cycle))


def _not_yet(message: str) -> ComparisonResult:
    return ComparisonResult(sst.ComparisonStatus.noRateTool, message[:256], cacheable=False)


__all__ = ["Batch", "PrecomputedComparison", "PrecomputedTableError", "load_precomputed"]
