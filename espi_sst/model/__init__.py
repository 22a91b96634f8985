"""The ESPI data model: plain dataclasses, one module per schema area.

* :mod:`.espi` and :mod:`.enums` -- usage resources and code tables (espi.xsd 4.0), generated;
* :mod:`.customer` -- retail customer resources (customer.xsd 4.0), generated;
* :mod:`.atom` -- the Atom feed/entry/link layer that carries them.

Nothing here imports lxml: the codec in :mod:`espi_sst.xml` reads the field metadata.
"""

from __future__ import annotations

from . import customer, enums, espi
from ._base import Extension, ModelObject
from .atom import Entry, Feed, Link
from .enums import (
    AccumulationKind,
    CommodityKind,
    Currency,
    FlowDirectionKind,
    MeasurementKind,
    QualityOfReading,
    ServiceKind,
    UnitMultiplierKind,
    UnitSymbolKind,
)
from .espi import (
    ApplicationInformation,
    Authorization,
    BatchList,
    DateTimeInterval,
    ElectricPowerQualitySummary,
    ElectricPowerUsageSummary,
    IntervalBlock,
    IntervalReading,
    LocalTimeParameters,
    MeterReading,
    ReadingQuality,
    ReadingType,
    ServiceStatus,
    SummaryMeasurement,
    UsagePoint,
    UsageSummary,
)

__all__ = [
    "AccumulationKind",
    "ApplicationInformation",
    "Authorization",
    "BatchList",
    "CommodityKind",
    "Currency",
    "DateTimeInterval",
    "ElectricPowerQualitySummary",
    "ElectricPowerUsageSummary",
    "Entry",
    "Extension",
    "Feed",
    "FlowDirectionKind",
    "IntervalBlock",
    "IntervalReading",
    "Link",
    "LocalTimeParameters",
    "MeasurementKind",
    "MeterReading",
    "ModelObject",
    "QualityOfReading",
    "ReadingQuality",
    "ReadingType",
    "ServiceKind",
    "ServiceStatus",
    "SummaryMeasurement",
    "UnitMultiplierKind",
    "UnitSymbolKind",
    "UsagePoint",
    "UsageSummary",
    "customer",
    "enums",
    "espi",
]
