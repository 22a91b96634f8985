"""The ``espi-sst`` command: validate, inspect and convert Green Button files.

Thin by design (house style): arguments -> public API -> exit code and one readable line.
Exit codes: 0 success, 1 the files are invalid (``validate``), 2 the command could not
run (bad arguments, unreadable or malformed input).  Never a traceback.

Other packages add verbs through the ``espi_sst.commands`` entry-point group: each entry
is a callable given the subparsers action, whose parsers set ``server_command`` (a function
of the parsed arguments returning the exit code).  The server declares its verbs there
(setup.cfg).  The group is loaded only when a verb that is not the library's own is chosen,
or the full ``--help`` is asked for: ``validate``, ``inspect`` and ``convert`` never import
the server, so they do not pay for Flask, SQLAlchemy and Authlib (issue 19).

Start-up is part of the product (issue 17: ``espi-sst inspect small.xml`` within 1.5x of
``python -c "import espi_sst"``, measured by ``bench/run.py``): what only one verb needs is
imported in that verb (``json``, ``csv``, ``importlib.metadata``, ``importlib.resources``),
and the ``conformance`` verb's parser (whose package reads TOML) is built only when it, or
the full ``--help``, is asked for.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TextIO

from . import __version__
from .errors import EspiError
from .sources import Inputs, expand_inputs, source_name
from .sst import find_rins
from .validation import PROFILES, deduplicated, validate
from .xml.reader import parse

PROGRESS_THRESHOLD = 4 * 1024 * 1024
"""Show a progress bar for files bigger than this when stderr is a terminal."""


def sample_path() -> Path:
    """The Green Button sample bundled with the package (the demo's input)."""
    from importlib import resources

    return Path(str(resources.files("espi_sst") / "samples" / "hourly-nine-days.xml"))


class _Progress:
    """A binary file wrapper drawing a progress bar on stderr as it is read."""

    def __init__(self, handle: IO[bytes], total: int, label: str) -> None:
        self._handle = handle
        self._total = max(total, 1)
        self._done = 0
        self._label = label
        self._shown = -1
        self.name = getattr(handle, "name", label)

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._done += len(data)
        percent = min(100, self._done * 100 // self._total)
        if percent != self._shown:
            self._shown = percent
            bar = "#" * (percent // 4)
            sys.stderr.write(f"\r{self._label} [{bar:<25}] {percent:3d}%")
            if percent == 100:
                sys.stderr.write("\n")
            sys.stderr.flush()
        return data

    def close(self) -> None:
        self._handle.close()


def _open(path: Any) -> Any:
    """A path, or a progress-reporting file object for big files on a terminal."""
    if not isinstance(path, str):
        return path  # a member of a zip archive: the library opens it
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        size = os.path.getsize(path)
    except OSError:
        return path  # the library reports the missing file clearly
    if size > PROGRESS_THRESHOLD and sys.stderr.isatty():
        return _Progress(open(path, "rb"), size, os.path.basename(path))  # noqa: SIM115
    return path


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _inputs(patterns: Sequence[str]) -> Inputs:
    """The documents the FILE arguments name (globs, zip members: ``espi_sst.sources``);
    what was skipped is noted on stderr."""
    inputs = expand_inputs(patterns)
    for note in inputs.notes:
        sys.stderr.write(f"espi-sst: note: {note}\n")
    return inputs


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    invalid = False
    for source in _inputs(args.files).sources:
        name = source_name(source)
        try:
            issues = validate(_open(source), profile=args.profile)
        except EspiError as exc:
            out.write(f"{exc}\n")  # ParseError reads "FILE:LINE: message" already
            invalid = True
            continue
        for group in deduplicated(issues):
            # FILE:LINE first (editors jump there), then the element path, in plain words.
            line = group.first_lines[0] if group.first_lines[0] is not None else 0
            where = group.path or group.element
            what = group.plain or group.message
            if group.count == 1:
                out.write(f"{name}:{line}: {where}: {what}\n")
            else:
                shown = ", ".join(str(n) for n in group.first_lines if n is not None)
                out.write(
                    f"{name}:{line}: x{group.count} {where}: {what} (first at lines {shown})\n"
                )
        if issues:
            invalid = True
        elif not args.quiet:
            out.write(f"{name}: valid\n")
    return 1 if invalid else 0


def inspect_summary(path: Any) -> dict[str, Any]:
    """What ``inspect --json`` prints: resources, reading count and span, warnings."""
    document = parse(_open(path))
    path = source_name(path)
    count = 0
    first: int | None = None
    last: int | None = None
    for reading in document.interval_readings():
        count += 1
        if reading.start is not None and (first is None or reading.start < first):
            first = reading.start
        end = reading.end
        if end is not None and (last is None or end > last):
            last = end
    return {
        "file": path,
        "resources": document.resource_counts(),
        "usage_points": len(document.usage_points),
        "interval_readings": count,
        "first_start": _iso(first),
        "last_end": _iso(last),
        "rins": [occurrence.as_json() for occurrence in find_rins(document)],
        "warnings": [
            {"code": w.code, "line": w.line, "element": w.element, "message": w.message}
            for w in document.warnings
        ],
    }


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    patterns = args.files or [str(sample_path())]
    sources = _inputs(patterns).sources
    summaries = [inspect_summary(source) for source in sources]
    if args.json:
        import json

        # One FILE as given: its summary (as before issue 18); several, a pattern or an
        # archive: a list, whatever the number of matches, so scripts can rely on it.
        one = len(patterns) == 1 and [source_name(s) for s in sources] == patterns
        json.dump(summaries[0] if one else summaries, out, indent=2)
        out.write("\n")
        return 0
    for summary in summaries:
        _print_summary(summary, out)
    return 0


def _print_summary(summary: dict[str, Any], out: TextIO) -> None:
    out.write(f"{summary['file']}\n")
    out.write("  resources:\n")
    for name, number in sorted(summary["resources"].items()):
        out.write(f"    {name:<30} {number:>8,}\n")
    out.write(f"  interval readings: {summary['interval_readings']:,}\n")
    for rin in summary["rins"]:
        where = f" ({rin['entity']})" if rin["entity"] else ""
        out.write(f"  RIN {rin['rin']} {rin['role']}{where} in {rin['element']}\n")
    if summary["first_start"]:
        out.write(f"  span: {summary['first_start']} .. {summary['last_end']}\n")
    if summary["warnings"]:
        out.write(f"  tolerated deviations ({len(summary['warnings'])}):\n")
        for warning in summary["warnings"]:
            where = f"line {warning['line']}: " if warning["line"] else ""
            out.write(f"    {where}{warning['message']} [{warning['code']}]\n")


def cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    from .export.convert import convert  # the export modules load only for this verb

    result = convert(
        [_open(source) for source in _inputs(args.files).sources],
        to=args.to,
        output=args.output,
        stdout=out,
        columns=args.columns,
        summaries=args.summaries,
    )
    for note in result.notes:
        sys.stderr.write(f"espi-sst: note: {note}\n")
    for warning in result.warnings:
        sys.stderr.write(f"espi-sst: warning: {warning}\n")
    return 0


FILES_HELP = "Green Button XML files, .xml.gz or .zip; patterns such as 'downloads/*.zip'"

LIBRARY_COMMANDS = frozenset({"validate", "inspect", "convert", "conformance"})
"""The verbs this module runs itself; choosing one never loads the command entry points."""
FILE_COMMANDS = frozenset({"validate", "inspect", "convert"})
"""The verbs on one file: choosing one builds only their parsers (the start-up benchmark)."""
COMMAND_GROUP = "espi_sst.commands"
"""The entry-point group other packages register their verbs in (the server, setup.cfg)."""


def build_parser(
    *, other_commands: bool = True, conformance: bool = True
) -> argparse.ArgumentParser:
    """The argument parser; ``other_commands=False`` leaves out the entry points' verbs,
    ``conformance=False`` the conformance kit's (for a file verb, whose start-up counts)."""
    parser = argparse.ArgumentParser(
        prog="espi-sst",
        description="Green Button (ESPI) files for California's Single Statewide Tool.",
    )
    parser.add_argument("--version", action="version", version=f"espi-sst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate files against the official ESPI 4.0 schemas")
    p.add_argument("files", nargs="+", metavar="FILE", help=f"{FILES_HELP} ('-' for stdin)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="sst",
        help="schema set: sst (official ESPI 4.0 + the SST extension, the default), "
        "official, or appendix-b (the concept design's literal UsageSummary with bundledRin)",
    )
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("inspect", help="summarise files (the bundled sample when none is given)")
    p.add_argument("files", nargs="*", metavar="FILE", help=FILES_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser(
        "convert", help="export interval readings (one row each), or usage summaries"
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help=f"{FILES_HELP}; their rows in one output"
    )
    p.add_argument(
        "--to",
        default="csv",
        choices=["csv", "parquet"],
        help="output format (parquet needs the parquet extra and -o)",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    p.add_argument(
        "--columns",
        metavar="A,B,...",
        help="columns to write, in order (default: the Download My Data columns, no URLs)",
    )
    p.add_argument(
        "--summaries",
        action="store_true",
        help="one row per UsageSummary (billing period) instead of per interval reading",
    )
    p.set_defaults(run=cmd_convert)

    if conformance:
        from .conformance.command import add_parser as add_conformance

        add_conformance(sub)

    if other_commands:
        _add_registered_commands(sub)
    return parser


SERVER_MISSING = (
    "the utility server is not installed; install it with: pip install 'espi-sst[server]'"
)


def _add_registered_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The verbs of the ``espi_sst.commands`` entry points; the server's when it is installed.

    Without the server extra, importing the server fails: ``serve``, ``demo`` and
    ``register-client`` are then listed anyway, to say how to install it."""
    from importlib.metadata import entry_points

    added = False
    for entry in entry_points(group=COMMAND_GROUP):
        try:
            add_commands = entry.load()
        except ImportError:
            continue  # its extra is not installed
        add_commands(sub)
        added = True
    if not added:
        for name in ("serve", "demo", "register-client"):
            p = sub.add_parser(name, help="(needs the server extra)")
            p.set_defaults(run=_server_missing)
        return
    for action in sub.choices.values():
        if "server_command" in action._defaults:
            action.set_defaults(run=_run_server_command)


def _needs_other_commands(argv: Sequence[str]) -> bool:
    """Whether ``argv`` chooses a verb that is not the library's own, or asks for the full help.

    The verb is the first argument not starting with ``-`` (the top-level parser has no
    option taking a value)."""
    verb = next((arg for arg in argv if not arg.startswith("-")), None)
    if verb is None:
        return "-h" in argv or "--help" in argv
    return verb not in LIBRARY_COMMANDS


def _chosen_file_command(argv: Sequence[str]) -> bool:
    """Whether ``argv`` chooses validate, inspect or convert (then only they are parsed)."""
    verb = next((arg for arg in argv if not arg.startswith("-")), None)
    return verb in FILE_COMMANDS


def _server_missing(args: argparse.Namespace, out: TextIO) -> int:
    raise EspiError(SERVER_MISSING)


def _run_server_command(args: argparse.Namespace, out: TextIO) -> int:
    return int(args.server_command(args))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(
        other_commands=_needs_other_commands(arguments),
        conformance=not _chosen_file_command(arguments),
    )
    args = parser.parse_args(arguments)
    try:
        return int(args.run(args, sys.stdout))
    except EspiError as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("espi-sst: interrupted\n")
        return 130
    except BrokenPipeError:
        # Output closed early (``espi-sst convert f | head``): not an error worth a trace.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        sys.stderr.write(f"espi-sst: error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
