"""The terminal's view: one line per scenario as it ends, then the failures and the totals."""

from __future__ import annotations

from typing import TextIO

from ..model import Result, Verdict
from ..runner import Report

__all__ = ["print_progress", "print_summary"]

_MARK = {Verdict.PASS: "PASS", Verdict.FAIL: "FAIL", Verdict.SKIP: "skip"}


def print_progress(out: TextIO, result: Result, number: int, total: int) -> None:
    """One line per scenario; a failure's reason on the next, a skip's after a dash."""
    width = len(str(total))
    line = (
        f"[{number:>{width}}/{total}] {_MARK[result.verdict]}  "
        f"{result.scenario.id:<16} {result.scenario.title}"
    )
    if result.verdict is Verdict.FAIL and result.reason:
        line += f"\n{'':>{2 * width + 9}}{result.reason}"
    elif result.verdict is Verdict.SKIP and result.reason:
        line += f" -- {result.reason}"
    out.write(line + "\n")
    out.flush()


def print_summary(out: TextIO, report: Report) -> None:
    failed = [r for r in report.results if r.verdict is Verdict.FAIL]
    if failed:
        out.write("\nFailed:\n")
        for result in failed:
            refs = "; ".join(result.scenario.references)
            out.write(f"  {result.scenario.id}  {result.reason}\n      ({refs})\n")
            if result.evidence:
                out.write(f"      last request: {result.evidence[-1].summary()}\n")
    out.write(
        f"\n{report.count(Verdict.PASS)} passed, {report.count(Verdict.FAIL)} failed, "
        f"{report.count(Verdict.SKIP)} skipped in {report.seconds:.1f} s against {report.issuer}\n"
    )
