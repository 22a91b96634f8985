"""A CSV cell as the value a column holds, or a :class:`~.problems.RowError` saying why not.

Every check names what was found and what is expected, so the message alone tells the
operator how to fix the export.  Times are RFC 3339 with a UTC offset (or epoch seconds);
a date alone is the usage point's local midnight (ESPI LocalTimeParameters)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, tzinfo

from .csv_rows import Row
from .problems import RowError


def text(row: Row, column: str, *, limit: int, required: bool = True) -> str | None:
    value = row[column]
    if not value:
        if required:
            raise RowError(column, "required, but empty")
        return None
    if len(value) > limit:
        raise RowError(column, f"{len(value)} characters; at most {limit} fit")
    return value


def required_text(row: Row, column: str, *, limit: int) -> str:
    value = text(row, column, limit=limit)
    assert value is not None
    return value


def integer(
    row: Row,
    column: str,
    *,
    low: int | None = None,
    high: int | None = None,
    required: bool = True,
) -> int | None:
    value = row[column]
    if not value:
        if required:
            raise RowError(column, "required, but empty")
        return None
    try:
        number = int(value)
    except ValueError:
        raise RowError(column, f"{value!r} is not a whole number (digits, optional '-')") from None
    if low is not None and number < low:
        raise RowError(column, f"{number} is below {low}")
    if high is not None and number > high:
        raise RowError(column, f"{number} is above {high}")
    return number


def a_uuid(row: Row, column: str) -> str:
    value = row[column]
    if not value:
        raise RowError(column, "required, but empty")
    try:
        return str(uuid.UUID(value.removeprefix("urn:uuid:")))
    except ValueError:
        raise RowError(
            column, f"{value!r} is not a UUID (like 7c9e6679-7425-40de-944b-e07fc1f90ae7)"
        ) from None


def choice(
    row: Row, column: str, options: dict[str, int | str], *, default: str | None = None
) -> int | str:
    value = row[column] or default
    if value is None:
        raise RowError(column, f"required, but empty; one of {', '.join(options)}")
    if value not in options:
        raise RowError(column, f"{value!r} is not one of {', '.join(options)}")
    return options[value]


def moment(row: Row, column: str, zone: tzinfo, *, required: bool = True) -> int | None:
    """Epoch seconds of a date (local midnight in ``zone``), an RFC 3339 time with an
    offset, or epoch seconds as digits."""
    value = row[column]
    if not value:
        if required:
            raise RowError(column, "required, but empty")
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RowError(
            column,
            f"{value!r} is not a date (YYYY-MM-DD), an RFC 3339 time "
            "(2026-03-01T00:00:00-08:00) or epoch seconds",
        ) from None
    if parsed.tzinfo is None:
        raise RowError(
            column, f"{value!r} has no UTC offset; add one (-08:00, Z) so the instant is exact"
        )
    return int(parsed.timestamp())


def word_list(row: Row, column: str) -> list[str]:
    """``ev|heat_pump`` -> ``["ev", "heat_pump"]`` (sorted, so a reordering is no change)."""
    return sorted({item.strip() for item in row[column].split("|") if item.strip()})
