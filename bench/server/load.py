"""Load generators for one GET URL: Debian's ``wrk``, and a Python asyncio fallback.

Both keep ``connections`` clients busy in a closed loop (each sends its next request as
soon as its last response is complete) for a fixed time, and report requests/s and the
latency distribution of the requests completed in that time.  Latency runs from sending
the request to receiving the last byte of the response, as wrk measures it: with
gunicorn's sync workers every response closes its connection, and a client's new
connection sits in the listen backlog until a worker is free -- that queueing is part of
the latency (and, by Little's law, latency ~= clients / throughput).

wrk (C, epoll) is preferred: a Python generator spends CPU that, on a 2-core machine, the
server would otherwise use.  ``run.py`` measures the fallback against wrk on the bare
endpoint when both exist, so the cost is known.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

WRK = shutil.which("wrk")

# wrk calls done() once at the end; its latency object holds every request's latency (us).
_WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
    .. '"p99_us": %d, "max_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


@dataclass
class LoadResult:
    """One measurement of one URL."""

    generator: str
    connections: int
    seconds: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Responses with a status >= 400 plus socket errors and timeouts."""
    cores: dict[str, float] = field(default_factory=dict)
    """CPU used during the measurement, in cores: server, generator, database."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(
    url: str, headers: dict[str, str], connections: int, seconds: float, threads: int = 2
) -> LoadResult:
    """Run wrk once (``-t threads -c connections -d seconds``) and parse its report."""
    if WRK is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_REPORT)
    try:
        command = [
            WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
            "--timeout", "10s", "-s", script.name,
        ]  # fmt: skip
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(script.name).unlink()
    report = next((line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if done.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(report.removeprefix("WRKJSON "))
    errors = sum(data[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
    return LoadResult(
        generator="wrk",
        connections=connections,
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
    )


def python(url: str, headers: dict[str, str], connections: int, seconds: float) -> LoadResult:
    """The same measurement from Python: ``connections`` asyncio clients on raw sockets."""
    return asyncio.run(_python(url, headers, connections, seconds))


async def _python(
    url: str, headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal errors
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                sent = time.perf_counter()
                writer.write(request)
                status, keep_alive = await _read_response(reader)
                if time.perf_counter() <= deadline:
                    latencies.append(time.perf_counter() - sent)
                    errors += status >= 400
                if not keep_alive:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = min(time.perf_counter(), deadline) - started
    return summarize("python", connections, elapsed, latencies, errors)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response (Content-Length bodies only); return (status, keep-alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    length, keep_alive = 0, version == "HTTP/1.1"
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            keep_alive = value.strip().lower() != "close"
    if length:
        await reader.readexactly(length)
    return int(status), keep_alive


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (wrk reports the same kind)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    generator: str, connections: int, seconds: float, latencies: list[float], errors: int
) -> LoadResult:
    ordered = sorted(latencies)
    return LoadResult(
        generator=generator,
        connections=connections,
        seconds=seconds,
        requests=len(ordered),
        p50_ms=percentile(ordered, 0.50) * 1000,
        p90_ms=percentile(ordered, 0.90) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] * 1000) if ordered else float("nan"),
        errors=errors,
    )
