"""How far a load is: a bar on a terminal, plain lines in a log (stderr either way).

On a terminal (stderr a tty) a one-line bar is redrawn at most ten times a second: rows,
rows per second, and when the size is known (a CSV's bytes, an ESPI file's readings) the
percentage and the time left.  Elsewhere (systemd, cron, CI) a plain line every
``every`` seconds, so logs show a long load advancing without a line per row.  Written by
hand, like ``espi-sst validate``'s bar (espi_sst/cli.py): no dependency for a line of text.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    def __init__(
        self,
        label: str,
        *,
        total: Callable[[], tuple[int, int] | None],
        stream: TextIO | None = None,
        every: float = 10.0,
    ) -> None:
        """``total()`` answers (done, of) in any unit (bytes, readings), or None: unknown."""
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0 if self.tty else self.started
        self.rows = 0
        self.drawn = False

    def advance(self, rows: int = 1) -> None:
        self.rows += rows
        if not self.tty and self.every == 0:
            return  # a line per committed batch instead (batch_done)
        clock = time.monotonic()
        if clock - self.last >= (0.1 if self.tty else self.every):
            self.last = clock
            self._show(clock)

    def batch_done(self, batch: int) -> None:
        """A committed batch: a plain line right away when not on a terminal with every=0."""
        if not self.tty and self.every == 0:
            self.stream.write(f"{self.label}: batch {batch} committed, {self.rows:,} rows\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self._show(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, clock: float) -> None:
        elapsed = max(clock - self.started, 1e-6)
        rate = self.rows / elapsed
        known = self.total()
        share = None
        eta = ""
        if known is not None and known[1] > 0:
            share = min(known[0] / known[1], 1.0)
            if 0 < share < 1:
                left = elapsed * (1 - share) / share
                eta = f" ETA {int(left) // 60}:{int(left) % 60:02d}"
        if self.tty:
            bar = ""
            if share is not None:
                filled = int(share * 25)
                bar = f" [{'#' * filled:<25}] {share * 100:3.0f}%"
            self.stream.write(f"\r{self.label}{bar} {self.rows:,} rows {rate:,.0f} rows/s{eta}  ")
            self.drawn = True
        else:
            part = f" ({share * 100:.0f}%)" if share is not None else ""
            self.stream.write(f"{self.label}: {self.rows:,} rows{part}, {rate:,.0f} rows/s{eta}\n")
        self.stream.flush()
