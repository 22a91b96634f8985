"""The demo utility's seed: real rows in a real SQLite database, checked for what the demo,
the resource API and the SST bill comparison rely on (server/demo/).

One database is seeded per module (seeding writes ~210k interval rows); the tests read it
through their own engine, so apps created later (which rebind the global ``db``) cannot
redirect them.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from argon2 import PasswordHasher
from espi_sst_server import create_app
from espi_sst_server.demo import AlreadySeededError, DemoData, seed
from espi_sst_server.demo.tariffs import period_by_hour
from espi_sst_server.security import hash_secret
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import readings_between
from espi_sst_server.storage.models import (
    Application,
    MeterReading,
    RetailCustomer,
    Tariff,
    UsagePoint,
    UsageSummary,
)
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from espi_sst import Rin
from espi_sst.localtime import DstRule, EspiTimeZone
from espi_sst.scope import Category, Scope

NOW = 1_794_300_000  # 2026-11-10 00:40 PST: the data ends at local midnight of that day
THIRTEEN_MONTHS = 395  # days, at least


@dataclass
class Seeded:
    url: str
    engine: Engine
    data: DemoData
    seconds: float

    def session(self) -> Session:
        return Session(self.engine)


def _seed_into(url: str, *, seed_value: int = 2026) -> tuple[DemoData, float]:
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test"})
    with app.app_context():
        started = time.perf_counter()
        with db.transaction() as session:
            data = seed(session, now=NOW, seed=seed_value)
        seconds = time.perf_counter() - started
    app.extensions["espi_sst_db"].engine.dispose()
    return data, seconds


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/t.db"
    data, seconds = _seed_into(url)
    engine = create_engine(url)
    yield Seeded(url, engine, data, seconds)
    engine.dispose()


def _pacific(point: UsagePoint) -> EspiTimeZone:
    """The zone the usage point itself publishes (its LocalTimeParameters)."""
    ltp = point.local_time
    assert ltp is not None
    return EspiTimeZone(
        ltp.tz_offset,
        ltp.dst_offset,
        DstRule.decode(ltp.dst_start_rule),
        DstRule.decode(ltp.dst_end_rule),
    )


class _Row(NamedTuple):
    start: int
    duration: int
    value: int


def _readings(session: Session, meter: MeterReading) -> list[_Row]:
    """(start, duration, value) in time order; plain tuples, not ORM objects (fast)."""
    return [_Row(r[0], r[1], r[2]) for r in readings_between(session, meter.id)]


@cache
def _local_hour(hour_start: int, zone: EspiTimeZone) -> datetime:
    return datetime.fromtimestamp(hour_start, zone)


def _local(timestamp: int, zone: EspiTimeZone) -> datetime:
    """Local time; zone offsets change on whole hours, so convert each hour only once."""
    return _local_hour(timestamp - timestamp % 3600, zone) + timedelta(seconds=timestamp % 3600)


def _meter(point: UsagePoint, flow_direction: int) -> MeterReading:
    (meter,) = [m for m in point.meter_readings if m.reading_type.flow_direction == flow_direction]
    return meter


def _point(session: Session, data: DemoData, kind: str, service_kind: int = 0) -> UsagePoint:
    uuids = data.customer(kind).usage_point_uuids
    points = session.scalars(select(UsagePoint).where(UsagePoint.uuid.in_(uuids)))
    (point,) = [p for p in points if p.service_kind == service_kind]
    return point


def _by_local_day(rows: list[_Row], zone: EspiTimeZone) -> dict[date, list[_Row]]:
    days: dict[date, list[_Row]] = defaultdict(list)
    for row in rows:
        days[_local(row.start, zone).date()].append(row)
    return days


def _local_length(day: date, zone: EspiTimeZone) -> int:
    start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
    following = date.fromordinal(day.toordinal() + 1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone).timestamp()
    return int(end - start)


@cache  # the module's database never changes after its seed
def _checksum(url: str) -> str:
    """Everything a seed decides (not the salted password hashes), in a stable order."""
    engine = create_engine(url)
    digest = hashlib.sha256()
    with Session(engine) as session:
        meters = session.execute(
            select(MeterReading.uuid, MeterReading.id).order_by(MeterReading.uuid)
        )
        for uuid, meter_id in meters.all():
            for start, duration, value, _cost, quality in readings_between(session, meter_id):
                digest.update(repr((uuid, start, duration, value, quality)).encode())
        for summary in session.scalars(select(UsageSummary).order_by(UsageSummary.uuid)):
            digest.update(
                repr(
                    (
                        summary.uuid,
                        summary.billing_period_start,
                        summary.billing_period_duration,
                        summary.bill_last_period,
                        summary.consumption_wh,
                    )
                ).encode()
            )
        for app in session.scalars(select(Application).order_by(Application.client_id)):
            digest.update(repr((app.uuid, app.client_id, app.client_secret_hash)).encode())
    engine.dispose()
    return digest.hexdigest()


# ---- interval data -----------------------------------------------------------------------


def test_electric_readings_cover_13_months_of_whole_local_days(seeded: Seeded) -> None:
    with seeded.session() as session:
        meters = [m for m in session.scalars(select(MeterReading)) if m.reading_type.uom == 72]
        assert len(meters) == 5  # four delivered channels and one received
        for meter in meters:
            assert meter.reading_type.interval_length == 900
            assert meter.reading_type.power_of_ten_multiplier == 0
            rows = _readings(session, meter)
            starts = [row.start for row in rows]
            assert starts[0] == seeded.data.history_start
            assert starts[-1] + 900 == seeded.data.history_end
            assert all(b - a == 900 for a, b in zip(starts, starts[1:], strict=False)), "gap"
            assert {row.duration for row in rows} == {900}
            zone = _pacific(meter.usage_point)
            days = _by_local_day(rows, zone)
            assert (max(days) - min(days)).days >= THIRTEEN_MONTHS
            counts = {day: len(day_rows) for day, day_rows in days.items()}
            assert set(counts.values()) == {92, 96, 100}  # the window holds both DST changes
            for day, count in counts.items():
                assert count * 900 == _local_length(day, zone), day
            assert datetime.fromtimestamp(seeded.data.history_end, zone).hour == 0


def test_delivered_energy_is_plausible_for_a_home(seeded: Seeded) -> None:
    with seeded.session() as session:
        for customer in seeded.data.customers:
            point = _point(session, seeded.data, customer.kind)
            rows = _readings(session, _meter(point, 1))
            solar = "solar" in customer.kinds
            assert all(row.value >= 0 if solar else row.value > 0 for row in rows)
            assert max(row.value for row in rows) < 3_000  # < 12 kW in any quarter hour
            days = _by_local_day(rows, _pacific(point))
            daily_kwh = [sum(row.value for row in day) / 1000 for day in days.values()]
            assert 5 <= min(daily_kwh) and max(daily_kwh) <= 60, customer.username


def test_air_conditioning_makes_summer_afternoons_higher_than_spring(seeded: Seeded) -> None:
    with seeded.session() as session:
        point = _point(session, seeded.data, "bundled")  # alex, Fresno
        zone = _pacific(point)
        afternoons: dict[str, list[int]] = {"summer": [], "spring": []}
        for row in _readings(session, _meter(point, 1)):
            local = _local(row.start, zone)
            if 14 <= local.hour < 20:
                season = {7: "summer", 8: "summer", 4: "spring", 5: "spring"}.get(local.month)
                if season:
                    afternoons[season].append(row.value)
        assert statistics.mean(afternoons["summer"]) > 1.5 * statistics.mean(afternoons["spring"])


def test_solar_exports_at_summer_noon_and_never_at_night(seeded: Seeded) -> None:
    with seeded.session() as session:
        point = _point(session, seeded.data, "solar")
        received = _meter(point, 19)
        assert received.reading_type.uom == 72 and received.reading_type.commodity == 1
        zone = _pacific(point)
        noon: list[int] = []
        for row in _readings(session, received):
            local = _local(row.start, zone)
            if local.hour < 5 or local.hour >= 21:
                assert row.value == 0, local
            if local.month in (6, 7, 8) and (local.hour, local.minute) == (12, 0):
                noon.append(row.value)
        assert len(noon) >= 90
        assert sum(value > 0 for value in noon) >= 0.9 * len(noon)
        assert statistics.median(noon) > 250  # > 1 kW exported at noon on a typical day


def test_gas_is_daily_therms_and_higher_in_january_than_july(seeded: Seeded) -> None:
    with seeded.session() as session:
        point = _point(session, seeded.data, "gas", service_kind=1)
        (meter,) = point.meter_readings
        kind = meter.reading_type
        assert (kind.uom, kind.commodity, kind.interval_length) == (169, 7, 86400)
        zone = _pacific(point)
        rows = _readings(session, meter)
        by_month: dict[int, list[float]] = defaultdict(list)
        for row in rows:
            local = _local(row.start, zone)
            assert (local.hour, local.minute) == (0, 0)
            assert row.duration == _local_length(local.date(), zone)
            by_month[local.month].append(row.value * 10**kind.power_of_ten_multiplier)
        starts = [row.start for row in rows]
        assert all(r.start + r.duration == s for r, s in zip(rows, starts[1:], strict=False))
        january, july = statistics.mean(by_month[1]), statistics.mean(by_month[7])
        assert january > 2 * july
        assert 1.0 < january < 5.0 and 0.2 < july < 1.5  # therms per day


def test_imperfections_carry_espi_quality_codes(seeded: Seeded) -> None:
    with seeded.session() as session:
        rows = [
            (meter, reading[4], reading[0])
            for meter in session.scalars(select(MeterReading))
            for reading in readings_between(session, meter.id)
            if reading[4] is not None
        ]
        estimated = [(meter, start) for meter, quality, start in rows if quality == 8]
        interpolated = [(meter, start) for meter, quality, start in rows if quality == 9]
        assert {quality for _meter, quality, _start in rows} == {8, 9}
        (meter,) = {m for m, _ in estimated}
        assert meter.usage_point.customer.username == seeded.data.customer("bundled").username
        zone = _pacific(meter.usage_point)
        (day,) = {datetime.fromtimestamp(start, zone).date() for _m, start in estimated}
        assert len(estimated) * 900 == _local_length(day, zone)  # one whole day
        assert sorted(m.reading_type.interval_length for m, _ in interpolated) == [900] * 4 + [
            86400
        ]


# ---- tariffs and usage points ------------------------------------------------------------


def test_every_tariff_has_a_valid_rin_of_its_role_and_a_priceable_definition(
    seeded: Seeded,
) -> None:
    with seeded.session() as session:
        tariffs = list(session.scalars(select(Tariff)))
        bundled_rins = {t.rin for t in tariffs if t.role == "bundled"}
        assert {t.role for t in tariffs} == {"bundled", "delivery", "generation"}
        for tariff in tariffs:
            rin = Rin.parse(tariff.rin)
            assert str(rin) == tariff.rin
            assert rin.role.value == tariff.role, tariff.code
            definition = tariff.definition
            assert definition is not None and definition["illustrative"] is True
            assert definition["currency"] == "USD" and definition["role"] == tariff.role
            months = sorted(m for season in definition["seasons"] for m in season["months"])
            assert months == list(range(1, 13))
            periods = set(period_by_hour(definition))  # every hour in exactly one period
            for season in definition["seasons"]:
                prices = definition["energy_prices"][season["name"]]
                assert set(prices) == periods
                low, high = (0.05, 0.25) if tariff.role == "generation" else (0.15, 0.60)
                assert all(low <= price <= high for price in prices.values()), tariff.code
            if tariff.role == "generation":
                assert tariff.lse == "PCE" and tariff.iou_mirror_of in bundled_rins
            else:
                assert tariff.lse == "PGE" and tariff.iou_mirror_of is None
        assert "USCA-PGPG-0505-0000" in bundled_rins  # E-ELEC, as MIDAS publishes it
        tou = next(t for t in tariffs if t.code == "E-TOU-C").definition
        assert tou is not None
        peak = next(p for p in tou["periods"] if p["name"] == "peak")
        assert peak["windows"] == [{"start": "16:00", "end": "21:00"}]
        assert next(s for s in tou["seasons"] if s["name"] == "summer")["months"] == [6, 7, 8, 9]
        tiered = next(t for t in tariffs if t.code == "E-1").definition
        assert tiered is not None and tiered["tiers"] and tiered["baseline"]["territories"]


def test_the_cca_customer_holds_a_delivery_and_a_generation_tariff(seeded: Seeded) -> None:
    with seeded.session() as session:
        point = _point(session, seeded.data, "unbundled")
        assert (point.udc, point.lse, point.bundled) == ("PGE", "PCE", False)
        assert point.tariff is not None and point.generation_tariff is not None
        assert (point.tariff.role, point.generation_tariff.role) == ("delivery", "generation")
        assert point.tariff.rin == "USCA-PGXX-0100-0000"
        assert point.generation_tariff.rin == "USCA-XXPE-0440-0000"
        for kind in ("bundled", "gas", "solar"):
            electric = _point(session, seeded.data, kind)
            assert electric.bundled and electric.generation_tariff is None
            assert electric.tariff is not None and electric.tariff.role == "bundled"
        bundled = _point(session, seeded.data, "bundled").tariff
        assert bundled is not None and bundled.code == "E-TOU-C"


def test_usage_points_carry_pacific_time_agreements_and_rate_dates(seeded: Seeded) -> None:
    with seeded.session() as session:
        points = list(session.scalars(select(UsagePoint)))
        assert len(points) == 5
        assert len({p.service_agreement for p in points}) == 5
        for point in points:
            ltp = point.local_time
            assert ltp is not None
            assert (ltp.tz_offset, ltp.dst_offset) == (-28800, 3600)
            assert (ltp.dst_start_rule, ltp.dst_end_rule) == ("360E2000", "B40E2000")
            assert point.udc == "PGE" and point.service_agreement.isdigit()
            assert point.rate_effective_date is not None
            if point.last_voluntary_change_at is None:
                assert point.rate_effective_date < seeded.data.history_start
            else:  # Alex chose E-TOU-C inside the data, 8 cycles before its end
                assert point.last_voluntary_change_at == point.rate_effective_date
                assert seeded.data.history_start < point.rate_effective_date
                months = (seeded.data.history_end - point.rate_effective_date) / (30.44 * 86400)
                assert 8 <= months < 9.1
        gas = _point(session, seeded.data, "gas", service_kind=1)
        assert gas.tariff is None and gas.lse == "PGE"


def test_usage_summaries_are_monthly_bills_matching_the_readings(seeded: Seeded) -> None:
    with seeded.session() as session:
        for point in session.scalars(select(UsagePoint)):
            summaries = sorted(point.usage_summaries, key=lambda s: s.billing_period_start)
            assert len(summaries) >= 13
            zone = _pacific(point)
            starts = [datetime.fromtimestamp(s.billing_period_start, zone) for s in summaries]
            assert len({start.day for start in starts}) == 1  # the read day
            assert all((start.hour, start.minute) == (0, 0) for start in starts)
            for summary, following in zip(summaries, summaries[1:], strict=False):
                end = summary.billing_period_start + summary.billing_period_duration
                assert end == following.billing_period_start
            readings = _readings(session, _meter(point, 1))
            reading_starts = [r.start for r in readings]
            for summary in summaries:
                end = summary.billing_period_start + summary.billing_period_duration
                assert summary.status_time_stamp <= NOW and summary.currency == 840
                assert summary.agency_name == point.lse and summary.read_cycle == "M"
                dollars = (summary.bill_last_period or 0) / 100_000
                assert 20 < dollars < 800, (point.title, dollars)
                first = bisect_left(reading_starts, summary.billing_period_start)
                metered = sum(r.value for r in readings[first : bisect_left(reading_starts, end)])
                if point.service_kind == 0:
                    assert summary.consumption_wh == metered
                    assert point.tariff is not None
                    if summary.billing_period_start >= (point.rate_effective_date or 0):
                        assert summary.tariff_profile == point.tariff.code
                    else:  # before a voluntary switch: billed on the rate it left
                        assert point.last_voluntary_change_at is not None
                        assert summary.tariff_profile == "E-1"
                else:  # therm x 10^-3 -> Wh (1 therm = 29,307.107 Wh)
                    assert summary.consumption_wh == round(metered / 1000 * 29_307.107)
                    assert summary.tariff_profile == "G-1"


# ---- customers, clients, the demo document -----------------------------------------------


def test_customers_sign_in_with_the_returned_passwords(seeded: Seeded) -> None:
    data = seeded.data
    assert {kind for c in data.customers for kind in c.kinds} == {
        "bundled",
        "unbundled",
        "gas",
        "solar",
    }
    hasher = PasswordHasher()
    with seeded.session() as session:
        for demo in data.customers:
            customer = session.scalars(
                select(RetailCustomer).where(RetailCustomer.username == demo.username)
            ).one()
            assert customer.password_hash.startswith("$argon2")
            assert hasher.verify(customer.password_hash, demo.password)
            assert customer.uuid == demo.uuid and customer.display_name == demo.display_name
            assert {p.uuid for p in customer.usage_points} == set(demo.usage_point_uuids)
        gas_customer = data.customer("gas")
        assert len(gas_customer.usage_point_uuids) == 2


def test_clients_are_confidential_public_and_pending(seeded: Seeded) -> None:
    clients = {c.client_id: c for c in seeded.data.clients}
    with seeded.session() as session:
        apps = list(session.scalars(select(Application)))
        assert {a.client_id for a in apps} == set(clients)
        for app in apps:
            demo = clients[app.client_id]
            scope = Scope.parse(app.scope)
            assert Category.SST_RATE_CHANGE in scope.categories and scope.openid
            assert scope.function_blocks >= {1, 3, 4, 5, 13, 14, 15, 19, 37, 39}
            assert app.redirect_uris == list(demo.redirect_uris)
            assert all(uri.startswith("http://127.0.0.1:8765/") for uri in app.redirect_uris)
            assert app.notify_uri.startswith("http://127.0.0.1:8765/")
            if demo.client_secret is None:
                assert app.client_secret_hash is None
                assert app.token_endpoint_auth_method == "none"
                assert app.grant_types == ["authorization_code", "refresh_token"]
            else:
                assert app.client_secret_hash == hash_secret(demo.client_secret)
                assert demo.client_secret not in json.dumps(app.client_secret_hash)
                assert "client_credentials" in app.grant_types
        qualifications = sorted(a.qualification for a in apps)
        assert qualifications == ["pending", "qualified", "qualified"]
        assert sum(a.client_secret_hash is None for a in apps) == 1


def test_as_json_is_the_demo_document(seeded: Seeded) -> None:
    document = seeded.data.as_json("http://127.0.0.1:5000", "http://127.0.0.1:5000")
    assert json.loads(json.dumps(document)) == document
    assert document["base_url"] == document["issuer"] == "http://127.0.0.1:5000"
    for customer in document["customers"]:
        assert {"username", "password", "kind"} <= set(customer)
    for client in document["clients"]:
        assert {"client_id", "client_secret", "redirect_uris"} <= set(client)
    assert any(client["client_secret"] is None for client in document["clients"])


# ---- the seed as a whole -----------------------------------------------------------------


def test_a_second_seed_into_the_same_database_is_refused(seeded: Seeded) -> None:
    app = create_app({"DATABASE_URL": seeded.url, "TESTING": True, "SECRET_KEY": "test"})
    with app.app_context():
        with pytest.raises(AlreadySeededError, match="not empty.*retail_customer"):
            with db.transaction() as session:
                seed(session, now=NOW)
    app.extensions["espi_sst_db"].engine.dispose()
    with seeded.session() as session:
        assert len(list(session.scalars(select(RetailCustomer)))) == 4


def test_the_same_seed_gives_the_same_rows_on_every_database(
    seeded: Seeded, database_url: str
) -> None:
    data, _seconds = _seed_into(database_url)
    assert data == seeded.data
    assert _checksum(database_url) == _checksum(seeded.url)


def test_another_seed_gives_other_readings_but_the_same_ids(seeded: Seeded, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/other.db"
    data, _seconds = _seed_into(url, seed_value=7)
    assert _checksum(url) != _checksum(seeded.url)
    assert [c.usage_point_uuids for c in data.customers] == [
        c.usage_point_uuids for c in seeded.data.customers
    ]
    assert [c.password for c in data.customers] != [c.password for c in seeded.data.customers]


def test_seed_time_is_reported(seeded: Seeded, record_property: Any) -> None:
    """Measured, not asserted (machines differ): see the junit property or -s output."""
    record_property("seed_seconds", round(seeded.seconds, 2))
    print(f"demo seed on SQLite: {seeded.seconds:.2f} s")
