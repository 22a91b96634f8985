"""``interval-data`` from ESPI XML: any file the library reads (a Batch or Subscription feed,
a downloaded Green Button file, a bare IntervalBlock; ``.xml.gz`` too).

Which usage point the readings go to (docs/operations.md):

* ``--usage-point UUID`` names it: every reading of the file goes there (a file holding
  several UsagePoints is refused: load it without the option);
* otherwise each UsagePoint of the file is matched by its mRID -- the ``urn:uuid:`` id of
  its ``atom:entry`` -- to a loaded usage point with that uuid; a UsagePoint that matches
  none is an error naming its line.

Each MeterReading of the file becomes one of the usage point's meter readings (uuid derived
from the usage point's uuid and the file's MeterReading id, so the same file maps to the
same row every time), with a copy of its ReadingType.  Values are stored as the file has
them (ESPI integers with the ReadingType's powerOfTenMultiplier), cut into the usage point's
local days.  The file is read with :func:`espi_sst.parse` and its readings with
:meth:`Document.interval_readings`, the library's link rules: what ``espi-sst inspect``
shows is what is loaded.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst import parse
from espi_sst.document import Document
from espi_sst.errors import EspiError, ParseError
from espi_sst.model.atom import Entry
from espi_sst.model.espi import IntervalBlock
from espi_sst.readings import Reading as LibraryReading
from espi_sst.xml._safety import ReadLimits

from ...storage.interval_data import Reading
from ...storage.models import MeterReading, ReadingType, UsagePoint
from ...storage.zones import zone_of
from .kinds import LoadContext, Outcome, derived_uuid
from .problems import FileError, RowError
from .readings import StagedReadings

_READING_TYPE_FIELDS = (
    "accumulation_behaviour",
    "commodity",
    "currency",
    "data_qualifier",
    "flow_direction",
    "interval_length",
    "kind",
    "phase",
    "power_of_ten_multiplier",
    "time_attribute",
    "uom",
)


@dataclass(frozen=True)
class EspiItem:
    """One reading of the file and the line of its IntervalBlock's entry."""

    line: int | None
    reading: LibraryReading


def read_document(path: Path) -> Document:
    """The file as the library reads it; a file it cannot read is a FileError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return parse(cast(IO[bytes], handle), limits=ReadLimits(max_bytes=None))
        return parse(path, limits=ReadLimits(max_bytes=None))
    except ParseError as exc:
        raise FileError(
            f"{exc.reason}; is it an ESPI (Green Button) XML file?", line=exc.line
        ) from None
    except (EspiError, OSError, EOFError) as exc:
        raise FileError(f"cannot read it as ESPI XML: {exc}") from None


def entry_uuid(entry: Entry | None) -> str | None:
    if entry is None or not entry.id:
        return None
    try:
        return str(uuid.UUID(entry.id.strip().removeprefix("urn:uuid:")))
    except ValueError:
        return None


class IntervalEspi:
    """Interval data of one ESPI file (``items`` to iterate, ``apply`` per reading)."""

    name = "interval-data"
    key_column = "IntervalReading"

    def __init__(self, path: Path, explicit_point: str | None) -> None:
        self.document = read_document(path)
        self.explicit_point = explicit_point
        self.staged = StagedReadings()
        self._seen: dict[tuple[int, int], Reading] = {}
        self._lines = {
            entry.self_href: entry.line for entry in self.document.entries_of(IntervalBlock)
        }
        points = self.document.usage_points
        if explicit_point is not None and len(points) > 1:
            raise FileError(
                f"the file holds {len(points)} UsagePoints; --usage-point names the target of a "
                "file with one; load this file without it (each UsagePoint is matched by its "
                "mRID) or split it"
            )
        self.total = sum(
            len(block.interval_reading)
            for entry in self.document.entries_of(IntervalBlock)
            for block in entry.contents
            if isinstance(block, IntervalBlock)
        )

    def items(self) -> Iterator[EspiItem]:
        for reading in self.document.interval_readings():
            yield EspiItem(self._lines.get(reading.context.block), reading)

    def apply(self, session: Session, item: EspiItem, context: LoadContext) -> None:
        reading = item.reading
        meter_reading_id, zone = self._channel(session, reading, context)
        if reading.value is None:
            raise RowError(
                "IntervalReading",
                f"the reading starting at {reading.start} has no value; fix the export",
            )
        assert reading.start is not None
        row: Reading = (
            reading.start,
            reading.duration or 0,
            reading.value,
            reading.cost,
            reading.quality,
        )
        key = (meter_reading_id, reading.start)
        before = self._seen.get(key)
        if before is not None and before != row:
            raise RowError(
                "IntervalReading",
                f"two readings of one MeterReading start at {reading.start} with different "
                "values; an IntervalBlock has one reading per start (ESPI 1.1)",
            )
        self._seen[key] = row
        self.staged.add(meter_reading_id, zone, row)

    def finish(self, session: Session, context: LoadContext) -> Mapping[Outcome, int]:
        return self.staged.write(session)

    # ---- where a reading goes ---------------------------------------------------------

    def _channel(
        self, session: Session, reading: LibraryReading, context: LoadContext
    ) -> tuple[int, tzinfo]:
        ctx = reading.context
        cache: dict[Any, tuple[int, tzinfo]] = context.cache.setdefault("espi", {})
        key = (ctx.usage_point, ctx.meter_reading)
        if key not in cache:
            cache[key] = self._resolve(
                session, ctx.usage_point, ctx.meter_reading, ctx.reading_type
            )
        return cache[key]

    def _resolve(
        self, session: Session, point_href: str | None, reading_href: str | None, kind: Any
    ) -> tuple[int, tzinfo]:
        document = self.document
        point_entry = document.entry_by_href(point_href) if point_href else None
        target = self.explicit_point
        if target is None:
            target = entry_uuid(point_entry)
            if target is None:
                where = f"UsagePoint {point_href}" if point_href else "an IntervalBlock"
                raise RowError(
                    "UsagePoint",
                    f"{where} has no urn:uuid id to match a loaded usage point by; name the "
                    "target with --usage-point UUID",
                )
        point = session.scalar(select(UsagePoint).where(UsagePoint.uuid == target))
        if point is None:
            raise RowError(
                "UsagePoint",
                f"no loaded usage point has uuid {target}; load it first (espi-sst load "
                "usage-points) or name the target with --usage-point UUID",
            )
        reading_entry = document.entry_by_href(reading_href) if reading_href else None
        file_id = (reading_entry.id if reading_entry else None) or reading_href or "readings"
        mr_uuid = derived_uuid("meter-reading", point.uuid, "espi", file_id)
        found = session.scalar(select(MeterReading).where(MeterReading.uuid == mr_uuid))
        title = (reading_entry.title if reading_entry else None) or "Interval data"
        fields = {
            name: (None if getattr(kind, name, None) is None else int(getattr(kind, name)))
            for name in _READING_TYPE_FIELDS
        }
        if found is None:
            reading_type = ReadingType(
                uuid=derived_uuid("reading-type", mr_uuid), title=title[:200], **fields
            )
            found = MeterReading(
                uuid=mr_uuid, usage_point=point, reading_type=reading_type, title=title[:200]
            )
            session.add(found)
            session.flush()
        else:
            for name, value in fields.items():
                if getattr(found.reading_type, name) != value:
                    setattr(found.reading_type, name, value)
        return found.id, zone_of(point.local_time)
