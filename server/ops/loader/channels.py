"""A usage point's meter readings and reading types as the loader creates them.

A usage point loaded from CSV gets one channel, ``delivered`` (energy the customer took),
whose ReadingType (ESPI 1.1 ReadingType) follows the service kind unless the row says
otherwise: electricity in Wh every 15 minutes, gas in millitherms a day (the demo's units,
``server/demo/seed.py``), water in cubic metres a day.  Interval data from CSV goes to that
channel; interval data from ESPI files brings its own MeterReadings and ReadingTypes
(:mod:`.interval_espi`).  Ids are derived from the usage point's uuid, so a re-run finds
the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.model.enums import (
    AccumulationKind,
    CommodityKind,
    DataQualifierKind,
    FlowDirectionKind,
    MeasurementKind,
    ServiceKind,
    TimeAttributeKind,
    UnitSymbolKind,
)

from ...storage.models import MeterReading, ReadingType, UsagePoint
from .kinds import Outcome, assign, derived_uuid

CURRENCY_USD = 840
PRIMARY = "delivered"


@dataclass(frozen=True)
class Units:
    uom: int
    power_of_ten_multiplier: int
    interval_length: int
    commodity: int


DEFAULT_UNITS: dict[int, Units] = {
    ServiceKind.electricity: Units(
        UnitSymbolKind.Wh, 0, 900, CommodityKind.electricity_SecondaryMetered
    ),
    ServiceKind.gas: Units(UnitSymbolKind.therm, -3, 86_400, CommodityKind.naturalGas),
    ServiceKind.water: Units(UnitSymbolKind.m3, 0, 86_400, CommodityKind.potableWater),
}


def meter_reading_uuid(point_uuid: str, channel: str) -> str:
    return derived_uuid("meter-reading", point_uuid, channel)


def reading_type_fields(units: Units) -> dict[str, Any]:
    return {
        "accumulation_behaviour": int(AccumulationKind.deltaData),
        "commodity": int(units.commodity),
        "currency": CURRENCY_USD,
        "data_qualifier": int(DataQualifierKind.normal),
        "flow_direction": int(FlowDirectionKind.forward),
        "interval_length": units.interval_length,
        "kind": int(MeasurementKind.energy),
        "phase": None,
        "power_of_ten_multiplier": units.power_of_ten_multiplier,
        "time_attribute": int(TimeAttributeKind.none),
        "uom": int(units.uom),
    }


def ensure_channel(
    session: Session,
    point: UsagePoint,
    channel: str,
    title: str,
    reading_type: dict[str, Any],
) -> Outcome:
    """The point's meter reading ``channel`` with this reading type, created or updated."""
    mr_uuid = meter_reading_uuid(point.uuid, channel)
    reading = session.scalar(select(MeterReading).where(MeterReading.uuid == mr_uuid))
    if reading is None:
        kind = ReadingType(uuid=derived_uuid("reading-type", mr_uuid), title=title, **reading_type)
        session.add(MeterReading(uuid=mr_uuid, usage_point=point, reading_type=kind, title=title))
        return "inserted"
    changed = assign(reading, {"title": title, "usage_point_id": point.id})
    changed = assign(reading.reading_type, {"title": title, **reading_type}) or changed
    return "updated" if changed else "unchanged"
