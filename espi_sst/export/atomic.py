"""Write a file under its real name only once it is complete.

An export of a five-year file takes seconds; an error half-way (a malformed entry near the
end, a full disk, Ctrl-C) must not leave a truncated CSV that looks like a whole one.  The
rows go to ``OUT.partial`` beside the target (same directory, so the rename is atomic on
POSIX: ``os.replace``), which is renamed over ``OUT`` on success and removed on any error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output", "partial_path"]


def partial_path(target: str | os.PathLike[str]) -> Path:
    """Where ``target`` is written until it is complete: ``target`` + ``.partial``."""
    return Path(os.fspath(target) + ".partial")


@contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield the ``.partial`` path to write; rename it to ``target`` when the block ends
    without an exception, delete it when it raises (the exception goes on)."""
    partial = partial_path(target)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
