"""Rows as a Parquet file (``espi-sst convert --to parquet``; the ``parquet`` extra: pyarrow).

Parquet keeps types: ``start`` and ``end`` are timezone-aware timestamps, ``value`` and
``cost`` doubles, ``duration`` an integer, so ``pandas.read_parquet`` gives back the table
without parsing a single date.  Rows are written in batches of ``batch_size`` (one row
group each), so a five-year file never sits in memory as one table.

Arrow gives a timestamp column one time zone, by name.  The instants are always exact;
the name is the IANA zone whose rules match the file's LocalTimeParameters in every year
from 2007 to 2037 (the US rules: ``America/Los_Angeles`` for tzOffset -28800 with the
March/November rules), a fixed offset (``-07:00``) for a zone without DST, else ``UTC``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..document import Document
from ..errors import EspiError
from ..localtime import EspiTimeZone
from ..readings import Reading
from ..tidy import TidyReading, tidy_readings
from .summaries import SummaryRow, summary_rows

__all__ = [
    "PARQUET_MISSING",
    "arrow_time_zone",
    "write_parquet",
    "write_readings_parquet",
    "write_summaries_parquet",
]

PARQUET_MISSING = "writing Parquet needs pyarrow; install it with: pip install 'espi-sst[parquet]'"

BATCH_SIZE = 16_384
"""Rows per batch (and row group): about 45 MB above pyarrow's own, whatever the file's size
(108 MB peak on the 5-year file of bench/generate.py, 63 MB of it pyarrow's import)."""

_CANDIDATES: dict[int, tuple[str, ...]] = {
    -12600: ("America/St_Johns",),
    -14400: ("America/Halifax",),
    -18000: ("America/New_York",),
    -21600: ("America/Chicago",),
    -25200: ("America/Denver",),
    -28800: ("America/Los_Angeles",),
    -32400: ("America/Anchorage",),
    -36000: ("America/Adak",),
}
"""IANA zones tried for a standard offset with DST (North America: where Green Button is)."""


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401 - the writer lives in the submodule
    except ImportError as exc:
        raise EspiError(PARQUET_MISSING) from exc
    return pyarrow


def _fixed_offset(offset: timedelta) -> str:
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


def _same_rules(zone: EspiTimeZone, name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        candidate = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    second = timedelta(seconds=1)
    for year in range(2007, 2038):
        window = zone._dst_window_utc(year)
        instants = [datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC)]
        if window is not None:
            start, end = (moment.replace(tzinfo=UTC) for moment in window)
            instants += [start - second, start, end - second, end]
        for instant in instants:
            if candidate.utcoffset(instant.astimezone(candidate)) != zone.utcoffset(
                instant.astimezone(zone)
            ):
                return False
    return True


def arrow_time_zone(zone: EspiTimeZone | None) -> str:
    """The name Arrow stores for a column of times in ``zone`` (see the module's doc)."""
    if zone is None:
        return "UTC"
    if not zone.saving or zone.start_rule is None or zone.end_rule is None:
        return _fixed_offset(zone.standard)
    for name in _CANDIDATES.get(int(zone.standard.total_seconds()), ()):
        if _same_rules(zone, name):
            return name
    return "UTC"


def _arrow_type(pa: Any, annotation: str, time_zone: str) -> Any:
    if "datetime" in annotation:
        return pa.timestamp("s", tz=time_zone)
    if "float" in annotation:
        return pa.float64()
    if "bool" in annotation:
        return pa.bool_()
    if "int" in annotation:
        return pa.int64()
    return pa.string()


def write_parquet(
    target: str | Path,
    rows: Iterable[Any],
    columns: Sequence[str],
    *,
    row_type: type,
    time_zone: str = "UTC",
    batch_size: int = BATCH_SIZE,
) -> int:
    """Write ``columns`` of ``rows`` (dataclass instances of ``row_type``) to ``target``, a
    batch of ``batch_size`` rows per row group; return the number of rows.  Times are
    stored as instants in a column named with ``time_zone``."""
    pa = _pyarrow()
    annotations = {f.name: str(f.type) for f in fields(row_type)}
    schema = pa.schema(
        [pa.field(name, _arrow_type(pa, annotations[name], time_zone)) for name in columns]
    )
    count = 0
    iterator = iter(rows)
    with pa.parquet.ParquetWriter(str(target), schema) as writer:
        while True:
            batch = list(itertools.islice(iterator, batch_size))
            if not batch:
                break
            arrays = [
                pa.array([getattr(row, name) for row in batch], type=field.type)
                for name, field in zip(columns, schema, strict=True)
            ]
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            count += len(batch)
    return count


def write_readings_parquet(
    target: str | Path,
    readings: Iterable[Reading],
    columns: Sequence[str],
    *,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Interval readings as tidy rows in Parquet; the time zone is the first reading's."""
    _pyarrow()  # say what is missing before reading a byte
    iterator = iter(readings)
    first = next(iterator, None)
    zone = None if first is None else first.context.time_zone
    stream = iterator if first is None else itertools.chain((first,), iterator)
    return write_parquet(
        target,
        tidy_readings(stream),
        columns,
        row_type=TidyReading,
        time_zone=arrow_time_zone(zone),
        batch_size=batch_size,
    )


def write_summaries_parquet(
    target: str | Path, documents: Sequence[Document], columns: Sequence[str]
) -> int:
    """The documents' UsageSummaries in Parquet (one row each; the column's zone is the
    first document's: Arrow allows one per column, and the instants stay exact)."""
    _pyarrow()
    first = documents[0]
    points = first.usage_points
    zone = first.time_zone(points[0] if points else None)
    return write_parquet(
        target,
        (row for document in documents for row in summary_rows(document)),
        columns,
        row_type=SummaryRow,
        time_zone=arrow_time_zone(zone),
    )
