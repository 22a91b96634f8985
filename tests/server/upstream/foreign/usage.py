"""The foreign custodian's meter data: hourly Wh for 13 months, billing periods, day bounds.

Deterministic per usage point id (a seeded ``random.Random``), so two runs and two processes
serve the same numbers.  Days are local days in PG&E's zone (America/Los_Angeles): a block
starts at local midnight, as PG&E's (``pge-cmd_IntervalBlock.xml``: 1430377200 is midnight
PDT), and holds 23, 24 or 25 hourly readings on DST days.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/Los_Angeles")
HISTORY_MONTHS = 13


@dataclass(frozen=True)
class DayBlock:
    """One IntervalBlock: a local day, its hourly readings (start epoch, Wh)."""

    start: int
    duration: int
    readings: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class BillingPeriod:
    """One billing period of a UsageSummary: [start, start + duration), its Wh."""

    start: int
    duration: int
    wh: int


def local_midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZONE).timestamp())


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, 28))


@lru_cache(maxsize=64)
def day_blocks(point_id: str, now: int) -> tuple[DayBlock, ...]:
    """The point's complete local days before ``now`` (today excluded), from the start of
    its oldest billing period: 13 months and a few days."""
    today = datetime.fromtimestamp(now, ZONE).date()
    first = min(months_before(today, HISTORY_MONTHS), period_dates(point_id, now)[-1][0])
    seed = int.from_bytes(hashlib.sha256(point_id.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    base = 300 + seed % 300  # Wh: the house's always-on load
    cooling = 0.6 + (seed >> 8) % 100 / 100  # how much summer afternoons cost
    blocks = []
    day = first
    while day < today:
        start, end = local_midnight(day), local_midnight(day + timedelta(days=1))
        season = math.cos((day.timetuple().tm_yday - 200) / 365 * 2 * math.pi)  # 1 in July
        readings = []
        for moment in range(start, end, 3600):
            hour = datetime.fromtimestamp(moment, ZONE).hour
            evening = 900 * math.exp(-(((hour - 19) / 2.5) ** 2))
            morning = 400 * math.exp(-(((hour - 7.5) / 1.5) ** 2))
            afternoon = max(0.0, season) * cooling * 1400 * math.exp(-(((hour - 16) / 3) ** 2))
            heating = max(0.0, -season) * 350 * (1 if hour < 8 or hour > 17 else 0.4)
            noise = rng.uniform(0.85, 1.15)
            wh = (base + evening + morning + afternoon + heating) * noise
            readings.append((moment, int(round(wh))))
        blocks.append(DayBlock(start, end - start, tuple(readings)))
        day += timedelta(days=1)
    return tuple(blocks)


@lru_cache(maxsize=64)
def billing_periods(point_id: str, now: int) -> tuple[BillingPeriod, ...]:
    """The 13 monthly billing periods before ``now``, newest first (as PG&E lists them).

    A period runs from a local midnight on the point's read day (a day of the month from
    its id) to the same day a month later; its Wh are the sum of the day blocks inside.
    """
    blocks = day_blocks(point_id, now)
    periods = []
    for begin, end in period_dates(point_id, now):
        low, high = local_midnight(begin), local_midnight(end)
        wh = sum(sum(v for _t, v in b.readings) for b in blocks if low <= b.start < high)
        periods.append(BillingPeriod(low, high - low, wh))
    return tuple(periods)


def period_dates(point_id: str, now: int) -> list[tuple[date, date]]:
    """The 13 billing periods' (first day, day after the last), newest first."""
    today = datetime.fromtimestamp(now, ZONE).date()
    read_day = 1 + int(hashlib.sha256(point_id.encode()).hexdigest(), 16) % 27
    end = date(today.year, today.month, read_day)
    if end >= today:
        end = months_before(end, 1).replace(day=read_day)
    out = []
    for _ in range(HISTORY_MONTHS):
        begin = months_before(end, 1).replace(day=read_day)
        out.append((begin, end))
        end = begin
    return out
