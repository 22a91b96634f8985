"""What a loader says about bad input: where (file, line, column), what, how to fix it.

The form is the one ``server/sst/_tables.py`` uses for the adapters' tables
(``rates.csv, line 4, column 'role': ...``), so an operator reads one style of message."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InvalidInput


@dataclass(frozen=True)
class RowProblem:
    """One bad row (or header, or file: ``line`` None).

    Attributes:
        source: the file as given on the command line.
        line: the CSV line (1 is the header) or XML line; None: the whole file.
        column: the CSV column, or the XML element, at fault; None: the row.
        problem: what is wrong and how to fix it, one sentence.
    """

    source: str
    line: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.problem}"

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.source,
            "line": self.line,
            "column": self.column,
            "problem": self.problem,
        }


class RowError(InvalidInput):
    """Raised by a kind's row check; the runner records it and goes on with the batch."""

    def __init__(self, column: str | None, problem: str) -> None:
        super().__init__(problem)
        self.column = column
        self.problem = problem


class FileError(InvalidInput):
    """A file that cannot be read as its kind at all (empty, not UTF-8, HTML, not XML)."""

    def __init__(self, problem: str, *, line: int | None = None, column: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.column = column


class LoadFailed(InvalidInput):
    """A batch was refused: nothing of it was written.  ``problems`` lists why."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems[:3]))
        self.problems = problems
