"""Runs the scenarios in order and gives each a verdict; nothing a server does stops the run.

A scenario passes by returning, fails by ``ScenarioFailed`` (or any other error: a
connection refused, an answer the kit cannot read -- reported in one line, never a
traceback), and is skipped by ``ScenarioSkipped`` or when a scenario it ``needs`` did not
pass.  The run passes when no scenario failed.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from .. import __version__
from .config import KitConfig
from .context import Context
from .errors import ScenarioFailed, ScenarioSkipped
from .model import Result, Scenario, Verdict
from .recorder import mask
from .registry import REGISTERED

__all__ = ["Report", "all_scenarios", "run_conformance"]


def all_scenarios() -> list[Scenario]:
    """Every scenario, in run order: the modules in ``MODULES`` order, each module's in the
    order it registers them.  Not the order of import: a program (a test) that imported the
    SST module first would otherwise run SST before OAuth -- and a grant made early is
    replaced by a later consent of the same customer to the same ASP."""
    from .scenarios import MODULES

    for module in MODULES:
        importlib.import_module(f"{__package__}.scenarios.{module}")
    rank = {f"{__package__}.scenarios.{module}": n for n, module in enumerate(MODULES)}
    ordered = sorted(enumerate(REGISTERED), key=lambda item: (rank[item[1].module], item[0]))
    return [registered for _index, registered in ordered]


@dataclass
class Report:
    """A run's results, for the terminal, JUnit XML and HTML reports."""

    issuer: str
    config_source: str
    started: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    kit_version: str = __version__

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict is verdict)

    @property
    def passed(self) -> bool:
        return self.count(Verdict.FAIL) == 0

    def failed_ids(self) -> list[str]:
        return [r.scenario.id for r in self.results if r.verdict is Verdict.FAIL]


def selected(all_scenarios: Sequence[Scenario], only: Sequence[str]) -> list[Scenario]:
    """Those whose id starts with, or whose group equals, one of ``only`` (all when empty)."""
    if not only:
        return list(all_scenarios)
    wanted = [w.upper() for w in only]
    return [
        s
        for s in all_scenarios
        if any(s.id.upper().startswith(w) or s.group.upper() == w for w in wanted)
    ]


def run_conformance(
    config: KitConfig,
    *,
    only: Sequence[str] = (),
    progress: Callable[[Result, int, int], None] | None = None,
    catalogue: Sequence[Scenario] | None = None,
) -> Report:
    """Run ``catalogue`` (default: every registered scenario), or those ``only`` selects."""
    chosen = selected(all_scenarios() if catalogue is None else catalogue, only)
    report = Report(
        issuer=config.issuer,
        config_source=config.source,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    began = time.monotonic()
    context = Context(config)
    verdicts: dict[str, Verdict] = {}
    try:
        for number, scenario in enumerate(chosen, 1):
            result = _run_one(context, scenario, verdicts)
            verdicts[scenario.id] = result.verdict
            report.results.append(result)
            if progress is not None:
                progress(result, number, len(chosen))
    finally:
        context.close()
    report.seconds = time.monotonic() - began
    return report


def _run_one(context: Context, scenario: Scenario, verdicts: dict[str, Verdict]) -> Result:
    context.start_scenario()
    blocked = [n for n in scenario.needs if n in verdicts and verdicts[n] is not Verdict.PASS]
    started = time.monotonic()
    if blocked:
        verdict, reason = Verdict.SKIP, f"needs {', '.join(blocked)}, which did not pass"
    else:
        try:
            scenario.run(context)
            verdict, reason = Verdict.PASS, ""
        except ScenarioFailed as exc:
            verdict, reason = Verdict.FAIL, str(exc)
        except ScenarioSkipped as exc:
            verdict, reason = Verdict.SKIP, str(exc)
        except requests.RequestException as exc:
            verdict, reason = Verdict.FAIL, f"no usable answer: {type(exc).__name__}: {exc}"
        except Exception as exc:  # an answer the kit could not handle: a verdict, not a crash
            verdict, reason = Verdict.FAIL, f"could not complete: {type(exc).__name__}: {exc}"
    evidence, notes = context.collected()
    # A reason or note may quote the server's answer: never a live token in a report.
    return Result(
        scenario,
        verdict,
        mask(reason),
        evidence,
        [mask(note) for note in notes],
        time.monotonic() - started,
    )
