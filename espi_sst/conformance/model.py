"""What a conformance run produces: a verdict per scenario, with the exchanges behind it.

A scenario is a named check with references (an RFC section, an ESPI / NAESB REQ.21 function
block, a GBA certification test id, a concept design section), so a verdict can be argued
at a Plug Fest from the text it cites.  Its evidence is the HTTP exchanges it made, cut to
excerpts and with credentials masked (:mod:`.recorder`), plus notes in plain words.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Exchange", "Result", "Scenario", "Verdict"]


class Verdict(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Scenario:
    """One check: ``run(context)`` returns to pass, raises ScenarioFailed / ScenarioSkipped."""

    id: str
    title: str
    references: tuple[str, ...]
    group: str
    run: Callable[[Context], None]
    needs: tuple[str, ...] = ()  # ids whose failure makes this one a skip (it cannot run)
    module: str = ""  # the module that registered it (its group's place in a run)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and the start of its answer (secrets masked)."""

    method: str
    url: str
    status: int | None
    request_headers: dict[str, str]
    request_body: str
    response_headers: dict[str, str]
    response_excerpt: str
    error: str | None = None  # the connection failed: no status

    def summary(self) -> str:
        outcome = str(self.status) if self.status is not None else f"no answer ({self.error})"
        return f"{self.method} {self.url} -> {outcome}"


@dataclass
class Result:
    """A scenario's verdict, why, and the evidence."""

    scenario: Scenario
    verdict: Verdict
    reason: str = ""
    evidence: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
