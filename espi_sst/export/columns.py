"""Choosing the columns of an export by name (``espi-sst convert --columns a,b``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import EspiError

__all__ = ["select_columns"]


def select_columns(
    spec: str | None, available: Sequence[str], default: Sequence[str]
) -> tuple[str, ...]:
    """The columns a comma-separated ``spec`` names, in its order; ``default`` when none.

    An unknown or repeated name is an :class:`EspiError` listing the valid ones, so a typo
    is a one-line message, never an empty column or a traceback.
    """
    if spec is None:
        return tuple(default)
    names = tuple(name.strip() for name in spec.split(",") if name.strip())
    if not names:
        raise EspiError(f"--columns names no column; choose from: {', '.join(available)}")
    unknown = [name for name in names if name not in available]
    if unknown:
        raise EspiError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"for --columns; choose from: {', '.join(available)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise EspiError(f"column {', '.join(repeated)} named twice in --columns")
    return names
