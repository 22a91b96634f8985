"""``espi-sst load KIND FILE...`` (docs/operations.md, "Loading data (standalone mode)").

Exit status: 0 loaded (or, with ``--dry-run``, would load); 1 a file or row was refused
(each problem on stderr as ``FILE, line N, column 'C': what is wrong and how to fix it``;
nothing of the refused batch was written); 2 the server's configuration is unusable."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from ...security import now
from ...storage import db
from .problems import LoadFailed
from .runner import KINDS, LoadOptions, LoadSummary, load_files


def run_load(args: argparse.Namespace) -> int:
    app = args.make_app()  # the CLI's: an unusable configuration ends it with status 2
    options = LoadOptions(
        batch_size=args.batch_size,
        dry_run=args.dry_run,
        usage_point=args.usage_point,
        progress_every=args.progress_every,
    )
    with app.app_context():
        session = db.session
        try:
            summary = load_files(
                session, args.kind, [Path(f) for f in args.files], options, now=now()
            )
            status = 0
        except LoadFailed as failed:
            summary = failed.summary  # type: ignore[attr-defined]
            for problem in failed.problems:
                sys.stderr.write(f"espi-sst: error: {problem}\n")
            sys.stderr.write(
                "espi-sst: the batch with these rows was not loaded (nothing of it was "
                "written); fix the file and run the same command again\n"
            )
            status = 1
        finally:
            session.close()
            engine = db.engine
            if engine is not None:
                engine.dispose()  # a command's connections end with it
    _report(summary, args.json)
    return status


def _report(summary: LoadSummary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.as_json(), indent=2))
    else:
        print("\n".join(summary.lines()))


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return number


def add_load_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    make_app: Callable[[], Flask],
) -> None:
    """``load``; ``make_app`` is the CLI's configured app (this layer sits below the
    package's ``create_app``, which wires every layer)."""
    p = sub.add_parser(
        "load",
        help="load customers, accounts, usage points, service agreements, tariffs or "
        "interval data into a standalone server (server extra)",
        description="Load CSV exports (and ESPI XML interval data) into the server's "
        "database; idempotent and resumable. Load the kinds in this order: "
        + ", ".join(KINDS)
        + ". Columns: docs/operations.md.",
    )
    p.add_argument("kind", choices=list(KINDS), help="what the files hold")
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="CSV files; interval-data also ESPI XML (.xml, .xml.gz)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        metavar="N",
        help="commit every N rows (default: one transaction per file); a bad row refuses its batch",
    )
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--usage-point",
        default=None,
        metavar="UUID",
        help="interval-data from ESPI XML: load the file's readings into this usage point "
        "(default: match each UsagePoint of the file by its mRID)",
    )
    p.add_argument(
        "--progress-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="when stderr is not a terminal, a progress line this often (0: after every batch)",
    )
    p.set_defaults(server_command=run_load, make_app=make_app)
