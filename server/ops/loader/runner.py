"""Loading files of one kind: batches, one transaction each, all or nothing per batch.

A batch (default: the whole file; ``batch_size`` rows) is checked and applied row by row
in one transaction.  Every bad row of the batch is reported (up to ``MAX_PROBLEMS``); if
there is any, the batch is rolled back -- nothing of it is in the database -- and the load
stops there (:class:`~.problems.LoadFailed`), so the operator fixes the file and runs it
again.  Batches committed before stay: they are the natural keys' business on the next run
(found unchanged), which is what makes a load resumable without a progress table.
``dry_run`` checks everything the same way, against the database, and rolls every batch
back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .accounts import Accounts
from .csv_rows import CsvFile
from .customers import Customers
from .interval_csv import IntervalCsv
from .interval_espi import IntervalEspi
from .kinds import LoadContext
from .problems import FileError, LoadFailed, RowError, RowProblem
from .progress import Progress
from .service_agreements import ServiceAgreements
from .tariffs import Tariffs
from .usage_points import UsagePoints

KINDS: dict[str, Callable[[], Any]] = {
    "tariffs": Tariffs,
    "customers": Customers,
    "accounts": Accounts,
    "usage-points": UsagePoints,
    "service-agreements": ServiceAgreements,
    "interval-data": IntervalCsv,
}
"""The kinds (each a :class:`~.kinds.CsvKind`), in the order they depend on each other."""

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class LoadOptions:
    batch_size: int | None = None  # None: a file is one batch
    dry_run: bool = False
    usage_point: str | None = None  # interval-data from ESPI: the target usage point
    progress_every: float = 10.0
    progress_stream: TextIO | None = None


@dataclass
class LoadSummary:
    """What a load did, per kind (``interval-data`` counts readings)."""

    kind: str
    dry_run: bool
    files: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "files": self.files,
            "batches_committed": 0 if self.dry_run else self.batches,
            "inserted": self.counts["inserted"],
            "updated": self.counts["updated"],
            "unchanged": self.counts["unchanged"],
            "rejected": self.counts["rejected"],
            "problems": [p.as_json() for p in self.problems],
        }

    def lines(self) -> list[str]:
        verb = "checked (dry run, nothing written)" if self.dry_run else "loaded"
        what = "readings" if self.kind == "interval-data" else "rows"
        return [
            f"{self.kind}: {len(self.files)} file(s) {verb}: {self.counts['inserted']} {what} "
            f"inserted, {self.counts['updated']} updated, {self.counts['unchanged']} unchanged, "
            f"{self.counts['rejected']} rejected"
        ]


def load_files(
    session: Session, kind: str, paths: Iterable[Path], options: LoadOptions, *, now: int
) -> LoadSummary:
    """Load each file in turn; raises LoadFailed (the summary on ``.summary``) at the first
    refused batch."""
    summary = LoadSummary(kind, options.dry_run)
    for path in paths:
        summary.files.append(str(path))
        try:
            _load_file(session, kind, path, options, now, summary)
        except LoadFailed as failed:
            summary.problems.extend(failed.problems)
            failed.summary = summary  # type: ignore[attr-defined]
            raise
    return summary


def _load_file(
    session: Session, kind: str, path: Path, options: LoadOptions, now: int, summary: LoadSummary
) -> None:
    source = str(path)
    try:
        if not path.is_file():
            raise FileError("no such file" if not path.exists() else "not a file")
        handler: Any
        if kind == "interval-data" and path.suffix.lower() != ".csv":
            handler = IntervalEspi(path, options.usage_point)
            espi = handler
            items: Iterator[Any] = handler.items()
            done = [0]

            def total() -> tuple[int, int] | None:
                return (done[0], espi.total)

        else:
            handler = KINDS[kind]()
            table = CsvFile(path, handler.required, handler.optional)
            items = table.rows()
            done = [0]

            def total() -> tuple[int, int] | None:
                return (table.bytes_read, table.size)

        progress = Progress(
            f"{kind} {path.name}",
            total=total,
            stream=options.progress_stream,
            every=options.progress_every,
        )
        try:
            _batches(session, handler, items, path, options, now, summary, progress, done)
        finally:
            progress.close()
    except FileError as exc:
        session.rollback()
        summary.counts["rejected"] += 1
        raise LoadFailed([RowProblem(source, exc.line, exc.column, exc.problem)]) from None


def _batches(
    session: Session,
    handler: Any,
    items: Iterator[Any],
    path: Path,
    options: LoadOptions,
    now: int,
    summary: LoadSummary,
    progress: Progress,
    done: list[int],
) -> None:
    source = str(path)
    seen: dict[Hashable, int | None] = {}
    problems: list[RowProblem] = []
    context = LoadContext(now=now, source=path)
    in_batch = 0
    for item in items:
        line = item.line
        try:
            key = handler.key(item) if hasattr(handler, "key") else None
            if key is not None:
                if key in seen:
                    first = seen[key]
                    raise RowError(
                        handler.key_column,
                        f"{_shown(key)} appears twice in the file (first on line {first}); "
                        "keep one row per key",
                    )
                seen[key] = line
            outcome = handler.apply(session, item, context)
            if outcome is not None:
                summary.counts[outcome] += 1
        except RowError as exc:
            summary.counts["rejected"] += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(RowProblem(source, line, exc.column, exc.problem))
        except SQLAlchemyError as exc:
            summary.counts["rejected"] += 1
            problems.append(
                RowProblem(
                    source,
                    line,
                    None,
                    f"the database refused the row: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
                )
            )
            _end_batch(session, handler, context, summary, problems, options, progress)
        in_batch += 1
        done[0] += 1
        progress.advance()
        if options.batch_size and in_batch >= options.batch_size:
            _end_batch(session, handler, context, summary, problems, options, progress)
            in_batch = 0
    _end_batch(session, handler, context, summary, problems, options, progress, last=True)


def _end_batch(
    session: Session,
    handler: Any,
    context: LoadContext,
    summary: LoadSummary,
    problems: list[RowProblem],
    options: LoadOptions,
    progress: Progress,
    *,
    last: bool = False,
) -> None:
    try:
        if not problems:
            summary.counts.update(handler.finish(session, context))
            session.flush()
    except SQLAlchemyError as exc:
        problems.append(
            RowProblem(
                str(context.source),
                None,
                None,
                f"the database refused the batch: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
            )
        )
    context.cache.clear()  # ids created in this transaction are gone if it is rolled back
    if problems:
        session.rollback()
        raise LoadFailed(list(problems))
    if options.dry_run:
        session.rollback()
    else:
        session.commit()
    summary.batches += 1
    progress.batch_done(summary.batches)


def _shown(key: Hashable) -> str:
    if isinstance(key, tuple):
        return " at ".join(str(part) for part in key)
    return repr(key)
