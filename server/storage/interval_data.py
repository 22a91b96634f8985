"""Reading stored interval data for the feeds: the ONE place that knows its layout.

Every feed that serves IntervalReadings (``resource/blocks.py``: the IntervalBlock feed and
entry, the Subscription and Batch/Subscription feeds, Batch/Bulk) reads them through
:func:`iter_reading_chunks`, and every conditional GET of those feeds asks
:func:`reading_fingerprints` whether they changed.  A change of how readings are stored
(one row per reading today; packed per block later) is confined to these two functions:
callers see plain ``(start, duration, value, cost, quality)`` tuples in start order.

Bounded memory: readings come in chunks of at most ``chunk_size`` rows (keyset paging on
the ``(meter_reading_id, start)`` unique index: each chunk is one indexed range query that
starts after the previous chunk's last start), so serving five years of 15-minute data
holds one chunk at a time, and no database cursor stays open while the caller writes (the
caller may run other queries between chunks, on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import IntervalReading

Row = tuple[int, int, int, int | None, int | None]
"""start, duration, value, cost, quality: one reading as the feeds consume it."""

CHUNK_SIZE = 8_192
"""Readings per query: ~85 days of 15-minute data, ~1 MB of tuples at most."""


def iter_reading_chunks(
    session: Session,
    meter_reading_id: int,
    low: int | None = None,
    high: int | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Sequence[Row]]:
    """The readings of one meter reading with ``low <= start < high``, sorted by start, as
    chunks of at most ``chunk_size`` rows (each chunk non-empty).

    A range that fits in one chunk costs one indexed range query (``tests/server/resource``
    checks the plan); a longer one, one more query per chunk.
    """
    columns = select(
        IntervalReading.start,
        IntervalReading.duration,
        IntervalReading.value,
        IntervalReading.cost,
        IntervalReading.quality,
    ).where(IntervalReading.meter_reading_id == meter_reading_id)
    if high is not None:
        columns = columns.where(IntervalReading.start < high)
    after: int | None = None
    while True:
        stmt = columns
        if after is not None:
            stmt = stmt.where(IntervalReading.start > after)
        elif low is not None:
            stmt = stmt.where(IntervalReading.start >= low)
        # Core, not the ORM's execute: plain column rows, half the time per row (measured).
        connection = session.connection()
        rows = connection.execute(stmt.order_by(IntervalReading.start).limit(chunk_size)).all()
        if not rows:
            return
        yield cast(Sequence[Row], rows)  # SQLAlchemy rows are tuples of these columns
        if len(rows) < chunk_size:
            return
        after = rows[-1][0]


def reading_fingerprints(
    session: Session, meter_reading_ids: Sequence[int]
) -> dict[int, tuple[int, ...]]:
    """Per meter reading, a cheap summary of its stored readings that changes when they do
    (a reading added, removed, or its value, cost or quality corrected): count, first start,
    last end and the sums of value, cost and quality.  One aggregate query; the feeds' ETags
    (``resource/conditional.py``) are built from it instead of from the rendered body.

    A meter reading without readings is absent from the answer.
    """
    if not meter_reading_ids:
        return {}
    stmt = (
        select(
            IntervalReading.meter_reading_id,
            func.count(),
            func.min(IntervalReading.start),
            func.max(IntervalReading.start + IntervalReading.duration),
            func.sum(IntervalReading.value),
            func.sum(func.coalesce(IntervalReading.cost, 0)),
            func.sum(func.coalesce(IntervalReading.quality, -1)),
        )
        .where(IntervalReading.meter_reading_id.in_(list(meter_reading_ids)))
        .group_by(IntervalReading.meter_reading_id)
    )
    return {
        int(row[0]): tuple(int(v) for v in row[1:] if v is not None)
        for row in session.execute(stmt)
    }
