"""Local time from ESPI ``LocalTimeParameters`` (espi.xsd TimeConfiguration, DstRuleType).

ESPI gives the standard offset (``tzOffset``), the DST offset (``dstOffset``) and two
bit-encoded rules saying when DST starts and ends each year, in local standard time.  We
turn them into a real :class:`datetime.tzinfo` so that readings get aware local times and
the repeated hour in autumn is told apart by ``fold`` (an interval never ends before it
starts).

Rule layout (espi.xsd DstRuleType): bits 0-11 seconds, 12-16 hour, 17-19 day of week
(1 = Monday), 20-24 day of month, 25-27 operator, 28-31 month.  Operators: 0 the day of
month; 1 the weekday on or after the day of month; 2-6 its first..fifth occurrence in the
month; 7 its last occurrence.  ``FFFFFFFF`` disables DST.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from .errors import InvalidDstRule

__all__ = ["DstRule", "EspiTimeZone", "InvalidDstRule", "offset_name"]

_NAIVE_EPOCH = datetime(1970, 1, 1)
_EPOCH_2000 = 946_684_800
_EPOCH_2100 = 4_102_444_800


@dataclass(frozen=True)
class DstRule:
    """A decoded DstRuleType, or (a real-world deviation) a fixed instant."""

    month: int = 0
    day_of_month: int = 0
    day_of_week: int = 0
    operator: int = 0
    hour: int = 0
    seconds: int = 0
    fixed_epoch: int | None = None

    @classmethod
    def decode(cls, hex_value: str) -> DstRule | None:
        """Decode a rule; None when DST is disabled (``FFFFFFFF``)."""
        text = hex_value.strip()
        try:
            raw = int(text, 16)
        except ValueError:
            raise InvalidDstRule(f"{hex_value!r} is not hexadecimal") from None
        if len(text) < 8:
            raise InvalidDstRule(f"{hex_value!r} has {len(text) // 2} bytes; a rule has 4")
        if raw == 0xFFFFFFFF:
            return None
        rule = cls(
            month=(raw >> 28) & 0xF,
            operator=(raw >> 25) & 0x7,
            day_of_month=(raw >> 20) & 0x1F,
            day_of_week=(raw >> 17) & 0x7,
            hour=(raw >> 12) & 0x1F,
            seconds=raw & 0xFFF,
        )
        problem = rule._problem()
        if problem is None:
            return rule
        if _EPOCH_2000 <= raw <= _EPOCH_2100:
            return cls(fixed_epoch=raw)
        raise InvalidDstRule(f"{hex_value!r}: {problem}")

    def _problem(self) -> str | None:
        if not 1 <= self.month <= 12:
            return f"month {self.month} is not 1-12"
        if self.hour > 23 or self.seconds > 3599:
            return "time of day out of range"
        if self.operator == 0 and not 1 <= self.day_of_month <= 31:
            return "operator 0 needs a day of month"
        if self.operator == 1 and not (1 <= self.day_of_month <= 31 and 1 <= self.day_of_week <= 7):
            return "operator 1 needs a day of month and a day of week"
        if self.operator >= 2 and (not 1 <= self.day_of_week <= 7 or self.day_of_month != 0):
            return f"operator {self.operator} needs a day of week and no day of month"
        return None

    def local_standard_time(self, year: int) -> datetime:
        """When the rule fires in ``year``, as a naive local wall-clock time."""
        if self.operator == 0:
            day = min(self.day_of_month, calendar.monthrange(year, self.month)[1])
        else:
            weekday = self.day_of_week - 1  # Python: Monday = 0
            last_day = calendar.monthrange(year, self.month)[1]
            if self.operator == 1:
                day = self.day_of_month
                while datetime(year, self.month, day).weekday() != weekday:
                    day += 1
            elif self.operator == 7:
                day = last_day
                while datetime(year, self.month, day).weekday() != weekday:
                    day -= 1
            else:
                first = 1
                while datetime(year, self.month, first).weekday() != weekday:
                    first += 1
                day = first + 7 * (self.operator - 2)
                if day > last_day:  # no fifth such weekday this month: the last one (as POSIX TZ)
                    day -= 7
        return datetime(year, self.month, day) + timedelta(hours=self.hour, seconds=self.seconds)


class EspiTimeZone(tzinfo):
    """A fixed standard offset plus ESPI DST rules (or none)."""

    def __init__(
        self,
        tz_offset: int,
        dst_offset: int = 0,
        dst_start: DstRule | None = None,
        dst_end: DstRule | None = None,
    ) -> None:
        self.standard = timedelta(seconds=tz_offset)
        self.saving = timedelta(seconds=dst_offset)
        self._standard_seconds = int(tz_offset)
        self._saving_seconds = int(dst_offset)
        self.start_rule = dst_start
        self.end_rule = dst_end
        self._has_dst = bool(dst_offset) and dst_start is not None and dst_end is not None

    def __repr__(self) -> str:
        return f"EspiTimeZone({self.tzname(None)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EspiTimeZone) and (
            self.standard,
            self.saving,
            self.start_rule,
            self.end_rule,
        ) == (other.standard, other.saving, other.start_rule, other.end_rule)

    def __hash__(self) -> int:
        return hash((self.standard, self.saving, self.start_rule, self.end_rule))

    @lru_cache(maxsize=256)  # noqa: B019 - a handful of years per zone
    def _dst_window_utc(self, year: int) -> tuple[datetime, datetime] | None:
        """The UTC instants DST starts and ends in ``year`` (naive UTC datetimes)."""
        assert self.start_rule is not None and self.end_rule is not None
        if self.start_rule.fixed_epoch is not None or self.end_rule.fixed_epoch is not None:
            start = self._fixed(self.start_rule, year)
            end = self._fixed(self.end_rule, year)
            if start is None or end is None:
                return None
            return start, end
        # Rules give the wall-clock time in force when they fire (the US rules read "2:00"
        # for both): the start in standard time, the end in daylight time.
        start = self.start_rule.local_standard_time(year) - self.standard
        end = self.end_rule.local_standard_time(year) - self.standard - self.saving
        return start, end

    @staticmethod
    def _fixed(rule: DstRule, year: int) -> datetime | None:
        assert rule.fixed_epoch is not None
        moment = datetime.fromtimestamp(rule.fixed_epoch, UTC).replace(tzinfo=None)
        return moment if moment.year == year else None

    @lru_cache(maxsize=256)  # noqa: B019 - a handful of years per zone
    def _dst_window_epoch(self, year: int) -> tuple[int, int] | None:
        """:meth:`_dst_window_utc` as epoch seconds (the per-reading fast path)."""
        window = self._dst_window_utc(year)
        if window is None:
            return None
        start, end = window
        return (
            int((start - _NAIVE_EPOCH).total_seconds()),
            int((end - _NAIVE_EPOCH).total_seconds()),
        )

    def offset_seconds_at(self, epoch: int) -> int:
        """The UTC offset in force at the instant ``epoch`` (seconds), by integer
        comparisons: readings ask this hundreds of thousands of times, and the general
        ``astimezone`` path builds several datetimes each time (issue 18's CSV export)."""
        standard = self._standard_seconds
        if not self._has_dst:
            return standard
        window = self._dst_window_epoch(time.gmtime(epoch).tm_year)
        if window is None:
            return standard
        start, end = window
        if start <= end:
            in_dst = start <= epoch < end
        else:  # southern hemisphere
            in_dst = epoch >= start or epoch < end
        return standard + self._saving_seconds if in_dst else standard

    def _in_dst_utc(self, utc_naive: datetime) -> bool:
        if not self._has_dst:
            return False
        window = self._dst_window_utc(utc_naive.year)
        if window is None:
            return False
        start, end = window
        if start <= end:
            return start <= utc_naive < end
        return utc_naive >= start or utc_naive < end  # southern hemisphere

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return self.standard
        return self.standard + self.dst_for_local(dt)

    def dst(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(0)
        return self.dst_for_local(dt)

    def dst_for_local(self, dt: datetime) -> timedelta:
        if not self._has_dst:
            return timedelta(0)
        naive = dt.replace(tzinfo=None)
        # Try the DST reading first (fold=0 picks it in the repeated hour), else standard.
        as_dst = naive - self.standard - self.saving
        as_std = naive - self.standard
        dst_ok = self._in_dst_utc(as_dst)
        std_ok = not self._in_dst_utc(as_std)
        if dst_ok and std_ok:  # the repeated autumn hour: fold=1 is the second, standard
            return timedelta(0) if dt.fold else self.saving
        if dst_ok:
            return self.saving
        if not std_ok:  # the skipped spring hour (PEP 495): fold=1 reads it after the change
            return self.saving if dt.fold else timedelta(0)
        return timedelta(0)

    def fromutc(self, dt: datetime) -> datetime:
        naive = dt.replace(tzinfo=None)
        if self._in_dst_utc(naive):
            return (naive + self.standard + self.saving).replace(tzinfo=self)
        local = (naive + self.standard).replace(tzinfo=self)
        # In the repeated hour the standard-time reading is the second one: fold=1.
        if self._has_dst and self._in_dst_utc(naive - self.saving):
            local = local.replace(fold=1)
        return local

    def tzname(self, dt: datetime | None) -> str:
        offset = self.utcoffset(dt) if dt is not None else self.standard
        return offset_name(int(offset.total_seconds()))


def offset_name(total: int) -> str:
    """How an :class:`EspiTimeZone` names the offset ``total`` seconds: ``"UTC-07:00"``."""
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"UTC{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
