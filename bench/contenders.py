"""One benchmark contender, run alone in this process: ``python bench/contenders.py NAME FILE``.

Why a process per contender: peak RSS (``ru_maxrss``) is a high-water mark for the whole
process, so it only means "this reader's peak" in a process that ran nothing else.  The
parent (``bench/run.py``) starts a fresh interpreter for every run (``--repeat 1``) and
keeps the best time; ``--repeat N`` is there for quick experiments by hand.

Inside, the contender's imports happen first (not timed; their memory shows as the
baseline), then the read is timed with ``perf_counter``.  Each run's result goes to stdout
as one JSON line as soon as it is known, so when the parent's timeout kills a slow
contender the finished runs still count.

Every contender reports how many readings it saw and the sum of their values; the parent
checks both against the generator's manifest, so a reader that skips data cannot win.
For ``parse`` and ``greenbutton-objects`` the value sum is computed after the clock stops
(their timed work is exactly what the benchmark specifies: build the objects, count them).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"

Reader = Callable[[str], tuple[int, Any]]
"""Reads a file; returns (readings seen, payload for the untimed value-sum check)."""


@dataclass(frozen=True)
class Contender:
    """A way to read every interval reading of a file.

    ``load`` does the imports and returns the reader, so import time and import memory stay
    out of the measurement.  ``value_sum`` turns the reader's payload into the sum of the
    reading values (untimed); for the streaming readers the payload already is that sum.
    """

    name: str
    description: str
    load: Callable[[], Reader]
    value_sum: Callable[[Any], int]


def _identity(payload: Any) -> int:
    return int(payload)


def _load_plain_lxml() -> Reader:
    from lxml import etree

    reading_tag = f"{{{ESPI}}}IntervalReading"
    entry_tag = f"{{{ATOM}}}entry"
    start_path = f"{{{ESPI}}}timePeriod/{{{ESPI}}}start"
    value_path = f"{{{ESPI}}}value"

    def read(path: str) -> tuple[int, Any]:
        """The practical pure-lxml limit: iterparse per reading, free everything behind us.

        Readings are cleared and their earlier siblings deleted; finished entries are too,
        so memory stays bounded by one reading plus the entry being read.
        """
        count = total = 0
        last_start = 0
        for _, element in etree.iterparse(path, events=("end",), tag=(reading_tag, entry_tag)):
            if element.tag == reading_tag:
                last_start = int(element.find(start_path).text)
                total += int(element.find(value_path).text)
                count += 1
            element.clear(keep_tail=False)
            parent = element.getparent()
            while element.getprevious() is not None:
                del parent[0]
        assert count == 0 or last_start > 0
        return count, total

    return read


def _load_blocks() -> Reader:
    import espi_sst

    def read(path: str) -> tuple[int, Any]:
        count = total = 0
        stream = espi_sst.iter_interval_blocks(path)
        for block in stream:
            count += len(block.starts)
            total += sum(filter(None, block.values))  # C speed; zeros and None add nothing
        _no_warnings(stream.warnings)
        return count, total

    return read


def _load_readings() -> Reader:
    import espi_sst

    def read(path: str) -> tuple[int, Any]:
        count = total = 0
        last_start = 0
        stream = espi_sst.iter_interval_readings(path)
        for reading in stream:
            last_start = reading.start
            total += reading.value
            count += 1
        _no_warnings(stream.warnings)
        assert count == 0 or last_start > 0
        return count, total

    return read


def _load_parse() -> Reader:
    import espi_sst

    def read(path: str) -> tuple[int, Any]:
        doc = espi_sst.parse(path)
        count = sum(1 for _ in doc.interval_readings())
        _no_warnings(doc.warnings)
        return count, doc

    return read


def _parse_value_sum(doc: Any) -> int:
    return sum(r.value or 0 for r in doc.interval_readings())


def _load_greenbutton_objects() -> Reader:
    from greenbutton_objects import parse as gbo_parse

    def read(path: str) -> tuple[int, Any]:
        """Its documented API: parse_feed() -> UsagePoints -> meterReadings -> intervalReadings."""
        usage_points = gbo_parse.parse_feed(path)
        count = sum(
            1 for up in usage_points for mr in up.meterReadings for _ in mr.intervalReadings
        )
        return count, usage_points

    return read


def _gbo_value_sum(usage_points: Any) -> int:
    return sum(
        ir._value for up in usage_points for mr in up.meterReadings for ir in mr.intervalReadings
    )


def _no_warnings(warnings: list[Any]) -> None:
    """A generated file is deviation-free; a warning means the benchmark measured a fallback."""
    if warnings:
        raise AssertionError(f"unexpected warnings: {[str(w) for w in warnings]}")


CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "plain-lxml",
            "lxml iterparse per IntervalReading, find() start and value, clear() and delete "
            "earlier siblings",
            _load_plain_lxml,
            _identity,
        ),
        Contender(
            "espi_sst.iter_interval_blocks",
            "streaming, one IntervalColumns (starts/durations/values lists) per block",
            _load_blocks,
            _identity,
        ),
        Contender(
            "espi_sst.iter_interval_readings",
            "streaming, one Reading object per reading (touch .start and .value)",
            _load_readings,
            _identity,
        ),
        Contender(
            "espi_sst.parse",
            "whole document into the model, then count doc.interval_readings()",
            _load_parse,
            _parse_value_sum,
        ),
        Contender(
            "greenbutton-objects",
            "greenbutton_objects.parse.parse_feed (ElementTree, whole tree) and count "
            "UsagePoint.meterReadings[].intervalReadings",
            _load_greenbutton_objects,
            _gbo_value_sum,
        ),
    )
}


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB (Linux reports ru_maxrss in KiB).

    Caveat: Linux carries ``ru_maxrss`` across fork and exec, so a child started directly
    by a big parent reports at least the parent's peak.  ``bench/run.py`` starts contenders
    through a shell that forks again, and cross-checks with :func:`vm_hwm_kb`.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def vm_hwm_kb() -> int | None:
    """Peak RSS of this process image alone (``VmHWM``, reset by exec), or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one contender (see bench/run.py).")
    parser.add_argument("contender", choices=sorted(CONTENDERS))
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds: start another run only if the runs so far plus one more fit in this",
    )
    args = parser.parse_args(argv)
    contender = CONTENDERS[args.contender]
    read = contender.load()
    gc.collect()
    _emit(event="ready", baseline_rss_kb=peak_rss_kb(), baseline_hwm_kb=vm_hwm_kb())
    spent = 0.0
    for run in range(args.repeat):
        began = time.perf_counter()
        count, payload = read(args.file)
        seconds = time.perf_counter() - began
        peak, hwm = peak_rss_kb(), vm_hwm_kb()  # before the value-sum check, not part of the read
        spent += seconds
        value_sum = contender.value_sum(payload) if run == 0 else None
        del payload
        gc.collect()
        _emit(
            event="run",
            seconds=seconds,
            count=count,
            value_sum=value_sum,
            peak_rss_kb=peak,
            hwm_kb=hwm,
        )
        if spent + seconds > args.budget:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
