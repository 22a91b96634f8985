"""``interval-data`` from CSV: one reading per row, into a usage point's ``delivered``
channel (the meter reading ``usage-points.csv`` created, :mod:`.channels`).

Columns: ``usage_point`` (its uuid or its service agreement number), ``start`` (RFC 3339
with an offset, or epoch seconds; a reading's start is its natural key with the usage
point), ``duration`` (seconds, > 0), ``value`` (the ESPI integer value in the channel's
unit and power of ten: Wh for electricity by default); optional ``quality`` (an ESPI
QualityOfReading code: 8 estimated, 9 interpolated ...; empty: valid) and ``cost`` (ESPI
cost, hundred-thousandths of the currency)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import UTC, tzinfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ...storage.models import MeterReading, UsagePoint
from ...storage.zones import zone_of
from . import values
from .channels import PRIMARY, meter_reading_uuid
from .csv_rows import Row
from .kinds import LoadContext, Outcome
from .problems import RowError
from .readings import StagedReadings

INT64 = 1 << 63


class IntervalCsv:
    name = "interval-data"
    required = ("usage_point", "start", "duration", "value")
    optional = ("quality", "cost")
    key_column = "start"

    def __init__(self) -> None:
        self.staged = StagedReadings()

    def key(self, row: Row) -> Hashable:
        return (row["usage_point"], values.moment(row, "start", UTC))

    def apply(self, session: Session, row: Row, context: LoadContext) -> None:
        meter_reading_id, zone = self._channel(session, row, context)
        start = values.moment(row, "start", zone)
        assert start is not None
        duration = values.integer(row, "duration", low=1, high=31 * 86_400)
        value = values.integer(row, "value", low=-INT64, high=INT64 - 1)
        quality = values.integer(row, "quality", low=0, high=65_535, required=False)
        cost = values.integer(row, "cost", low=-INT64, high=INT64 - 1, required=False)
        assert duration is not None and value is not None
        self.staged.add(meter_reading_id, zone, (start, duration, value, cost, quality))

    def finish(self, session: Session, context: LoadContext) -> Mapping[Outcome, int]:
        return self.staged.write(session)

    def _channel(self, session: Session, row: Row, context: LoadContext) -> tuple[int, tzinfo]:
        given = values.required_text(row, "usage_point", limit=64)
        cache: dict[str, tuple[int, tzinfo]] = context.cache.setdefault("channels", {})
        if given in cache:
            return cache[given]
        point = session.scalar(
            select(UsagePoint).where(
                or_(
                    UsagePoint.uuid == given.removeprefix("urn:uuid:"),
                    UsagePoint.service_agreement == given,
                )
            )
        )
        if point is None:
            raise RowError(
                "usage_point",
                f"no usage point with uuid or service agreement {given!r}; load it first "
                "(espi-sst load usage-points)",
            )
        reading_id = session.scalar(
            select(MeterReading.id).where(
                MeterReading.uuid == meter_reading_uuid(point.uuid, PRIMARY)
            )
        )
        if reading_id is None:
            raise RowError(
                "usage_point",
                f"usage point {point.uuid} has no '{PRIMARY}' channel (it was not loaded from "
                "usage-points.csv); load its interval data from an ESPI file instead",
            )
        cache[given] = (reading_id, zone_of(point.local_time))
        return cache[given]
