"""The scenario catalogue: each module of :mod:`.scenarios` adds its checks with ``@scenario``.

The order of registration is the order of a run (discovery first, the schema and
certification checks of every collected body last), and ids are unique: a clash is a
programming error caught at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .model import Scenario

if TYPE_CHECKING:
    from .context import Context

__all__ = ["REGISTERED", "scenario"]

REGISTERED: list[Scenario] = []

ScenarioFunction = Callable[["Context"], None]


def scenario(
    scenario_id: str,
    title: str,
    *,
    references: tuple[str, ...],
    group: str,
    needs: tuple[str, ...] = (),
) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Register the decorated function as scenario ``scenario_id``."""

    def register(function: ScenarioFunction) -> ScenarioFunction:
        if any(known.id == scenario_id for known in REGISTERED):
            raise RuntimeError(f"scenario id {scenario_id} registered twice")
        REGISTERED.append(
            Scenario(scenario_id, title, references, group, function, needs, function.__module__)
        )
        return function

    return register
