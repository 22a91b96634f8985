"""How the admin commands print: one JSON document with ``--json``, else a table for a list
and ``key: value`` lines for one object.

The JSON is the documents of ``admin_views.py`` as they are (stable keys, ISO 8601 UTC
times), so a script reads ``--json`` and a person reads the table; the table only picks
columns and shortens nothing but long cells.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

MAX_CELL = 48


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key} {count}" for key, count in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value) or "-"
    text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def print_json(document: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    json.dump(document, stream, indent=2, sort_keys=False)
    stream.write("\n")


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, empty: str, out: TextIO | None = None
) -> None:
    """Rows under a header of ``columns`` (keys of each row), left-aligned."""
    stream = out or sys.stdout
    if not rows:
        stream.write(empty + "\n")
        return
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[index]) for line in cells))
        for index, column in enumerate(columns)
    ]
    header = [column.upper() for column in columns]
    for line in [header, *cells]:
        stream.write(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            + "\n"
        )


def print_object(document: dict[str, Any], out: TextIO | None = None) -> None:
    """One object as ``key: value`` lines; a list of objects as indented lines beneath."""
    stream = out or sys.stdout
    width = max(len(key) for key in document)
    for key, value in document.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            stream.write(f"{key}:\n")
            for item in value:
                stream.write("  - " + ", ".join(f"{k} {_cell(v)}" for k, v in item.items()) + "\n")
            continue
        text = _cell(value) if not isinstance(value, str) else value
        stream.write(f"{key.ljust(width)}  {text}\n")


def emit(
    document: Any,
    *,
    as_json: bool,
    columns: Sequence[str] | None = None,
    empty: str = "(none)",
) -> None:
    """Print a list (a table of ``columns``) or one object, or either as JSON."""
    if as_json:
        print_json(document)
    elif isinstance(document, list):
        print_table(document, columns or [], empty=empty)
    else:
        print_object(document)
