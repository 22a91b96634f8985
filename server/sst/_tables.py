"""Reading the tables a utility exports: CSV files or a SQL query, strictly, with line numbers.

Shared by the ready-made adapters (:mod:`.table_catalog`, :mod:`.cca_cache`,
:mod:`.precomputed`).  A *source* setting is a path, a list of paths (read in order, as one
table), or ``{"url": SQLAlchemy URL, "query": SQL}`` naming the utility's own database.
Every value arrives as a stripped string, so CSV and SQL are checked by the same code, and
every problem is a :class:`TableError` naming the file (or query), the line (CSV line, or
row number of the query result) and the column.

:class:`TableCache` keeps one parsed table per setting and process: a CSV is read again when
its modification time or size changes (a utility drops in a new export; no restart), a query
every ``refresh_seconds``.  A new version that fails to load is logged and the last good one
kept; only a first load that fails raises.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from espi_sst import Rin
from espi_sst.errors import RinError

from ..errors import InvalidInput

log = logging.getLogger(__name__)

T = TypeVar("T")


class TableError(InvalidInput):
    """A table that cannot be used; nothing of it was applied.

    Attributes:
        source: the file, or ``query at URL``.
        line: the CSV line (1 is the header) or the query's row number; None: the whole table.
        column: the column at fault, when there is one.
    """

    code = "table_invalid"

    def __init__(
        self, problem: str, *, source: str, line: int | None = None, column: str | None = None
    ) -> None:
        where = source
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")
        self.problem = problem
        self.source = source
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Row:
    """One row of a table: where it came from and its values (stripped strings; "" empty)."""

    source: str
    line: int
    values: Mapping[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")

    def has(self, column: str) -> bool:
        return column in self.values


def read_table(
    setting: object,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    error: type[TableError] = TableError,
    params: Mapping[str, Any] | None = None,
) -> list[Row]:
    """All rows of the table ``setting`` names; unknown or missing columns are refused."""
    rows: list[Row] = []
    for kind, target in _parts(setting, error):
        if kind == "csv":
            rows.extend(_read_csv(Path(target), required, optional, error))
        else:
            url, query = target
            rows.extend(_read_query(url, query, required, optional, error, params or {}))
    return rows


def _parts(setting: object, error: type[TableError]) -> list[tuple[str, Any]]:
    if isinstance(setting, str | os.PathLike):
        return [("csv", os.fspath(setting))]
    if isinstance(setting, list | tuple) and setting:
        return [part for item in setting for part in _parts(item, error)]
    if isinstance(setting, Mapping) and set(setting) == {"url", "query"}:
        return [("sql", (str(setting["url"]), str(setting["query"])))]
    raise error(
        f'expected a CSV path, a list of paths, or {{"url": ..., "query": ...}}; got {setting!r}',
        source="configuration",
    )


def _check_columns(
    found: Sequence[str],
    required: Sequence[str],
    optional: Sequence[str],
    source: str,
    error: type[TableError],
) -> None:
    known = set(required) | set(optional)
    for name in found:
        if name not in known:
            raise error(
                f"unknown column (expected {', '.join(required)}"
                + (f"; optional {', '.join(optional)}" if optional else "")
                + ")",
                source=source,
                line=1,
                column=name,
            )
    seen: set[str] = set()
    for name in found:
        if name in seen:
            raise error("the column appears twice", source=source, line=1, column=name)
        seen.add(name)
    for name in required:
        if name not in found:
            raise error("required column missing", source=source, line=1, column=name)


def _read_csv(
    path: Path, required: Sequence[str], optional: Sequence[str], error: type[TableError]
) -> list[Row]:
    source = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # a BOM from spreadsheet exports
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror}", source=source) from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [name.strip() for name in next(reader, [])]
            if not header:
                raise error("the file is empty (expected a header line)", source=source, line=1)
            _check_columns(header, required, optional, source, error)
            rows: list[Row] = []
            for fields in reader:
                line = reader.line_num
                if not any(value.strip() for value in fields):
                    continue  # blank lines (a trailing newline) are not rows
                if len(fields) != len(header):
                    raise error(
                        f"{len(fields)} fields where the header has {len(header)}",
                        source=source,
                        line=line,
                    )
                values = {name: value.strip() for name, value in zip(header, fields, strict=True)}
                rows.append(Row(source, line, values))
        except csv.Error as exc:
            raise error(f"not valid CSV: {exc}", source=source, line=reader.line_num) from None
        except UnicodeDecodeError as exc:
            raise error(f"not UTF-8 text: {exc.reason}", source=source) from None
    return rows


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    """One engine per URL and process.  No pool: tables are read once per refresh, and a
    per-point query once per billing cycle, so an idle connection would only go stale."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = create_engine(url, poolclass=NullPool)
        return engine


def _read_query(
    url: str,
    query: str,
    required: Sequence[str],
    optional: Sequence[str],
    error: type[TableError],
    params: Mapping[str, Any],
) -> list[Row]:
    engine = engine_for(url)
    source = f"query at {engine.url.render_as_string(hide_password=True)}"
    try:
        with engine.connect() as connection:
            result = connection.execute(text(query), dict(params))
            header = [str(name) for name in result.keys()]
            _check_columns(header, required, optional, source, error)
            records = result.all()
    except TableError:
        raise
    except Exception as exc:  # the utility's database: any driver error, named
        raise error(f"the query failed: {type(exc).__name__}: {exc}", source=source) from None
    return [
        Row(
            source,
            number,
            {name: _as_text(value) for name, value in zip(header, record, strict=True)},
        )
        for number, record in enumerate(records, start=1)
    ]


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


# ---- values -----------------------------------------------------------------------------


def fail(row: Row, column: str | None, problem: str, error: type[TableError]) -> TableError:
    return error(problem, source=row.source, line=row.line, column=column)


def required_text(row: Row, column: str, error: type[TableError], *, limit: int) -> str:
    value = row[column]
    if not value:
        raise fail(row, column, "required, but empty", error)
    if len(value) > limit:
        raise fail(row, column, f"longer than {limit} characters", error)
    return value


def rin_of(row: Row, column: str, error: type[TableError]) -> Rin:
    """The column's Rate Identification Number; a malformed one names the column."""
    try:
        return Rin.parse(row[column])
    except RinError as exc:
        raise fail(row, column, str(exc), error) from None


def parse_moment(row: Row, column: str, error: type[TableError]) -> date | datetime | None:
    """A date ``YYYY-MM-DD`` (local midnight where it is used) or an RFC 3339 time with a
    UTC offset; empty: None."""
    value = row[column]
    if not value:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            row, column, f"{value!r} is not a date (YYYY-MM-DD) or an RFC 3339 time", error
        ) from None
    if moment.tzinfo is None:
        raise fail(row, column, f"{value!r} has no UTC offset; add one, or give a date", error)
    return moment


def epoch_of(moment: date | datetime, zone: tzinfo) -> int:
    """Epoch seconds; a date is local midnight in ``zone`` (the usage point's time zone)."""
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    return int(datetime(moment.year, moment.month, moment.day, tzinfo=zone).timestamp())


def split_list(value: str) -> list[str]:
    """``ev|heat_pump`` -> ``["ev", "heat_pump"]``."""
    return [item.strip() for item in value.split("|") if item.strip()]


def fingerprint(parts: Iterable[object]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


# ---- the per-process cache --------------------------------------------------------------


def file_stamp(setting: object) -> tuple[tuple[str, int, int], ...] | None:
    """What tells a new export from the last one: each file's mtime and size (None: a
    query is part of the setting, which only time refreshes)."""
    stamps = []
    for kind, target in _parts(setting, TableError):
        if kind != "csv":
            return None
        try:
            found = os.stat(target)
        except OSError:
            stamps.append((target, -1, -1))
        else:
            stamps.append((target, found.st_mtime_ns, found.st_size))
    return tuple(stamps)


@dataclass
class _Entry(Generic[T]):
    stamp: object
    loaded_at: float
    value: T
    failed_stamp: object = None


class TableCache(Generic[T]):
    """Parsed tables by setting, reloaded when their files change (or a query's time is up)."""

    def __init__(self, load: Callable[[Any], T], describe: str) -> None:
        self._load = load
        self._describe = describe
        self._entries: dict[str, _Entry[T]] = {}
        self._lock = threading.Lock()

    def get(self, setting: Any, *, stamp: object, refresh_seconds: float) -> T:
        key = json.dumps(setting, sort_keys=True, default=str)
        clock = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not _stale(entry, stamp, clock, refresh_seconds):
                return entry.value
            try:
                value = self._load(setting)
            except TableError as exc:
                if entry is None:
                    raise
                if entry.failed_stamp != stamp or stamp is None:
                    log.error("%s: keeping the last good version: %s", self._describe, exc)
                entry.failed_stamp = stamp
                if stamp is None:
                    entry.loaded_at = clock  # a query: try again after refresh_seconds
                return entry.value
            self._entries[key] = _Entry(stamp, clock, value)
            return value


def _stale(entry: _Entry[Any], stamp: object, clock: float, refresh_seconds: float) -> bool:
    if stamp is None:
        return clock - entry.loaded_at >= refresh_seconds
    return stamp != entry.stamp and stamp != entry.failed_stamp
