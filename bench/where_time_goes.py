"""CPU time of the streaming readers' steps on the benchmark files, in one process.

``python bench/where_time_goes.py [SIZE ...]`` (default: the 1-year files of every shape)
prints, per file, the best of 9 interleaved runs of: the plain lxml loop (the anchor),
libxml2's parse alone (``iterparse`` as the readers run it), the parse plus the column
fast path on every block (``extract_columns``), and the two streaming readers.  CPU time
(``time.process_time``) rather than wall time: on a shared machine other load then does
not count, so the split stays readable (bench/ANALYSIS.md quotes it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import contenders
import generate

import espi_sst
from espi_sst.xml import _columns
from espi_sst.xml._safety import safe_iterparse

ENTRY = f"{{{contenders.ATOM}}}entry"
BLOCK = f"{{{contenders.ESPI}}}IntervalBlock"


def parse_only(path: str, extract: bool = False) -> None:
    """The readers' iterparse loop without their per-block work (or with the columns only)."""
    for _, element in safe_iterparse(path, events=("end",), tag=(ENTRY, BLOCK)):
        if element.tag == BLOCK:
            if extract:
                _columns.extract_columns(element)
            element.clear(keep_tail=False)
            continue
        element.clear(keep_tail=False)
        while element.getprevious() is not None:
            del element.getparent()[0]


def main(argv: list[str]) -> int:
    sizes = argv or ["1y", "1y-quality", "1y-cost"]
    plain = contenders.CONTENDERS["plain-lxml"].load()
    steps: dict[str, Callable[[str], object]] = {
        "plain lxml loop": plain,
        "parse": parse_only,
        "parse + columns": lambda path: parse_only(path, extract=True),
        "iter_interval_blocks": lambda path: sum(1 for _ in espi_sst.iter_interval_blocks(path)),
        "iter_interval_readings": lambda path: sum(
            1 for _ in espi_sst.iter_interval_readings(path)
        ),
    }
    for size in sizes:
        path, _ = generate.ensure(size)
        best = dict.fromkeys(steps, float("inf"))
        for _ in range(9):
            for name, step in steps.items():
                began = time.process_time()
                step(str(path))
                best[name] = min(best[name], time.process_time() - began)
        cells = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in best.items())
        print(f"{size}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
