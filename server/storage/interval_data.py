"""Interval data, stored one packed row per meter reading and local day (issue 17).

ESPI serves interval data in IntervalBlocks of IntervalReadings (ESPI 1.1, 6.2.2.x); the
standalone server stored one row per reading, with a surrogate key and a unique index: ~60
bytes of row and index per 8-byte reading.  Here a row (``interval_block``) holds one
meter reading's readings of one local day, packed:

* ``start`` / ``block_end``: the first reading's start and the last reading's end;
* ``duration``: the one duration of every reading when the day is *regular* (each reading
  starts where the one before ended): the starts are then implied, ``timing`` is NULL;
  otherwise ``duration`` is NULL and ``timing`` holds each start's offset from ``start``
  and each duration (gaps, readings of varying length);
* ``value_data``: the values as one little-endian array of the narrowest of 16, 32 or 64-bit
  signed integers that holds them all (a one-byte array typecode first);
* ``quality_data`` / ``cost_data``: NULL when no reading has one; else all present (``A`` + array) or
  sparse (``S`` + a presence bitmap + the array of present values).

A DST day has 92 or 100 fifteen-minute readings: still regular, just shorter or longer.

Every reader and writer of interval data in the server goes through this module, so no
caller knows the layout: ``write_readings`` / ``delete_readings`` /
``iter_block_readings`` / ``readings_between`` / ``reading_count``.  A reading is the plain
tuple ``(start, duration, value, cost, quality)`` (``Reading``): tuples, not objects,
because the feeds serve tens of thousands of them per request.

Why a local day: it is the IntervalBlock the resource API serves (``resource/blocks.py``),
so one row is read per served block; a range query touches one row per day on the primary
key ``(meter_reading_id, start)``.  A stored day never holds a reading starting more than
``MAX_BLOCK_SPAN`` after its first, which bounds the key range a time range needs.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import repeat
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from .models import IntervalBlockRow
from .models import MeterReading as MeterReadingRow

_TABLE = cast(Table, IntervalBlockRow.__table__)

Reading = tuple[int, int, int, int | None, int | None]
"""One interval reading: start (epoch s), duration (s), value, cost, quality code."""

MAX_BLOCK_SPAN = 2 * 86_400
"""No stored reading starts this long after its block's first (a local day is <= 25 h)."""

_WIDTHS = (("h", 1 << 15), ("i", 1 << 31), ("q", 1 << 63))
_BIG_ENDIAN = sys.byteorder == "big"


class IntervalDataError(ValueError):
    """Readings that cannot be stored as given (what, where, how to fix)."""


@dataclass(frozen=True)
class StoredBlock:
    """Where one stored row's readings lie: its meter reading and the span it covers."""

    meter_reading_id: int
    start: int
    end: int


# ---- packing -----------------------------------------------------------------------------


def _pack_ints(numbers: Sequence[int]) -> bytes:
    """Typecode byte + the narrowest little-endian signed array holding every number."""
    low = min(numbers, default=0)
    high = max(numbers, default=0)
    for code, bound in _WIDTHS:
        if -bound <= low and high < bound:
            packed = array(code, numbers)
            if _BIG_ENDIAN:
                packed.byteswap()
            return code.encode("ascii") + packed.tobytes()
    raise IntervalDataError(
        f"interval value {high if high >= 1 << 63 else low} does not fit a signed 64-bit "
        "integer (ESPI Int48/Int64); check the powerOfTenMultiplier of the ReadingType"
    )


def _unpack_ints(blob: bytes, offset: int = 0, count: int | None = None) -> tuple[array[int], int]:
    """The array packed at ``offset`` (``count`` items, else to the end) and where it ends."""
    code = chr(blob[offset])
    numbers: array[int] = array(code)
    end = len(blob) if count is None else offset + 1 + count * numbers.itemsize
    numbers.frombytes(blob[offset + 1 : end])
    if _BIG_ENDIAN:
        numbers.byteswap()
    return numbers, end


def _pack_optional(numbers: Sequence[int | None]) -> bytes | None:
    present = [n for n in numbers if n is not None]
    if not present:
        return None
    if len(present) == len(numbers):
        return b"A" + _pack_ints(present)
    mask = 0
    for index, number in enumerate(numbers):
        if number is not None:
            mask |= 1 << index
    bitmap = mask.to_bytes((len(numbers) + 7) // 8, "little")
    return b"S" + bitmap + _pack_ints(present)


def _unpack_optional(blob: bytes | None, count: int) -> Iterable[int | None]:
    if blob is None:
        return repeat(None, count)
    if blob[:1] == b"A":
        return _unpack_ints(blob, 1)[0]
    width = (count + 7) // 8
    mask = int.from_bytes(blob[1 : 1 + width], "little")
    present = iter(_unpack_ints(blob, 1 + width)[0])
    return [next(present) if mask >> index & 1 else None for index in range(count)]


def pack_block(meter_reading_id: int, readings: Sequence[Reading]) -> dict[str, Any]:
    """One ``interval_block`` row's columns for sorted readings with distinct starts."""
    first = readings[0][0]
    duration = readings[0][1]
    regular = all(
        r[1] == duration and r[0] == first + index * duration for index, r in enumerate(readings)
    )
    timing = None
    if not regular:
        timing = _pack_ints([r[0] - first for r in readings]) + _pack_ints([r[1] for r in readings])
    last = readings[-1]
    return {
        "meter_reading_id": meter_reading_id,
        "start": first,
        "block_end": max(r[0] + r[1] for r in readings) if not regular else last[0] + last[1],
        "duration": duration if regular else None,
        "value_data": _pack_ints([r[2] for r in readings]),
        "timing": timing,
        "cost_data": _pack_optional([r[3] for r in readings]),
        "quality_data": _pack_optional([r[4] for r in readings]),
    }


def unpack_block(
    start: int,
    duration: int | None,
    values: bytes,
    timing: bytes | None,
    cost: bytes | None,
    quality: bytes | None,
) -> list[Reading]:
    """The readings of one stored row, sorted by start (``pack_block`` reversed)."""
    numbers, _ = _unpack_ints(values)
    count = len(numbers)
    starts: Iterable[int]
    durations: Iterable[int]
    if duration is not None:
        starts = range(start, start + count * duration, duration) if duration else repeat(start)
        durations = repeat(duration, count)
    else:
        assert timing is not None  # a row is regular or has its timing
        offsets, after = _unpack_ints(timing, 0, count)
        durations, _ = _unpack_ints(timing, after, count)
        starts = [start + offset for offset in offsets]
    return list(
        zip(
            starts,
            durations,
            numbers,
            _unpack_optional(cost, count),
            _unpack_optional(quality, count),
            strict=False,  # repeat() columns are endless; ``numbers`` sets the count
        )
    )


# ---- days --------------------------------------------------------------------------------


def _local_day(moment: int, zone: tzinfo) -> tuple[int, int]:
    """The local day (its midnight and the next, epoch seconds) ``moment`` lies in."""
    local = datetime.fromtimestamp(moment, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = local.date() + timedelta(days=1)
    after = datetime(following.year, following.month, following.day, tzinfo=zone)
    return int(midnight.timestamp()), int(after.timestamp())


def by_local_day(readings: Sequence[Reading], zone: tzinfo) -> Iterator[list[Reading]]:
    """Sorted readings grouped by the local day each starts in (one zone lookup per day)."""
    day: list[Reading] = []
    low = high = 0
    for reading in readings:
        if not low <= reading[0] < high:
            if day:
                yield day
            day = []
            low, high = _local_day(reading[0], zone)
        day.append(reading)
    if day:
        yield day


def _checked(meter_reading_id: int, readings: Iterable[Reading]) -> list[Reading]:
    """Sorted readings, or a clear error for a duplicate start or a non-positive duration."""
    ordered = sorted(readings, key=lambda r: r[0])
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before[0] == after[0]:
            raise IntervalDataError(
                f"meter reading {meter_reading_id}: two readings start at {after[0]}; "
                "an IntervalBlock has one reading per start (ESPI 1.1 IntervalReading)"
            )
    for reading in ordered:
        if reading[1] < 0:
            raise IntervalDataError(
                f"meter reading {meter_reading_id}: the reading at {reading[0]} has a negative "
                f"duration ({reading[1]}); ESPI DateTimeInterval.duration is in seconds, >= 0"
            )
    return ordered


# ---- the interface -----------------------------------------------------------------------


def _rows(
    session: Session,
    meter_reading_ids: Sequence[int],
    start: int | None,
    end: int | None,
) -> Sequence[Any]:
    table = _TABLE
    c = table.c
    stmt = select(
        c.meter_reading_id, c.start, c.block_end, c.duration, c.value_data, c.timing, c.cost_data,
        c.quality_data,
    ).where(c.meter_reading_id.in_(list(meter_reading_ids)))  # fmt: skip
    if start is not None:
        stmt = stmt.where(c.start > start - MAX_BLOCK_SPAN, c.block_end > start)
    if end is not None:
        stmt = stmt.where(c.start < end)
    return session.execute(stmt.order_by(c.meter_reading_id, c.start)).all()


def iter_block_readings(
    session: Session,
    meter_reading_ids: Sequence[int],
    *,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[tuple[StoredBlock, list[Reading]]]:
    """Each stored block of the meter readings, by meter reading then start, with its
    readings whose start lies in ``[start, end)`` (either bound optional); blocks left
    without a reading in the range are skipped.  One indexed range query; rows (a few
    hundred bytes each) are decoded one at a time as the caller iterates."""
    if not meter_reading_ids:
        return
    for row in _rows(session, meter_reading_ids, start, end):
        readings = unpack_block(row[1], row[3], row[4], row[5], row[6], row[7])
        if (start is not None and row[1] < start) or (end is not None and row[2] > end):
            low = start if start is not None else row[1]
            high = end if end is not None else row[2] + 1
            readings = [r for r in readings if low <= r[0] < high]
            if not readings:
                continue
        yield StoredBlock(row[0], row[1], row[2]), readings


def readings_between(
    session: Session, meter_reading_id: int, start: int | None = None, end: int | None = None
) -> list[Reading]:
    """The readings of one meter reading with ``start <= reading start < end``, sorted."""
    readings: list[Reading] = []
    for _block, day in iter_block_readings(session, [meter_reading_id], start=start, end=end):
        readings.extend(day)
    return readings


def write_readings(
    session: Session,
    meter_reading_id: int,
    readings: Iterable[Reading],
    *,
    zone: tzinfo = UTC,
) -> int:
    """Store readings of one meter reading, one row per local day of ``zone`` (the usage
    point's LocalTimeParameters; UTC when it has none).  A reading whose start is already
    stored replaces it; the days it touches are rewritten whole.  Returns how many readings
    were given.  Duplicate starts among the given readings, or a negative duration: an
    ``IntervalDataError`` naming the meter reading and the start."""
    given = _checked(meter_reading_id, readings)
    if not given:
        return 0
    # The whole local days the readings touch: a day stored in part (a load committed in
    # batches that cut it) is merged into one row, not left as two rows of one day.
    first = _local_day(given[0][0], zone)[0]
    last = _local_day(given[-1][0], zone)[1] - 1
    stored = list(iter_block_readings(session, [meter_reading_id], start=first, end=last + 1))
    merged = given
    if stored:
        # the stored rows are rewritten whole: keep their readings outside [first, last]
        by_start = {r[0]: r for block, _day in stored for r in unpack_row(session, block)}
        by_start.update((r[0], r) for r in given)
        merged = [by_start[key] for key in sorted(by_start)]
        table = _TABLE
        session.execute(
            delete(table).where(
                table.c.meter_reading_id == meter_reading_id,
                table.c.start.in_([block.start for block, _day in stored]),
            )
        )
    rows = [pack_block(meter_reading_id, day) for day in by_local_day(merged, zone)]
    for index in range(0, len(rows), 1_000):
        session.execute(insert(_TABLE), rows[index : index + 1_000])
    return len(given)


def unpack_row(session: Session, block: StoredBlock) -> list[Reading]:
    """Every reading of one stored block (not only those in a range)."""
    c = _TABLE.c
    row = session.execute(
        select(c.duration, c.value_data, c.timing, c.cost_data, c.quality_data).where(
            c.meter_reading_id == block.meter_reading_id, c.start == block.start
        )
    ).one()
    return unpack_block(block.start, row[0], row[1], row[2], row[3], row[4])


def delete_readings(
    session: Session,
    meter_reading_ids: Sequence[int] | None = None,
    *,
    start: int | None = None,
    end: int | None = None,
) -> int:
    """Remove the readings whose start lies in ``[start, end)`` (all meter readings when
    ``meter_reading_ids`` is None); blocks partly in the range keep their other readings.
    Returns how many readings were removed."""
    table = _TABLE
    if meter_reading_ids is None:
        meter_reading_ids = list(session.scalars(select(table.c.meter_reading_id).distinct()))
    removed = 0
    for block, day in list(iter_block_readings(session, meter_reading_ids, start=start, end=end)):
        whole = unpack_row(session, block)
        session.execute(
            delete(table).where(
                table.c.meter_reading_id == block.meter_reading_id, table.c.start == block.start
            )
        )
        removed += len(day)
        gone = {r[0] for r in day}
        kept = [r for r in whole if r[0] not in gone]
        if kept:
            session.execute(insert(table), [pack_block(block.meter_reading_id, kept)])
    return removed


def reading_count(session: Session, meter_reading_ids: Sequence[int] | None = None) -> int:
    """How many readings are stored (of these meter readings, else of all)."""
    c = _TABLE.c
    stmt = select(c.meter_reading_id, c.start, c.duration, c.value_data, c.timing)
    if meter_reading_ids is not None:
        stmt = stmt.where(c.meter_reading_id.in_(list(meter_reading_ids)))
    total = 0
    for row in session.execute(stmt):
        total += (len(row[3]) - 1) // array(chr(row[3][0])).itemsize
    return total


def block_count(session: Session) -> int:
    """How many rows the interval data takes (bench and tests)."""
    return int(session.scalar(select(func.count()).select_from(_TABLE)) or 0)


__all__ = [
    "MAX_BLOCK_SPAN",
    "IntervalDataError",
    "Reading",
    "StoredBlock",
    "block_count",
    "by_local_day",
    "delete_readings",
    "iter_block_readings",
    "pack_block",
    "reading_count",
    "readings_between",
    "unpack_block",
    "write_readings",
]


# ---- the feeds' two entry points (resource/blocks.py, resource/conditional.py) -------------
Row = Reading
"""start, duration, value, cost, quality: one reading as the feeds consume it."""

CHUNK_SIZE = 8_192
"""Readings per chunk handed to a feed: ~85 days of 15-minute data."""


def iter_reading_chunks(
    session: Session,
    meter_reading_id: int,
    low: int | None = None,
    high: int | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Sequence[Row]]:
    """The readings of one meter reading with ``low <= start < high``, sorted by start, as
    non-empty chunks of at most ``chunk_size`` readings.

    One indexed range query over the stored days (a few hundred bytes each: five years of
    15-minute data is ~1,800 rows, under a megabyte), unpacked a day at a time as the feed
    is written, so a feed never holds more than a chunk of decoded readings."""
    chunk: list[Row] = []
    for _block, readings in iter_block_readings(session, [meter_reading_id], start=low, end=high):
        chunk.extend(readings)
        while len(chunk) >= chunk_size:
            yield chunk[:chunk_size]
            chunk = chunk[chunk_size:]
    if chunk:
        yield chunk


def _fingerprint_bytes(part: Any) -> bytes:
    """A column of a stored day as bytes, delimited so that adjacent columns cannot blur."""
    if part is None:
        return b"\x00|"
    if isinstance(part, int):
        return str(part).encode() + b"|"
    return bytes(part) + b"|"


def reading_fingerprints(
    session: Session, meter_reading_ids: Sequence[int]
) -> dict[int, tuple[int, ...]]:
    """Per meter reading, a value that changes when its stored readings do (a reading added,
    removed or corrected): the number of stored days, the first start, the last end, and a
    digest of the packed bytes.  The feeds' ETags (``resource/conditional.py``) are built
    from it instead of from the rendered body; it reads the packed rows, not the readings
    (13 months of 15-minute data: ~400 rows, ~150 kB).  A meter reading without readings is
    absent from the answer."""
    if not meter_reading_ids:
        return {}
    c = _TABLE.c
    rows = session.execute(
        select(
            c.meter_reading_id,
            c.start,
            c.block_end,
            c.duration,
            c.value_data,
            c.timing,
            c.cost_data,
            c.quality_data,
            literal_column("'fingerprint'"),  # names the query in logs and query-plan tests
        )  # fmt: skip
        .where(c.meter_reading_id.in_(list(meter_reading_ids)))
        .order_by(c.meter_reading_id, c.start)
    )
    found: dict[int, tuple[int, int, int, Any]] = {}
    for row in rows:
        known = found.get(row[0])
        digest = known[3] if known else hashlib.blake2b(digest_size=8)
        for part in row[1:8]:
            digest.update(_fingerprint_bytes(part))
        count = known[0] + 1 if known else 1
        first = known[1] if known else row[1]
        found[row[0]] = (count, first, row[2], digest)
    return {
        key: (count, first, last, int.from_bytes(digest.digest(), "big"))
        for key, (count, first, last, digest) in found.items()
    }


def quality_counts(
    session: Session, meter_reading_ids: Sequence[int], start: int, end: int
) -> tuple[int, int, set[int]]:
    """(readings, readings with a quality, the distinct quality codes) of the readings whose
    start lies in ``[start, end)``: what a UsageSummary's qualityOfReading is derived from
    (``resource/summary_quality.py``).

    A stored day wholly inside the range with no quality at all (``quality_data`` NULL, the
    common case) is counted from the length of its value array, without decoding a reading;
    only the days at the range's edges and the days that carry qualities are unpacked."""
    if not meter_reading_ids:
        return 0, 0, set()
    return _count_qualities(
        ((row[1], row[2], row[3], row[4], row[5], row[6], row[7])
         for row in _rows(session, meter_reading_ids, start, end)),
        start,
        end,
    )  # fmt: skip


_USAGE_POINT_DAYS = (
    select(_TABLE.c.start, _TABLE.c.block_end, _TABLE.c.duration, _TABLE.c.value_data,
           _TABLE.c.timing, _TABLE.c.cost_data, _TABLE.c.quality_data)
    .join(MeterReadingRow, MeterReadingRow.id == _TABLE.c.meter_reading_id)
    .where(
        MeterReadingRow.usage_point_id == bindparam("point"),
        _TABLE.c.start > bindparam("lowest"),
        _TABLE.c.block_end > bindparam("start"),
        _TABLE.c.start < bindparam("end"),
    )
)  # fmt: skip
"""Built once: asked on every UsageSummary GET, and building the statement again cost more
than running it (issue 17's profile)."""


def usage_point_quality_counts(
    session: Session, usage_point_id: int, start: int, end: int
) -> tuple[int, int, set[int]]:
    """:func:`quality_counts` over every meter reading of one usage point, in one statement
    on the session's connection (no ORM result processing for a handful of numbers)."""
    rows = session.connection().execute(
        _USAGE_POINT_DAYS,
        {"point": usage_point_id, "lowest": start - MAX_BLOCK_SPAN, "start": start, "end": end},
    )
    return _count_qualities(rows, start, end)


def _count_qualities(rows: Iterable[Any], start: int, end: int) -> tuple[int, int, set[int]]:
    total = flagged = 0
    codes: set[int] = set()
    for first, last, duration, values, timing, cost, quality in rows:
        if quality is None and first >= start and last <= end:
            code = chr(values[0])
            total += (len(values) - 1) // array(code).itemsize
            continue
        for reading in unpack_block(first, duration, values, timing, cost, quality):
            if start <= reading[0] < end:
                total += 1
                if reading[4] is not None:
                    flagged += 1
                    codes.add(reading[4])
    return total, flagged, codes
