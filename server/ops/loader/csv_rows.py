"""Reading a CSV export row by row, strictly, with line numbers and the bytes read so far.

Streaming (not ``server/sst/_tables.py``'s read-it-all): an interval-data CSV may hold
millions of rows, and the progress bar needs to know how far into the file the reader is.
The checks are the same: UTF-8 (a BOM from a spreadsheet is fine), one header line whose
names are known, each required one present, no name twice, every row as many fields as the
header.  What is not CSV at all -- an empty file, an HTML page saved instead of the export,
another encoding -- is a :class:`~.problems.FileError` that says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .problems import FileError

_SNIFF = 512


@dataclass(frozen=True)
class Row:
    """One data row: its CSV line and its values (stripped strings; "" when empty)."""

    line: int
    values: Mapping[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes handed out (for the progress bar's ETA)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.done += len(data)
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class CsvFile:
    """A CSV file to iterate (``rows()``) once, after the header is checked."""

    def __init__(self, path: Path, required: Sequence[str], optional: Sequence[str]) -> None:
        self.path = path
        self.required = tuple(required)
        self.optional = tuple(optional)
        self.size = path.stat().st_size
        self._counting: _Counting | None = None

    @property
    def bytes_read(self) -> int:
        return self._counting.done if self._counting else 0

    def rows(self) -> Iterator[Row]:
        expected = ", ".join(self.required)
        with self.path.open("rb") as raw:
            head = raw.read(_SNIFF)
            _refuse_what_is_not_csv(head, expected)
            raw.seek(0)
            self._counting = _Counting(raw)
            text = io.TextIOWrapper(
                io.BufferedReader(self._counting), encoding="utf-8-sig", newline=""
            )
            reader = csv.reader(text, strict=True)
            try:
                header = [name.strip() for name in next(reader, [])]
                if not any(header):
                    raise FileError(
                        f"no header line; the first line names the columns: {expected}", line=1
                    )
                self._check_header(header)
                for fields in reader:
                    if not any(value.strip() for value in fields):
                        continue  # blank lines (a trailing newline) are not rows
                    line = reader.line_num
                    if len(fields) != len(header):
                        raise FileError(
                            f"{len(fields)} fields where the header has {len(header)}; quote "
                            'a value that holds a comma ("a, b")',
                            line=line,
                        )
                    yield Row(line, {n: v.strip() for n, v in zip(header, fields, strict=True)})
            except csv.Error as exc:
                raise FileError(f"not valid CSV: {exc}", line=reader.line_num) from None
            except UnicodeDecodeError as exc:
                raise FileError(
                    f"not UTF-8 text ({exc.reason} near line {reader.line_num + 1}); export the "
                    "file as UTF-8 (in a spreadsheet: 'CSV UTF-8')",
                    line=reader.line_num + 1,
                ) from None

    def _check_header(self, header: Sequence[str]) -> None:
        known = set(self.required) | set(self.optional)
        listing = f"expected {', '.join(self.required)}" + (
            f"; optional {', '.join(self.optional)}" if self.optional else ""
        )
        seen: set[str] = set()
        for name in header:
            if name not in known:
                raise FileError(f"unknown column ({listing})", line=1, column=name)
            if name in seen:
                raise FileError("the column appears twice; keep one", line=1, column=name)
            seen.add(name)
        for name in self.required:
            if name not in seen:
                raise FileError(
                    f"required column missing from the header line ({listing})",
                    line=1,
                    column=name,
                )


def _refuse_what_is_not_csv(head: bytes, expected: str) -> None:
    if not head.strip():
        raise FileError(
            f"the file is empty; a load file starts with a header line naming the columns: {expected}"
        )
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered[:200]:
        raise FileError(
            "this is an HTML page, not a CSV export (a download that returned a sign-in or "
            "error page?); fetch the export again",
            line=1,
        )
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<feed") or lowered.startswith(b"<"):
        raise FileError(
            "this is XML, not CSV; ESPI files load with 'espi-sst load interval-data'", line=1
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileError(
            "UTF-16 text; export the file as UTF-8 (in a spreadsheet: 'CSV UTF-8')", line=1
        )
