"""IntervalBlocks assembled from the stored interval data: one block per local day.

The store (``storage/interval_data.py``) keeps a meter reading's readings packed per local
day; ESPI serves them in IntervalBlocks.  We cut them at the
usage point's local midnights (its LocalTimeParameters; UTC when it has none), so a block
is one calendar day as the customer lives it: 24 hourly readings, 23 on the day DST
starts, 25 on the day it ends.  The block's id is the epoch second of its local midnight:
stable, needs no table, and tells a reader what the block holds.

* ``atom:published`` of a block is its day's start and ``published-min`` /
  ``published-max`` select blocks by it (min inclusive, max exclusive), so midnight-to-
  midnight bounds give exactly those days;
* ``atom:updated`` is the end of its last reading (the earliest its data was complete);
  ``updated-min`` / ``updated-max`` select by it.

Performance: readings come from ``storage/interval_data.iter_reading_chunks`` (the one
function that knows how they are stored): indexed range queries per meter reading, in
chunks, plain columns, never ORM objects; days are cut by walking the sorted rows, with one
time-zone computation per day, not per reading, and handed on one day at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from sqlalchemy.orm import Session

from ..storage.interval_data import Row, iter_reading_chunks
from .query import FeedQuery

LAST_DAY = 4_102_444_800  # 2100-01-01: ids and bounds beyond it name no block


@dataclass(frozen=True)
class Calendar:
    """Local midnights of one time zone, as epoch seconds."""

    zone: tzinfo

    def day_start(self, moment: int) -> int:
        local = datetime.fromtimestamp(moment, self.zone)
        return int(datetime(local.year, local.month, local.day, tzinfo=self.zone).timestamp())

    def next_day_start(self, day_start: int) -> int:
        following = datetime.fromtimestamp(day_start, self.zone).date() + timedelta(days=1)
        midnight = datetime(following.year, following.month, following.day, tzinfo=self.zone)
        return int(midnight.timestamp())

    def ceil(self, moment: int) -> int:
        """The first local midnight at or after ``moment``."""
        if not 0 < moment < LAST_DAY:
            return moment
        start = self.day_start(moment)
        return start if start == moment else self.next_day_start(start)

    def is_day_start(self, moment: int) -> bool:
        return 0 <= moment < LAST_DAY and self.day_start(moment) == moment


@dataclass
class DayBlock:
    """The readings of one local day."""

    start: int
    end: int
    readings: list[Row] = field(default_factory=list)

    @property
    def updated(self) -> int:
        return max(r[0] + r[1] for r in self.readings)


def iter_days(chunks: Iterable[Sequence[Row]], calendar: Calendar) -> Iterator[DayBlock]:
    """Group sorted readings by the local day their interval starts in, one day at a time
    (a day may span two chunks)."""
    current: DayBlock | None = None
    for chunk in chunks:
        for row in chunk:
            if current is None or not current.start <= row[0] < current.end:
                if current is not None:
                    yield current
                start = calendar.day_start(row[0])
                current = DayBlock(start, calendar.next_day_start(start))
            current.readings.append(row)
    if current is not None:
        yield current


def iter_day_blocks(
    session: Session, meter_reading_id: int, calendar: Calendar, query: FeedQuery
) -> Iterator[DayBlock]:
    """The blocks of a meter reading the query selects (published, then updated range), read
    in chunks (``storage/interval_data.py``): memory stays bounded however long the range."""
    low = None if query.published_min is None else calendar.ceil(query.published_min)
    high = None if query.published_max is None else calendar.ceil(query.published_max)
    days = iter_days(iter_reading_chunks(session, meter_reading_id, low, high), calendar)
    if query.updated_min is None and query.updated_max is None:
        yield from days
    else:
        yield from (b for b in days if query.updated_in_range(b.updated))


def day_blocks(
    session: Session, meter_reading_id: int, calendar: Calendar, query: FeedQuery
) -> list[DayBlock]:
    """:func:`iter_day_blocks` as a list."""
    return list(iter_day_blocks(session, meter_reading_id, calendar, query))


def day_block(
    session: Session, meter_reading_id: int, calendar: Calendar, block_id: int
) -> DayBlock | None:
    """The block whose day starts at ``block_id``, or None (not a local midnight, no data)."""
    if not calendar.is_day_start(block_id):
        return None
    end = calendar.next_day_start(block_id)
    chunks = iter_reading_chunks(session, meter_reading_id, block_id, end)
    return next(iter_days(chunks, calendar), None)
