"""Local days, the history window and billing cycles of the demo data, in US Pacific time.

Readings are stored at absolute epoch seconds, but a household lives by the local clock:
the load shapes need each interval's local hour, the days of spring-forward and fall-back
have 92 and 100 quarter hours, and bills run from one local read day to the next.  The zone
is built from the same ESPI LocalTimeParameters the usage points publish (espi.xsd
TimeConfiguration), so what the data custodian serves and what the data was shaped on agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from espi_sst.localtime import DstRule, EspiTimeZone

TITLE = "US Pacific"
TZ_OFFSET = -28800  # seconds, standard time (PST)
DST_OFFSET = 3600
DST_START_RULE = "360E2000"  # second Sunday of March, 02:00
DST_END_RULE = "B40E2000"  # first Sunday of November, 02:00
INTERVAL = 900  # 15 minutes
HISTORY_MONTHS = 14  # whole months before the current one: >= 13 complete billing cycles


def pacific() -> EspiTimeZone:
    start = DstRule.decode(DST_START_RULE)
    end = DstRule.decode(DST_END_RULE)
    return EspiTimeZone(TZ_OFFSET, DST_OFFSET, start, end)


def local_midnight(day: date, zone: EspiTimeZone) -> int:
    """Epoch seconds of 00:00 local time on ``day`` (never ambiguous in the US rules)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


@dataclass(frozen=True)
class LocalDay:
    """One local calendar day and the local clock hour of each of its 15-minute intervals."""

    day: date
    start: int
    end: int
    hours: tuple[float, ...]  # local clock hour (0.0-23.75) at each interval start
    standard_hours: tuple[float, ...]  # the same in standard time, for the sun

    @property
    def starts(self) -> range:
        return range(self.start, self.end, INTERVAL)

    @property
    def weekend(self) -> bool:
        return self.day.weekday() >= 5

    @property
    def day_of_year(self) -> int:
        return self.day.timetuple().tm_yday


_REGULAR_HOURS = tuple(slot / 4 for slot in range(96))


def local_days(first: date, end: date, zone: EspiTimeZone) -> list[LocalDay]:
    """Every local day from ``first`` up to (not including) ``end``."""
    days = []
    day = first
    start = local_midnight(day, zone)
    while day < end:
        following = day + timedelta(days=1)
        stop = local_midnight(following, zone)
        starts = range(start, stop, INTERVAL)
        standard = tuple((ts + TZ_OFFSET) % 86400 / 3600 for ts in starts)
        if stop - start == 86400:
            hours = _REGULAR_HOURS
        else:  # a DST change: read the clock
            clock = (datetime.fromtimestamp(ts, zone) for ts in starts)
            hours = tuple(t.hour + t.minute / 60 for t in clock)
        days.append(LocalDay(day, start, stop, hours, standard))
        day, start = following, stop
    return days


def history_bounds(now: int, zone: EspiTimeZone) -> tuple[date, date]:
    """The first day of data and the (exclusive) local day ``now`` falls in.

    The data starts on the 1st of the month ``HISTORY_MONTHS`` before the current one, so
    every read day 1-28 has at least 13 complete billing cycles (HistoryLength=13).
    """
    today = datetime.fromtimestamp(now, zone).date()
    months = today.year * 12 + today.month - 1 - HISTORY_MONTHS
    return date(months // 12, months % 12 + 1, 1), today


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, day.day)


def billing_cycles(first: date, end: date, read_day: int) -> list[tuple[date, date]]:
    """Monthly cycles [read day, next read day) that lie wholly in [first, end)."""
    if not 1 <= read_day <= 28:
        raise ValueError("a read day is 1-28, so that every month has it")
    start = date(first.year, first.month, read_day)
    if start < first:
        start = add_months(start, 1)
    cycles = []
    while (stop := add_months(start, 1)) <= end:
        cycles.append((start, stop))
        start = stop
    return cycles
