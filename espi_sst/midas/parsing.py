"""Reading MIDAS answers: pure functions of decoded JSON, no I/O (:mod:`.client` asks).

Use them on bodies you already have (recordings, a cache); :class:`~.client.MidasClient`
uses them on what it fetched.  Known deviations, tolerated on purpose (each one tested):

* v1 sent the price as lowercase ``value`` and ``DayStart`` / ``DayEnd`` as weekday names;
  v2 sends ``Value`` and 1-7 (Monday-Sunday, 8 = holiday).  Both become ``value`` and ints.
* v1 listed RINs as a bare array, v2 as ``{"Rates": [...]}``.
* v2 names the RIN list's key ``Rates`` whatever the signal type (the live API; the
  unofficial spec says ``GHGEmissions`` / ``FlexAlerts`` / ``All``): any of them is read.
* ``LastUpdated`` comes with an offset in v2 (``...+0000``) and without one in v1, where it
  was Pacific wall-clock time (grid-coordination/midas-api-specs,
  doc/datetime-and-timezone.md): a bare one is read as ``America/Los_Angeles``.
* ``TimeEnd`` is inclusive (``07:04:59`` ends the slot that the next one starts at
  ``07:05:00``); ends here are exclusive, one step of the field's precision later (a
  second for ``HH:MM:SS``, a minute for v1's ``HH:MM``).
* v2 times are UTC.  v1 times were meant to be UTC too, but v1's SGIP GHG and Flex Alert
  feeds (``USCA-FLEX-FXRT-0000``) sent Pacific time: give :func:`parse_rate_schedule`
  ``v1_timezone`` to read such a recorded v1 body; v1-shaped rows (lowercase ``value``)
  are UTC otherwise, and v2 rows always are.
* The URL fields sometimes hold the text ``"None"``; it is read as no URL.

Anything else malformed raises :class:`~.errors.MidasResponseError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from functools import lru_cache
from typing import Any

from ..rin import Rin
from .errors import MidasResponseError

__all__ = [
    "HISTORY_MONTHS",
    "HOLIDAY",
    "PACIFIC",
    "PriceInterval",
    "RateSchedule",
    "RinListing",
    "decode_json",
    "error_detail",
    "history_chunks",
    "merge_schedules",
    "parse_lookup_table",
    "parse_rate_schedule",
    "parse_rin_list",
]

HISTORY_MONTHS = 6
"""The most MIDAS serves per ``historicaldata`` call."""

_WEEKDAYS = {
    name: number
    for number, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "holiday"),
        start=1,
    )
}
_RIN_LIST_KEYS = ("Rates", "GHGEmissions", "FlexAlerts", "All")
PACIFIC = "America/Los_Angeles"
"""The zone of MIDAS's query windows, and of v1's bare timestamps."""
HOLIDAY = 8
"""``DayStart`` / ``DayEnd`` value of a holiday (v2; v1 wrote ``Holiday``)."""


@dataclass(frozen=True)
class RinListing:
    """One row of the RIN list.

    Attributes:
        rate_id: the RIN (a :class:`Rin`; the text as sent when it does not parse as one).
        signal_type: what the RIN carries (``Electricity Rates``; v1 said ``Rates``).
        description: MIDAS's description.
        last_updated: when the rate was last updated (aware, UTC), None when not given.
    """

    rate_id: Rin | str
    signal_type: str
    description: str
    last_updated: datetime | None


@dataclass(frozen=True)
class PriceInterval:
    """One value of a rate over ``[start, end)``.

    Attributes:
        name: MIDAS's ``ValueName`` (``winter off peak``).
        start: first instant (aware, UTC).
        end: first instant after the interval (aware, UTC; MIDAS's inclusive ``TimeEnd`` + 1 s).
        value: the price (or other signal value) in ``unit``.
        unit: ``$/kWh``, ``g/kWh CO2``, ``Event`` ... (the ``Unit`` lookup table lists them).
        day_start: the ``DayStart`` weekday, 1 = Monday .. 7 = Sunday, 8 = holiday; None if absent.
        day_end: the ``DayEnd`` weekday, same coding.
    """

    name: str
    start: datetime
    end: datetime
    value: float
    unit: str
    day_start: int | None
    day_end: int | None

    def covers(self, moment: datetime) -> bool:
        """True when ``moment`` (aware) is in ``[start, end)``."""
        return self.start <= moment < self.end


@dataclass(frozen=True)
class RateSchedule:
    """A rate as MIDAS publishes it: its description and its values over time."""

    rate_id: Rin | str
    rate_name: str | None
    rate_type: str | None
    sector: str | None
    end_use: str | None
    api_url: str | None
    rate_plan_url: str | None
    signal_type: str | None
    description: str | None
    intervals: list[PriceInterval]

    def at(self, moment: datetime) -> PriceInterval | None:
        """The interval in force at ``moment`` (an aware datetime), None when none covers it."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{moment.isoformat()} has no time zone; MIDAS times are instants")
        return next((interval for interval in self.intervals if interval.covers(moment)), None)

    def current(self, now: datetime | None = None) -> PriceInterval | None:
        """The interval in force now (or at ``now``)."""
        return self.at(now if now is not None else datetime.now(UTC))


def parse_rin_list(body: Any) -> list[RinListing]:
    """Read a RIN list body: v2 ``{"Rates": [...]}`` or v1's bare array.

    Raises:
        MidasResponseError: the body is neither, or a row lacks its ``RateID``.
    """
    rows = body
    if isinstance(body, dict):
        rows = next((body[key] for key in _RIN_LIST_KEYS if key in body), None)
    if not isinstance(rows, list):
        raise MidasResponseError("expected a list of rates (v2: an object with it)", field="Rates")
    listings = []
    for index, row in enumerate(rows):
        where = f"Rates[{index}]"
        row = _object(row, where)
        listings.append(
            RinListing(
                rate_id=_rate_id(row, where),
                signal_type=_text(row, "SignalType", where) or "",
                description=_text(row, "Description", where) or "",
                last_updated=_timestamp(row.get("LastUpdated"), f"{where}.LastUpdated"),
            )
        )
    return listings


def parse_rate_schedule(body: Any, *, v1_timezone: tzinfo = UTC) -> RateSchedule:
    """Read a ``valuedata`` / ``historicaldata`` body (v1 or v2) into a :class:`RateSchedule`.

    Args:
        body: the decoded JSON.
        v1_timezone: the zone of v1-shaped rows' dates and times (UTC unless the recording
            is known to be local, like v1's Flex Alert feed in Pacific time).

    Raises:
        MidasResponseError: naming the first field that is missing or malformed.
    """
    top = _object(body, "body")
    entries = top.get("ValueInformation")
    if entries is None:
        entries = []  # a rate with nothing published in the window
    if not isinstance(entries, list):
        raise MidasResponseError("expected a list", field="ValueInformation")
    intervals = [
        _interval(_object(entry, f"ValueInformation[{index}]"), index, v1_timezone)
        for index, entry in enumerate(entries)
    ]
    intervals.sort(key=lambda interval: (interval.start, interval.end))
    return RateSchedule(
        rate_id=_rate_id(top, "body"),
        rate_name=_text(top, "RateName", "body"),
        rate_type=_text(top, "RateType", "body"),
        sector=_text(top, "Sector", "body"),
        end_use=_text(top, "EndUse", "body"),
        api_url=_url(top, "API_Url"),
        rate_plan_url=_url(top, "RatePlan_Url"),
        signal_type=_text(top, "SignalType", "body"),
        description=_text(top, "Description", "body"),
        intervals=intervals,
    )


def _interval(entry: Mapping[str, Any], index: int, v1_timezone: tzinfo) -> PriceInterval:
    where = f"ValueInformation[{index}]"
    v1 = "Value" not in entry and "value" in entry  # the v1 shape, whose times may be local
    key = "value" if v1 else "Value"
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MidasResponseError(f"expected a number, got {value!r}", field=f"{where}.Value")
    day_start = _weekday(entry.get("DayStart"), f"{where}.DayStart")
    day_end = _weekday(entry.get("DayEnd"), f"{where}.DayEnd")
    zone = v1_timezone if v1 else UTC
    start, _ = _moment(entry, "DateStart", "TimeStart", where, zone)
    end, step = _moment(entry, "DateEnd", "TimeEnd", where, zone)
    end += step
    if end <= start:
        raise MidasResponseError(
            f"ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            field=f"{where}.TimeEnd",
        )
    return PriceInterval(
        name=_text(entry, "ValueName", where) or "",
        start=start,
        end=end,
        value=float(value),
        unit=_text(entry, "Unit", where) or "",
        day_start=day_start,
        day_end=day_end,
    )


def _moment(
    entry: Mapping[str, Any], date_key: str, time_key: str, where: str, zone: tzinfo
) -> tuple[datetime, timedelta]:
    """An instant from a date and a time field, and the precision step of the time."""
    day_text, time_text = entry.get(date_key), entry.get(time_key)
    try:
        day = date.fromisoformat(str(day_text))
    except ValueError:
        raise MidasResponseError(
            f"expected a date YYYY-MM-DD, got {day_text!r}", field=f"{where}.{date_key}"
        ) from None
    try:
        moment = clock_time.fromisoformat(str(time_text))
    except ValueError:
        raise MidasResponseError(
            f"expected a time HH:MM:SS, got {time_text!r}", field=f"{where}.{time_key}"
        ) from None
    step = timedelta(minutes=1) if len(str(time_text)) == 5 else timedelta(seconds=1)
    local = datetime.combine(day, moment.replace(microsecond=0, tzinfo=None))
    return local.replace(tzinfo=zone).astimezone(UTC), step


def _weekday(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw.strip().lower() in _WEEKDAYS:
            return _WEEKDAYS[raw.strip().lower()]
    elif isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= HOLIDAY:
        return raw
    raise MidasResponseError(
        f"expected 1-8 (Monday..Sunday, holiday) or a weekday name, got {raw!r}", field=where
    )


def _timestamp(raw: Any, where: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise MidasResponseError(
            f"expected an ISO 8601 timestamp, got {raw!r}", field=where
        ) from None
    if moment.tzinfo is None:  # v1: Pacific wall-clock time (see the module docstring)
        moment = moment.replace(tzinfo=_pacific())
    return moment.astimezone(UTC)


@lru_cache(maxsize=1)
def _pacific() -> tzinfo:
    from zoneinfo import ZoneInfo  # loaded on first use: the IANA database is only needed here

    return ZoneInfo(PACIFIC)


def _object(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise MidasResponseError(f"expected a JSON object, got {type(raw).__name__}", field=where)
    return raw


def _text(row: Mapping[str, Any], key: str, where: str) -> str | None:
    raw = row.get(key)
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw)  # v1 lookup tables and signal types are sometimes numbers
    raise MidasResponseError(f"expected text, got {raw!r}", field=f"{where}.{key}")


def _url(row: Mapping[str, Any], key: str) -> str | None:
    text = _text(row, key, "body")
    return None if text is None or text.strip() in ("", "None") else text


def _rate_id(row: Mapping[str, Any], where: str) -> Rin | str:
    text = _text(row, "RateID", where)
    if not text:
        raise MidasResponseError("missing", field=f"{where}.RateID")
    return Rin.parse(text) if Rin.is_valid(text) else text


def merge_schedules(schedules: list[RateSchedule]) -> RateSchedule:
    """One schedule from the answers of consecutive calls; overlaps kept once."""
    seen: set[tuple[datetime, datetime, str, float, str]] = set()
    intervals = []
    for schedule in schedules:
        for interval in schedule.intervals:
            key = (interval.start, interval.end, interval.name, interval.value, interval.unit)
            if key not in seen:
                seen.add(key)
                intervals.append(interval)
    intervals.sort(key=lambda interval: (interval.start, interval.end))
    return replace(schedules[0], intervals=intervals)


def history_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """``[start, end]`` cut into consecutive ranges of at most six calendar months each."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    chunks = []
    while start <= end:
        month = start.month - 1 + HISTORY_MONTHS
        year, month = start.year + month // 12, month % 12 + 1
        day = min(start.day, _days_in_month(year, month))
        chunk_end = min(end, date(year, month, day) - timedelta(days=1))
        chunks.append((start, chunk_end))
        start = chunk_end + timedelta(days=1)
    return chunks


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def parse_lookup_table(body: Any) -> list[dict[str, str]]:
    """Read a ``LookupTable`` body (``{"data": [...]}`` or a bare array) as rows of text;
    null cells are left out."""
    rows = body.get("data") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise MidasResponseError("expected a list of rows", field="data")
    table = []
    for index, row in enumerate(rows):
        cells = _object(row, f"data[{index}]")
        table.append({key: text for key in cells if (text := _text(cells, key, "data"))})
    return table


def decode_json(content: bytes, url: str) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        start = content[:60].decode("utf-8", "replace")
        raise MidasResponseError(
            f"the body is not JSON ({exc}); it starts {start!r}", field="body", url=url
        ) from None


def error_detail(content: bytes) -> str:
    """FastAPI-style ``{"detail": "..."}`` of an error response, or ""."""
    try:
        body = json.loads(content)
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else ""
