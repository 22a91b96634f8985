"""``espi-sst conformance CONFIG``: run the kit, print progress, write JUnit XML and HTML.

Exit 0 only if every scenario that ran passed (skips say why and do not fail the run);
1 when a scenario failed; 2 for a CONFIG the kit cannot use (the CLI's usual error line).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO


__all__ = ["add_parser", "cmd_conformance"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "conformance",
        help="run the Plug Fest conformance scenarios against a GBC / SST server",
        description="Run the conformance kit against the server CONFIG names "
        "(docs/conformance.md; `espi-sst demo` writes demo-data/conformance.toml).",
    )
    p.add_argument("config", metavar="CONFIG", nargs="?", help="the kit's TOML or JSON file")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="run the scenarios whose id starts with ID or whose group is ID (repeatable)",
    )
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(run=cmd_conformance)


def cmd_conformance(args: argparse.Namespace, out: TextIO) -> int:
    # Imported here: the other verbs' start-up never pays for requests and Authlib.
    from .config import load_config
    from .reports import print_progress, print_summary, write_html, write_junit
    from .runner import all_scenarios, run_conformance

    if args.list:
        for item in all_scenarios():
            out.write(f"{item.id:<16} {item.group:<14} {item.title}\n")
            out.write(f"{'':<31}{'; '.join(item.references)}\n")
        return 0
    if not args.config:
        from ..errors import EspiError

        raise EspiError("give CONFIG (see docs/conformance.md), or --list to see the scenarios")
    config = load_config(args.config)
    out.write(f"espi-sst conformance against {config.issuer} ({config.source})\n")
    report = run_conformance(
        config, only=args.only, progress=lambda r, n, t: print_progress(out, r, n, t)
    )
    print_summary(out, report)
    if args.junit:
        write_junit(Path(args.junit), report)
        out.write(f"JUnit XML: {args.junit}\n")
    if args.html:
        write_html(Path(args.html), report)
        out.write(f"HTML report: {args.html}\n")
    return 0 if report.passed else 1
