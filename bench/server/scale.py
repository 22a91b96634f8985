"""The scale figure (issue 17): interval data of 1,000 usage points x 13 months on PostgreSQL.

Usage::

    .venv/bin/python bench/server/scale.py [--points 1000] [--months 13] [--rounds 30] [--smoke]
    .venv/bin/python bench/server/run.py --with-scale ...   # the same, in the server bench's run

``--smoke``: 20 usage points, one month, 3 rounds (seconds, not minutes): proves the bench
runs; its figures mean nothing.

Seeds two PostgreSQL databases (a throw-away cluster from ``scripts/pg-test-cluster``, or
``ESPI_TEST_POSTGRESQL_URL`` when set) with the resource tests' world
(tests/server/resource/resource_world.py: applications, grants, tokens) plus usage points
of 15-minute data until each holds ``--points`` (large) or 10 (small), every one with
``--months`` of readings -- the measured subscription's usage point too.  The packed rows
are written with COPY.  Then, in one run, rounds interleaved:

* bytes per stored reading: ``pg_total_relation_size('interval_block')`` (table, TOAST and
  the primary-key index) after VACUUM ANALYZE, over the readings stored;
* the latency of ``GET Batch/Subscription/{id}`` (13 months, ~38k readings) and of
  ``GET .../UsageSummary/{id}`` (derived consumption and quality) through the Flask app in
  process (no HTTP; what the database adds is the question), large over small;

and prints them with the extrapolation to 1M usage points.  The bench only: never in CI.
``bench/server/run.py --with-scale`` runs :func:`measure_scale` and puts :func:`render`'s
section in docs/performance.md (off by default: seeding takes minutes); a run without it
keeps the last stored figures (``bench/results/server.json``'s ``scale``), dated.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server" / "resource"))

import psycopg  # noqa: E402
from espi_sst_server import create_app  # noqa: E402
from espi_sst_server.storage import db  # noqa: E402
from espi_sst_server.storage.interval_data import (  # noqa: E402
    by_local_day,
    pack_block,
    reading_count,
)
from espi_sst_server.storage.models import (  # noqa: E402
    LocalTimeParameters,
    MeterReading,
    UsagePoint,
    UsageSummary,
)
from espi_sst_server.storage.zones import zone_of  # noqa: E402
from resource_world import WORLD, seed  # noqa: E402
from sqlalchemy import select  # noqa: E402

BASE = "/espi/1_1/resource"
DAY = 86_400
END = 1_709_884_800  # 2024-03-08T08:00Z, where the world's own readings begin
COLUMNS = (
    "meter_reading_id", "duration", "start", "block_end", "value_data", "timing", "cost_data",
    "quality_data",
)  # fmt: skip


def _readings(months: int, rng: random.Random) -> list[tuple[int, int, int, None, Any]]:
    first = END - int(months * 30.44) * DAY
    return [
        (start, 900, rng.randint(50, 900), None, 8 if rng.random() < 0.001 else None)
        for start in range(first, END, 900)
    ]


def build(url: str, points: int, months: int) -> tuple[Any, int]:
    """The world plus usage points up to ``points``, each with ``months`` of 15-min data."""
    # No rate limits: the rounds ask for the same feed far more often than an ASP may.
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False}
    )
    rng = random.Random(points)
    with app.app_context():
        seed()
        s = db.session
        a1 = s.scalar(select(MeterReading).where(MeterReading.uuid == WORLD.mr_a1))
        assert a1 is not None
        model = a1.usage_point
        ltp = s.scalar(select(LocalTimeParameters))
        zone = zone_of(ltp)
        meter_ids = [a1.id]
        existing = s.scalar(select(UsagePoint.id).order_by(UsagePoint.id.desc())) or 0
        s.autoflush = False
        for index in range(points - 3):  # the world has three usage points
            point = UsagePoint(
                uuid=str(uuid.UUID(int=index + 1)),
                customer=model.customer,
                title=f"bench {index}",
                service_kind=0,
                service_agreement=f"SA{existing + index}",
                local_time=ltp,
                udc="PGE",
                lse="PGE",
            )
            reading = MeterReading(
                uuid=str(uuid.UUID(int=10**9 + index)),
                usage_point=point,
                reading_type=a1.reading_type,
                title="Electricity",
            )
            s.add_all([point, reading])
            for month in range(months):
                s.add(
                    UsageSummary(
                        uuid=str(uuid.UUID(int=2 * 10**9 + index * 100 + month)),
                        usage_point=point,
                        billing_period_start=END - (month + 1) * 30 * DAY,
                        billing_period_duration=30 * DAY,
                        status_time_stamp=END,
                    )
                )
            if index % 200 == 199:
                s.flush()
        s.flush()
        meter_ids += [
            m
            for m in s.scalars(select(MeterReading.id).where(MeterReading.title == "Electricity"))
            if m != a1.id
        ][: points - 3]
        s.commit()
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY interval_block ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for meter_id in meter_ids:
                for day in by_local_day(_readings(months, rng), zone):
                    row = pack_block(meter_id, day)
                    copy.write_row([row[c] for c in COLUMNS])
        connection.commit()
    with psycopg.connect(raw, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE interval_block")
    return app, len(meter_ids)


def size(url: str, app: Any) -> tuple[int, int, int]:
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw) as connection:
        total, index = connection.execute(
            "SELECT pg_total_relation_size('interval_block'), pg_indexes_size('interval_block')"
        ).fetchone()  # type: ignore[misc]
    with app.app_context():
        readings = reading_count(db.session)
    return int(total), int(index), readings


def timed(client: Any, path: str) -> float:
    began = time.perf_counter()
    answer = client.get(path, headers={"Authorization": "Bearer tok-a"})
    elapsed = time.perf_counter() - began
    assert answer.status_code == 200, answer.status_code
    return elapsed


SMOKE = {"points": 20, "months": 1, "rounds": 3}
"""The smallest settings: the bench runs end to end in seconds."""


@dataclass
class ScaleResult:
    """One scale run's figures (``server.json``'s ``scale``)."""

    points: int
    point_count: int
    months: int
    rounds: int
    readings: int
    total_bytes: int
    index_bytes: int
    seeded_seconds: float
    load_average: float
    date: str = ""
    p50_ms: dict[str, list[float]] = field(default_factory=dict)
    """Per request: [10 usage points p50, ``point_count`` usage points p50] in ms."""

    @property
    def bytes_per_reading(self) -> float:
        return self.total_bytes / self.readings

    @property
    def extrapolated_gib(self) -> float:
        """The table at 1M usage points (one row per meter reading and local day: linear)."""
        return self.total_bytes / self.point_count * 1e6 / 2**30


def _admin_url() -> tuple[str, str | None]:
    """A PostgreSQL admin URL and the throw-away cluster started for it (None: given)."""
    admin = os.environ.get("ESPI_TEST_POSTGRESQL_URL")
    if admin:
        return admin, None
    cluster = tempfile.mkdtemp(prefix="espi-scale-")
    admin = subprocess.run(
        [str(ROOT / "scripts" / "pg-test-cluster"), "start", cluster],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return admin, cluster


def measure_scale(points: int, months: int, rounds: int) -> ScaleResult:
    """Seed the small and the large database, measure, drop them (see the module doc)."""
    admin, cluster = _admin_url()
    raw_admin = admin.replace("postgresql+psycopg://", "postgresql://")
    names = {"small": f"espi_scale_small_{os.getpid()}", "large": f"espi_scale_large_{os.getpid()}"}
    with psycopg.connect(raw_admin, autocommit=True) as connection:
        for name in names.values():
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        urls = {k: admin.rsplit("/", 1)[0] + "/" + v for k, v in names.items()}
        began = time.perf_counter()
        small, _ = build(urls["small"], 10, months)
        large, point_count = build(urls["large"], points, months)
        seeded = time.perf_counter() - began
        total, index, readings = size(urls["large"], large)
        paths = {
            "Batch/Subscription": f"{BASE}/Batch/Subscription/{WORLD.sub_a}",
            "UsageSummary": f"{BASE}/Subscription/{WORLD.sub_a}/UsagePoint/{WORLD.up_a1}"
            f"/UsageSummary/{WORLD.us_feb}",
        }
        times: dict[tuple[str, str], list[float]] = {}
        clients = {"small": small.test_client(), "large": large.test_client()}
        for path in paths.values():
            for client in clients.values():
                timed(client, path)  # warm
        for _ in range(rounds):
            for what, path in paths.items():
                for key, client in clients.items():
                    times.setdefault((what, key), []).append(timed(client, path))
        for app in (small, large):
            app.extensions["espi_sst_db"].engine.dispose()
    finally:
        with psycopg.connect(raw_admin, autocommit=True) as connection:
            for name in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if cluster:
            subprocess.run(
                [str(ROOT / "scripts" / "pg-test-cluster"), "stop", cluster], check=False
            )
    return ScaleResult(
        points=points,
        point_count=point_count,
        months=months,
        rounds=rounds,
        readings=readings,
        total_bytes=total,
        index_bytes=index,
        seeded_seconds=seeded,
        load_average=os.getloadavg()[0],
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        p50_ms={
            what: [
                statistics.median(times[(what, "small")]) * 1000,
                statistics.median(times[(what, "large")]) * 1000,
            ]
            for what in paths
        },
    )


def as_json(result: ScaleResult) -> dict[str, Any]:
    return asdict(result)


def load_results(path: Path) -> ScaleResult | None:
    """The scale figures of a stored ``server.json`` (None when never measured)."""
    if not path.exists():
        return None
    import json  # noqa: PLC0415

    stored = json.loads(path.read_text()).get("scale")
    if not stored:
        return None
    names = set(ScaleResult.__dataclass_fields__)
    return ScaleResult(**{k: v for k, v in stored.items() if k in names})


def render(result: ScaleResult) -> str:
    """The Markdown section of ``bench/results/server.md`` (and so of docs/performance.md)."""
    ratios = {what: high / low for what, (low, high) in result.p50_ms.items()}
    smoke = result.points < 100
    lines = [
        "### Interval data at scale (issue 17)",
        "",
        f"Measured by `bench/server/scale.py` (`bench/server/run.py --with-scale`) on {result.date}"
        + (" -- a **smoke run** (too few usage points: the figures mean nothing)" if smoke else "")
        + ". The standalone server stores interval data packed, one row per meter reading and "
        "local day (`server/storage/interval_data.py`; migration 0007 moved the "
        "one-row-per-reading table). The bench seeds "
        f"{result.points:,} usage points x {result.months} months of 15-minute readings on "
        f"PostgreSQL (COPY, {result.seeded_seconds:.0f} s) and compares the same requests "
        "against a 10-usage-point database, in one run, rounds interleaved "
        f"({result.rounds} rounds, in-process Flask client; load average "
        f"{result.load_average:.2f} at the end).",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| `interval_block` incl. its primary-key index, per stored reading "
        f"({result.readings / 1e6:.1f}M readings, {result.total_bytes / 2**20:.1f} MiB, "
        f"{result.index_bytes / 2**20:.1f} MiB of it index) | "
        f"{result.bytes_per_reading:.2f} bytes "
        f"({'PASS' if result.bytes_per_reading <= 16 else 'MISS'}) | <= 16 bytes |",
        f"| extrapolated to 1M usage points x {result.months} months | "
        f"~{result.extrapolated_gib:,.0f} GiB | |",
    ]
    for what, (low, high) in result.p50_ms.items():
        lines.append(
            f"| `GET {what}` p50, {result.point_count:,} / 10 usage points "
            f"({high:.1f} / {low:.1f} ms) | {ratios[what]:.2f}x "
            f"({'PASS' if ratios[what] <= 1.5 else 'MISS'}) | <= 1.5x |"
        )
    lines += [
        "",
        "Why so few bytes: a regular day stores no starts or durations (the block start and "
        "the one duration imply them), values as the narrowest signed array that holds them "
        "(16-bit for household Wh per quarter hour), quality and cost only when some reading "
        "has them (a bitmap when sparse). Latency does not grow with the database: every "
        "query is a range on `(meter_reading_id, start)`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help=f"the smallest settings: {SMOKE}")
    args = parser.parse_args()
    settings = SMOKE if args.smoke else vars(args)
    result = measure_scale(settings["points"], settings["months"], settings["rounds"])
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
