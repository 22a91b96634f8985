"""Rows as CSV, shaped like a utility's Download My Data file (issue 18).

A PG&E / ComEd / Con Edison Download My Data CSV reads
``Electric usage,2017-06-07,00:00,00:59,0.19,kWh,$0.08,``: local wall-clock date and times,
usage in kWh (therms for gas), cost in dollars.  The export keeps that meaning and makes
it unambiguous for a program: start and end are ISO 8601 with their UTC offset (the
repeated autumn hour is two different rows, not a duplicate), the end is exclusive
(``01:00``, not ``00:59``), cost is a plain number, and the direction column replaces the
IMPORT / EXPORT columns of net-metered downloads (docs/library.md).

Numbers are written as Python's shortest round-tripping decimal (``1.234``, ``0.57999``),
never in exponent form, so a spreadsheet and ``pandas.read_csv`` read back the exact value.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, TextIO

__all__ = ["csv_cell", "write_csv"]


def _decimal(number: float) -> str:
    text = repr(number)
    if "e" in text or "E" in text:  # 1e-05 -> 0.00001; 1e+16 -> 10000000000000000
        text = format(number, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text


def csv_cell(value: Any) -> str | int:
    """One value as CSV text: ISO 8601 for datetimes (with the offset), plain decimals,
    ``true``/``false``, and the empty string for a missing value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _decimal(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return value
    return str(value)


def write_csv(handle: TextIO, rows: Iterable[Any], columns: Sequence[str]) -> int:
    """Write a header of ``columns`` and one line per row (each row an object with those
    attributes: a TidyReading, a SummaryRow); return the number of rows written.

    Rows are consumed as they come, so a stream of readings stays a stream."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    get = attrgetter(*columns)
    count = 0
    if len(columns) == 1:
        for row in rows:
            writer.writerow((csv_cell(get(row)),))
            count += 1
        return count
    for row in rows:
        writer.writerow([csv_cell(value) for value in get(row)])
        count += 1
    return count
