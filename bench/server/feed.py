"""Serving the big feed: a Batch/Subscription of 15-minute data over real HTTP, under gunicorn.

Measured in one run (``run.py`` calls :func:`measure_feeds`; ``python feed.py`` alone):

* **rate**: readings/s of ``GET /Batch/Subscription/{id}`` for 13 months of 15-minute data
  (~38k readings), the whole body read by a client on loopback (best of ``rounds``);
  gzip on request too, with its size;
* **anchor**: the plain lxml loop (``bench/contenders.py``'s ``plain-lxml``: iterparse per
  IntervalReading) reading the same served bytes from a file, best of ``rounds``, in the
  same run -- the target is >= 1.5x its rate (issue 17);
* **304**: the same GET with the ETag of the last answer (what a polling ASP pays when
  nothing changed);
* **memory**: peak RSS (VmHWM) of the gunicorn worker after serving a 5-year subscription
  (~175k readings, ~33 MB) next to after serving the 13-month one: bounded when it does not
  grow with the data.

Each database is SQLite, seeded here with one customer, usage point, meter reading, grant
and bearer token (rows as the demo makes them), served by ``gunicorn -w 1`` so the worker
is known.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import servers

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TOKEN = "bench-feed-token"
SUBSCRIPTION = "b0000000-0000-4000-8000-000000000001"
START = 1_672_560_000  # 2023-01-01T00:00:00-08:00
INTERVAL = 900
PERIODS = {"13 months": 396, "5 years": 5 * 365}


def seed(url: str, days: int) -> int:
    """One subscription with ``days`` of 15-minute readings; how many readings."""
    from espi_sst_server import create_app
    from espi_sst_server.security import hash_secret
    from espi_sst_server.storage import db
    from espi_sst_server.storage.interval_data import write_readings
    from espi_sst_server.storage.models import (
        Application,
        Authorization,
        LocalTimeParameters,
        MeterReading,
        ReadingType,
        RetailCustomer,
        Token,
        UsagePoint,
    )
    from espi_sst_server.storage.zones import zone_of

    scope = "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=60 usage billing"
    app = create_app({"DATABASE_URL": url, "ISSUER": "http://bench", "SECRET_KEY": "seed"})
    now = int(time.time())
    with app.app_context(), db.transaction() as s:
        zone = LocalTimeParameters(
            uuid=str(uuid.uuid4()),
            title="Pacific Time",
            tz_offset=-28_800,
            dst_offset=3_600,
            dst_start_rule="360E2000",
            dst_end_rule="B40E2000",
        )
        kwh = ReadingType(
            uuid=str(uuid.uuid4()),
            title="15-minute electricity",
            accumulation_behaviour=4,
            commodity=1,
            flow_direction=1,
            interval_length=INTERVAL,
            kind=12,
            power_of_ten_multiplier=0,
            uom=72,
        )
        customer = RetailCustomer(
            uuid=str(uuid.uuid4()),
            username="bench",
            password_hash="x",
            display_name="Bench",
            created_at=now,
        )
        point = UsagePoint(
            uuid=str(uuid.uuid4()),
            customer=customer,
            title="Home",
            service_kind=0,
            service_agreement="SA-1",
            local_time=zone,
            udc="PGE",
            lse="PGE",
        )
        reading = MeterReading(
            uuid=str(uuid.uuid4()), usage_point=point, reading_type=kwh, title="Electricity"
        )
        application = Application(
            uuid=str(uuid.uuid4()),
            client_id="bench-asp",
            client_secret_hash=hash_secret("bench-secret"),
            client_name="Bench ASP",
            client_uri="https://bench.example",
            redirect_uris=["https://bench.example/cb"],
            notify_uri="https://bench.example/notify",
            scope=scope,
            qualification="qualified",
            software_id="bench-app",
            software_version="1.0",
            contacts=["ops@bench.example"],
            grant_types=["authorization_code"],
            token_endpoint_auth_method="client_secret_basic",
            created_at=now,
        )
        grant = Authorization(
            uuid=str(uuid.uuid4()),
            subscription_uuid=SUBSCRIPTION,
            customer=customer,
            application=application,
            scope=scope,
            status=1,
            created_at=now,
            updated_at=now,
            ends_at=now + 10 * 365 * 86_400,
            grant_type="authorization_code",
            usage_points=[point],
        )
        s.add_all([zone, kwh, customer, point, reading, application, grant])
        s.flush()
        s.add(
            Token(
                family="bench",
                client_id="bench-asp",
                authorization=grant,
                access_token_hash=hash_secret(TOKEN),
                scope=scope,
                issued_at=now,
                access_expires_at=now + 86_400,
            )
        )
        count = days * 86_400 // INTERVAL
        # (start, duration, value, cost, quality), stored packed per local day
        write_readings(
            s,
            reading.id,
            (
                (START + i * INTERVAL, INTERVAL, 100 + (i * 7919) % 900, None, None)
                for i in range(count)
            ),
            zone=zone_of(zone),
        )
    engine = app.extensions["espi_sst_db"].engine
    engine.dispose()
    return count


@dataclass
class Fetch:
    seconds: float
    status: int
    body: bytes
    headers: dict[str, str]


def fetch(base: str, path: str, headers: dict[str, str] | None = None) -> Fetch:
    """One GET over a fresh connection, the body read to its end."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})
    response = connection.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    connection.close()
    return Fetch(seconds, response.status, body, {k: v for k, v in response.getheaders()})


def plain_lxml_seconds(body: bytes, rounds: int) -> tuple[float, int]:
    """The anchor: ``contenders.py``'s plain lxml loop over the served bytes (best time)."""
    import contenders

    read = contenders._load_plain_lxml()
    with tempfile.NamedTemporaryFile(suffix=".xml") as file:
        file.write(body)
        file.flush()
        best, count = float("inf"), 0
        for _ in range(rounds):
            started = time.perf_counter()
            count, _sum = read(file.name)
            best = min(best, time.perf_counter() - started)
    return best, count


def worker_pids(master: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(entry))
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class FeedResult:
    period: str
    readings: int
    body_bytes: int
    gzip_bytes: int
    seconds: float  # best whole GET, identity
    gzip_seconds: float
    anchor_seconds: float  # plain lxml over the same bytes
    not_modified_ms: float
    worker_peak_rss_mb: float
    transfer_encoding: str
    worker_idle_rss_mb: float = float("nan")

    @property
    def rate(self) -> float:
        return self.readings / self.seconds

    @property
    def anchor_rate(self) -> float:
        return self.readings / self.anchor_seconds


def measure_one(work: Path, period: str, days: int, rounds: int) -> FeedResult:
    url = f"sqlite:///{work / f'feed-{days}.db'}"
    readings = seed(url, days)
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**servers.espi_env(url, base), "ESPI_SECRET_KEY": secrets.token_urlsafe(32)}
    path = f"/espi/1_1/resource/Batch/Subscription/{SUBSCRIPTION}"
    saved = servers.WORKERS
    servers.WORKERS = 1
    try:
        with servers.gunicorn(
            f"feed-{days}",
            "espi_sst_server.wsgi:app",
            port,
            work,
            env,
            "/.well-known/openid-configuration",
        ) as server:
            (worker,) = worker_pids(server.process.pid)
            idle = peak_rss_mb(worker)  # after start-up and the readiness probe only
            plain = [fetch(base, path) for _ in range(rounds)]
            packed = [fetch(base, path, {"Accept-Encoding": "gzip"}) for _ in range(rounds)]
            best = min(plain, key=lambda f: f.seconds)
            assert best.status == 200, best.body[:300]
            etag = best.headers["ETag"]
            unchanged = [fetch(base, path, {"If-None-Match": etag}) for _ in range(5)]
            assert all(f.status == 304 for f in unchanged)
            peak = peak_rss_mb(worker)
    finally:
        servers.WORKERS = saved
    anchor, counted = plain_lxml_seconds(best.body, rounds)
    assert counted == readings, (counted, readings)
    return FeedResult(
        period=period,
        readings=readings,
        body_bytes=len(best.body),
        gzip_bytes=len(packed[0].body),
        seconds=best.seconds,
        gzip_seconds=min(f.seconds for f in packed),
        anchor_seconds=anchor,
        not_modified_ms=1000 * min(f.seconds for f in unchanged),
        worker_peak_rss_mb=peak,
        transfer_encoding=best.headers.get("Transfer-Encoding", ""),
        worker_idle_rss_mb=idle,
    )


def measure_feeds(work: Path, rounds: int = 3) -> list[FeedResult]:
    return [measure_one(work, period, days, rounds) for period, days in PERIODS.items()]


def load_results(path: Path) -> list[FeedResult]:
    """The feed results of a stored ``server.json`` (none before this benchmark existed)."""
    stored = json.loads(path.read_text()).get("feeds", [])
    names = set(FeedResult.__dataclass_fields__)
    return [FeedResult(**{k: v for k, v in r.items() if k in names}) for r in stored]


def render(results: list[FeedResult]) -> str:
    """The Markdown section of ``bench/results/server.md``."""
    lines = [
        "### Serving the Batch/Subscription feed (15-minute data)",
        "",
        "One GET of the whole subscription over loopback (`gunicorn -w 1`, SQLite), the body "
        "read to its end, best of the rounds; the anchor is the plain lxml loop "
        "(`bench/contenders.py` `plain-lxml`) reading the same served bytes, in the same run. "
        "Target (issue 17): serving >= 1.5x the anchor's readings/s, streamed, gzip on "
        "request, worker memory bounded for 5 years.",
        "",
        "| data | readings | body | gzip body | serve | readings/s | plain lxml on the bytes | ratio | gzip serve | 304 | worker peak RSS (idle) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.period} | {r.readings:,} | {r.body_bytes / 1e6:.1f} MB | "
            f"{r.gzip_bytes / 1e6:.2f} MB | {r.seconds:.3f} s | {r.rate:,.0f} | "
            f"{r.anchor_rate:,.0f}/s | **{r.rate / r.anchor_rate:.2f}x** "
            f"({'PASS' if r.rate >= 1.5 * r.anchor_rate else 'MISS'}) | {r.gzip_seconds:.3f} s | "
            f"{r.not_modified_ms:.1f} ms | {r.worker_peak_rss_mb:.0f} MB "
            f"({r.worker_idle_rss_mb:.0f} MB) |"
        )
    if len(results) == 2:
        grow = results[1].worker_peak_rss_mb - results[0].worker_peak_rss_mb
        lines += [
            "",
            f"Worker peak RSS grows by {grow:+.0f} MB from {results[0].period} to "
            f"{results[1].period} ({results[1].body_bytes / results[0].body_bytes:.1f}x the "
            "bytes), and serving raises it by "
            f"{max(r.worker_peak_rss_mb - r.worker_idle_rss_mb for r in results):.0f} MB at most "
            "above the worker's own start-up peak (idle, in brackets): the body is written as it "
            f"is read ({results[0].transfer_encoding or 'no'} "
            "transfer encoding), in chunks of readings "
            "(`server/storage/interval_data.py`).",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="espi-bench-feed.") as work:
        results = measure_feeds(Path(work))
    print(render(results))
    print(
        json.dumps(
            [asdict(r) | {"rate": r.rate, "anchor_rate": r.anchor_rate} for r in results], indent=2
        )
    )
    print("load average:", os.getloadavg(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
