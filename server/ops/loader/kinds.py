"""What every kind of load file shares: its columns, its natural key, how a row is applied.

A kind checks a row and applies it in the batch's transaction, answering ``inserted``,
``updated`` or ``unchanged``; a bad value is a :class:`~.problems.RowError` raised before
anything of the row is written.  Rows are found by their natural key, never by a surrogate
id, so loading a file twice finds the first load's rows and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session

from .csv_rows import Row

Outcome = Literal["inserted", "updated", "unchanged"]

NAMESPACE = uuid.UUID("2f1d5d0e-58a4-5b9e-9c51-6a2f3c0b7d40")
"""uuid5 namespace of the ids the loader derives (a customer without a given uuid, a usage
point's meter reading and reading type): the same file gives the same ids on every run."""


def derived_uuid(*name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(name)))


@dataclass
class LoadContext:
    """What a row's check needs besides the row: the time, the file, per-run caches."""

    now: int
    source: Path
    cache: dict[str, Any] = field(default_factory=dict)


class CsvKind(Protocol):
    """One kind of CSV load file (``customers``, ``accounts`` ...)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key_column: str

    def key(self, row: Row) -> Hashable:
        """The row's natural key (duplicates within a file are refused)."""
        ...

    def apply(self, session: Session, row: Row, context: LoadContext) -> Outcome | None:
        """Check and write the row; None: staged, counted by ``finish``."""
        ...

    def finish(self, session: Session, context: LoadContext) -> Mapping[Outcome, int]:
        """Write what ``apply`` staged (interval data); the counts."""
        ...


def assign(target: object, values: Mapping[str, object]) -> bool:
    """Set the attributes that differ; whether any did."""
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed


def upserted(
    session: Session, found: object | None, model: type, values: Mapping[str, object]
) -> Outcome:
    """Insert ``model(**values)`` when nothing was found, else update what differs."""
    if found is None:
        session.add(model(**values))
        return "inserted"
    return "updated" if assign(found, values) else "unchanged"


class NothingStaged:
    """Mixin for kinds that write each row in ``apply``."""

    def finish(self, session: Session, context: LoadContext) -> Mapping[Outcome, int]:
        return {}
