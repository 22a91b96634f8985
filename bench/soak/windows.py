"""Requests, 5xx and latency inside each fault window and outside every one.

The gateway's timing log (bench/scaleout/topology.py: ``$msec $status $request_time
"$request"``, one line per request nginx answered) is the record of what clients got:
the library's client retries a GET after a 5xx, so counting at the client would hide them.
A request belongs to a window when it *ended* inside it (``$msec`` is written at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Served:
    at: float  # epoch seconds, when nginx finished it
    status: int
    seconds: float
    request: str


def read_timing_log(path: Path) -> list[Served]:
    served = []
    if not path.exists():
        return served
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        try:
            served.append(Served(float(parts[0]), int(parts[1]), float(parts[2]),
                                 parts[3].strip('"')))  # fmt: skip
        except ValueError:
            continue
    return served


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 1)


def summary(served: list[Served]) -> dict[str, Any]:
    """Requests, 5xx, 429, p50 and p99 latency (ms) of ``served``."""
    seconds = [s.seconds for s in served]
    return {
        "requests": len(served),
        "5xx": sum(1 for s in served if s.status >= 500),
        "5xx_by_status": {
            str(code): sum(1 for s in served if s.status == code)
            for code in sorted({s.status for s in served if s.status >= 500})
        },
        "429": sum(1 for s in served if s.status == 429),
        "p50_ms": _percentile(seconds, 0.50),
        "p99_ms": _percentile(seconds, 0.99),
    }


def by_path(served: list[Served], status: int, top: int = 3) -> dict[str, int]:
    """The paths (ids cut off) that answered ``status`` most often: what a figure is made of."""
    from collections import Counter

    counts: Counter[str] = Counter()
    for item in served:
        if item.status == status:
            parts = item.request.split(" ")
            path = parts[1].split("?")[0] if len(parts) > 1 else item.request
            path = "/".join(p for p in path.split("/") if len(p) < 30)  # ids dropped
            counts[path] += 1
    return dict(counts.most_common(top))


def inside(at: float, windows: list[tuple[float, float]]) -> bool:
    return any(start <= at <= end for start, end in windows)


def split(served: list[Served], windows: list[tuple[float, float]], since: float, until: float
          ) -> tuple[list[list[Served]], list[Served]]:  # fmt: skip
    """Requests per window, and those of the load (``since``..``until``) outside them all."""
    per_window = [[s for s in served if start <= s.at <= end] for start, end in windows]
    outside = [s for s in served if since <= s.at <= until and not inside(s.at, windows)]
    return per_window, outside
