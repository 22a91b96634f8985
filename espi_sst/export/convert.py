"""``espi-sst convert``: Green Button files to one CSV or Parquet table (issue 18).

The command line stays thin (espi_sst/cli.py parses arguments and prints); this module
decides what is written: interval readings as tidy rows (espi_sst/tidy.py) or, with
``summaries``, one row per UsageSummary; the columns by name; the format.  Every file is
written through :func:`~espi_sst.export.atomic.atomic_output`, so an error leaves no
half-written file under the real name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from ..errors import EspiError
from ..readings import Reading
from ..sources import AllReadings, readings_of_all, source_name
from ..tidy import ANALYST_COLUMNS, TIDY_COLUMNS, tidy_readings
from ..xml._safety import Source
from .atomic import atomic_output
from .columns import select_columns
from .csv import write_csv
from .summaries import SUMMARY_COLUMNS, SUMMARY_DEFAULT_COLUMNS, summary_rows

__all__ = ["FORMATS", "Conversion", "convert", "utc_notice"]

FORMATS = ("csv", "parquet")


@dataclass
class Conversion:
    """What a conversion did: rows written, the warnings to show the user (each naming its
    file) and the notes (inputs skipped: a file without readings among several)."""

    rows: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def utc_notice(name: str) -> str:
    """The warning for a file whose times cannot be local: it has no LocalTimeParameters."""
    return f"no LocalTimeParameters in {name}: times are UTC"


class _UtcWatch:
    """Passes readings through, noting which files' readings have no time zone (no
    LocalTimeParameters), in the order met."""

    def __init__(self, stream: AllReadings) -> None:
        self._stream = stream
        self.utc: list[str] = []

    def readings(self, readings: Iterable[Reading]) -> Iterator[Reading]:
        last = None
        for reading in readings:
            if reading.context is not last:
                last = reading.context
                name = self._stream.current
                if last.time_zone is None and name is not None and name not in self.utc:
                    self.utc.append(name)
            yield reading


def convert(
    sources: Sequence[Source],
    *,
    to: str = "csv",
    output: str | None = None,
    stdout: TextIO | None = None,
    columns: str | None = None,
    summaries: bool = False,
) -> Conversion:
    """Convert ``sources`` (paths, archive members, bytes or binary file objects; all rows
    in one table, in order) to ``to`` at ``output`` (``None`` or ``"-"``: ``stdout``, CSV
    only).

    ``columns`` is the comma-separated ``--columns`` (None: the Download My Data columns,
    ``ANALYST_COLUMNS`` or ``SUMMARY_DEFAULT_COLUMNS``).  Bad arguments raise
    :class:`EspiError` before anything is read or written."""
    if to not in FORMATS:
        raise EspiError(f"cannot convert to {to!r}; choose from: {', '.join(FORMATS)}")
    to_file = output is not None and output != "-"
    if to == "parquet" and not to_file:
        raise EspiError("--to parquet writes a file, not a terminal: give -o OUT.parquet")
    if summaries:
        chosen = select_columns(columns, SUMMARY_COLUMNS, SUMMARY_DEFAULT_COLUMNS)
        return _summaries(sources, to, output if to_file else None, stdout, chosen)
    chosen = select_columns(columns, TIDY_COLUMNS, ANALYST_COLUMNS)
    return _readings(sources, to, output if to_file else None, stdout, chosen)


def _readings(
    sources: Sequence[Source],
    to: str,
    output: str | None,
    stdout: TextIO | None,
    columns: tuple[str, ...],
) -> Conversion:
    if to == "parquet":
        from .parquet import _pyarrow

        _pyarrow()  # the missing extra is said before the file is read
    stream = readings_of_all(sources)  # refuses input without any reading before writing
    watch = _UtcWatch(stream)
    readings = watch.readings(stream)
    result = Conversion()
    if output is None:
        assert stdout is not None
        result.rows = write_csv(stdout, tidy_readings(readings), columns)
    elif to == "parquet":
        from .parquet import write_readings_parquet

        with atomic_output(output) as partial:
            result.rows = write_readings_parquet(partial, readings, columns)
    else:
        with atomic_output(output) as partial, partial.open("w", newline="", encoding="utf-8") as f:
            result.rows = write_csv(f, tidy_readings(readings), columns)
    result.warnings.extend(utc_notice(name) for name in watch.utc)
    several = len(sources) > 1
    result.warnings.extend(
        f"{name}: {warning}" if several else str(warning)
        for name, warning in stream.warnings_by_source
    )
    result.notes.extend(stream.notes)
    return result


def _summaries(
    sources: Sequence[Source],
    to: str,
    output: str | None,
    stdout: TextIO | None,
    columns: tuple[str, ...],
) -> Conversion:
    from ..xml.reader import parse

    if to == "parquet":
        from .parquet import _pyarrow

        _pyarrow()
    documents = [parse(source) for source in sources]
    rows = [row for document in documents for row in summary_rows(document)]
    if not rows:
        names = ", ".join(source_name(source) for source in sources[:3])
        raise EspiError(f"no UsageSummary in {names}: nothing to export with --summaries")
    result = Conversion(rows=len(rows))
    if output is None:
        assert stdout is not None
        write_csv(stdout, rows, columns)
    elif to == "parquet":
        from .parquet import write_summaries_parquet

        with atomic_output(output) as partial:
            write_summaries_parquet(partial, documents, columns)
    else:
        with atomic_output(output) as partial, partial.open("w", newline="", encoding="utf-8") as f:
            write_csv(f, rows, columns)
    several = len(sources) > 1
    for source, document in zip(sources, documents, strict=True):
        name = source_name(source)
        if any(not row.local_time for row in summary_rows(document)):
            result.warnings.append(utc_notice(name))
        result.warnings.extend(
            f"{name}: {warning}" if several else str(warning) for warning in document.warnings
        )
    return result
