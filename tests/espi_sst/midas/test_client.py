"""The MIDAS client (espi_sst/midas/client.py) against the fake MIDAS on loopback.

Real sockets, no mocks (house style 7): the fake (``espi_sst_server.demo.fake_midas``)
replays the recorded v2 responses, synthesizes the demo utility's prices, and can be told to
throttle (429), fail (503) or send a body that is not JSON.  v1 shapes are served by routes
the tests add.  Every server and session is closed (``filterwarnings = error``).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from espi_sst_server.demo.fake_midas import SYNTHESIZED, create_fake_midas, sample, serve_fake_midas
from espi_sst_server.demo.tariffs import TARIFFS
from flask import Flask

from espi_sst import EspiError, Rin
from espi_sst.midas import (
    MidasClient,
    MidasError,
    MidasRateLimited,
    MidasResponseError,
    MidasUnavailable,
    PriceInterval,
    RateSchedule,
    RinNotFound,
)

PACIFIC = ZoneInfo("America/Los_Angeles")
MOER = "USCA-SGIP-MOER-PGE"
E_TOU_C = "USCA-PGPG-0100-0000"


class Fake:
    """A running fake MIDAS: its app (for the test hooks) and its base URL."""

    def __init__(self, app: Flask, url: str) -> None:
        self.app = app
        self.url = url

    def fail(self, rin: str, *answers: int | str) -> None:
        self.app.config["MIDAS_FAIL"][rin] = list(answers)

    def calls(self, path_start: str = "/") -> list[tuple[str, dict[str, str]]]:
        return [call for call in self.app.config["MIDAS_CALLS"] if call[0].startswith(path_start)]


@pytest.fixture
def start_fake() -> Iterator[Callable[..., Fake]]:
    """Start fakes on 127.0.0.1:0 (an app prepared by the test, or a new one); stop them all."""
    running: list[Any] = []

    def start(app: Flask | None = None, clock: Callable[[], datetime] | None = None) -> Fake:
        app = app or create_fake_midas(clock)
        server, thread, url = serve_fake_midas(app=app)
        running.append((server, thread))
        return Fake(app, url)

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake(start_fake: Callable[..., Fake]) -> Fake:
    return start_fake()


@pytest.fixture
def midas(fake: Fake) -> Iterator[MidasClient]:
    with MidasClient(fake.url, backoff=0.01) as client:
        yield client


def v1_app() -> Flask:
    """The fake plus the v1 shapes under /v1 (bare-array RIN list, lowercase ``value``)."""
    app = create_fake_midas()

    @app.get("/v1/api/valuedata")
    def v1_valuedata() -> Any:
        from flask import request

        if "SignalType" in request.args:
            return app.response_class(
                json.dumps(sample("v1-rinlist-signaltype1.json")), mimetype="application/json"
            )
        return app.response_class(
            json.dumps(sample("v1-valuedata-tou-USCA-TSTS-TTOU-TEST.json")),
            mimetype="application/json",
        )

    return app


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


# ---- the RIN list --------------------------------------------------------------------------
def test_rin_list_v2_lists_recorded_and_demo_rins(midas: MidasClient) -> None:
    listing = midas.rin_list()
    by_id = {str(row.rate_id): row for row in listing}
    assert {"USCA-BNBN-EVT2-0000", "USCA-LALA-TTOU-0000", E_TOU_C} <= set(by_id)
    assert {spec.rin for spec in TARIFFS} <= set(by_id)
    assert all(isinstance(row.rate_id, Rin) for row in listing)
    banning = by_id["USCA-BNBN-EVT2-0000"]
    assert banning.signal_type == "Electricity Rates"
    assert banning.description.startswith("Rate Data for Distributor: Banning")
    # bare timestamp (no offset): Pacific wall-clock time, 14:31 PDT = 21:31 UTC
    assert banning.last_updated == utc(2021, 7, 14, 21, 31, 55, 653000)
    assert SYNTHESIZED in by_id[E_TOU_C].description
    assert by_id[E_TOU_C].last_updated is not None
    assert by_id[E_TOU_C].last_updated.tzinfo is UTC


def test_rin_list_signal_type_two_lists_the_ghg_signal(midas: MidasClient, fake: Fake) -> None:
    (row,) = midas.rin_list(signal_type=2)
    assert str(row.rate_id) == MOER and row.signal_type == "Greenhouse Gas Emissions"
    assert fake.calls()[-1] == ("/api/valuedata", {"SignalType": "2"})


def test_rin_list_v1_bare_array(start_fake: Callable[..., Fake]) -> None:
    fake = start_fake(v1_app())
    with MidasClient(fake.url + "/v1") as client:
        listing = client.rin_list()
    assert [str(row.rate_id) for row in listing] == [
        "USCA-BNBN-EVT2-0000",
        "USCA-LALA-TTOU-0000",
        "USCA-HPHP-TEST-0000",
    ]
    assert listing[0].signal_type == "Rates"
    assert listing[1].last_updated == utc(2023, 6, 7, 22, 57, 48, 23000)


# ---- prices --------------------------------------------------------------------------------
def test_prices_realtime_moer_sample(midas: MidasClient, fake: Fake) -> None:
    schedule = midas.prices(MOER)
    assert fake.calls()[-1] == ("/api/valuedata", {"ID": MOER, "QueryType": "realtime"})
    assert schedule.rate_id == Rin.parse(MOER)
    assert schedule.rate_name == "SGIP_CAISO_PGE Realtime GHG Emissions"
    assert schedule.rate_type == "Greenhouse Gas emissions"
    assert schedule.signal_type == "Greenhouse Gas Emissions"
    assert schedule.api_url == "https://sgipsignal.com/" and schedule.rate_plan_url is None
    assert [i.value for i in schedule.intervals] == pytest.approx(
        [643.1940171576185, 643.1940171576185, 643.1940171576185, 633.5256452505812]
    )
    first = schedule.intervals[0]
    assert first.start == utc(2026, 6, 22, 7, 0) and first.start.tzinfo is UTC
    assert first.end == utc(2026, 6, 22, 7, 5)  # TimeEnd 07:04:59 is inclusive
    assert first.unit == "g/kWh CO2" and first.day_start == first.day_end == 1
    for earlier, later in zip(schedule.intervals, schedule.intervals[1:], strict=False):
        assert earlier.end == later.start  # contiguous, no one-second gaps


def test_prices_v1_tou_sample_lowercase_value(start_fake: Callable[..., Fake]) -> None:
    fake = start_fake(v1_app())
    with MidasClient(fake.url + "/v1") as client:
        schedule = client.prices("USCA-TSTS-TTOU-TEST", query="alldata")
    assert str(schedule.rate_id) == "USCA-TSTS-TTOU-TEST"
    assert schedule.api_url is None  # the literal text "None"
    assert schedule.rate_plan_url == "https://energy.ca.gov"
    assert [(i.name, i.value) for i in schedule.intervals] == [
        ("winter off peak", 0.1006),
        ("winter off peak", 0.1006),
        ("winter on peak", 0.1388),
        ("winter off peak", 0.1006),
    ]
    monday = schedule.intervals[0]
    assert (monday.start, monday.end) == (utc(2023, 5, 1, 7), utc(2023, 5, 1, 8))
    assert monday.day_start == 1  # "Monday"
    assert schedule.intervals[2].day_start == 2  # "Tuesday"


def test_at_and_current_find_the_interval_in_force(midas: MidasClient) -> None:
    schedule = midas.prices(MOER)
    second = schedule.intervals[1]
    assert schedule.at(utc(2026, 6, 22, 7, 5)) is second  # ends are exclusive
    assert schedule.at(utc(2026, 6, 22, 7, 4, 59, 999999)) is schedule.intervals[0]
    pacific = datetime(2026, 6, 22, 0, 7, 30, tzinfo=PACIFIC)  # any zone: 07:07:30 UTC
    assert schedule.at(pacific) is second
    assert schedule.at(utc(2026, 6, 22, 6, 59, 59)) is None
    assert schedule.at(utc(2026, 6, 22, 7, 20)) is None  # after the last interval
    assert schedule.current(now=utc(2026, 6, 22, 7, 16)) is schedule.intervals[3]
    assert schedule.current() is None  # the recording is from June 2026
    with pytest.raises(ValueError, match="time zone"):
        schedule.at(datetime(2026, 6, 22, 7, 5))


def test_unknown_rin_is_rin_not_found_naming_the_rin(midas: MidasClient) -> None:
    with pytest.raises(RinNotFound) as caught:
        midas.prices("USCA-ZZZZ-0000-0000")
    error = caught.value
    assert "USCA-ZZZZ-0000-0000" in str(error) and error.rin == "USCA-ZZZZ-0000-0000"
    assert error.status == 404 and error.code == "midas_rin_not_found"
    assert isinstance(error, MidasError) and isinstance(error, EspiError)
    with pytest.raises(RinNotFound, match="USCA-ZZZZ-0000-0000"):
        midas.historical("USCA-ZZZZ-0000-0000", date(2026, 1, 1), date(2026, 1, 2))


def test_a_404_page_that_is_not_midas_is_no_rin_not_found(fake: Fake) -> None:
    """A wrong base URL gives the web server's own 404 page, not MIDAS's JSON ``detail``."""
    with MidasClient(fake.url + "/wrong") as client, pytest.raises(MidasError) as caught:
        client.prices(MOER)
    assert not isinstance(caught.value, RinNotFound) and caught.value.status == 404
    assert "base URL" in str(caught.value)


def test_prices_refuses_bad_arguments_before_asking(midas: MidasClient, fake: Fake) -> None:
    with pytest.raises(ValueError, match="realtime"):
        midas.prices(MOER, query="everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a RIN"):
        midas.prices("USCA-PGPG-0100-0000&ID=other")
    with pytest.raises(ValueError, match="before it starts"):
        midas.historical(MOER, date(2026, 2, 1), date(2026, 1, 1))
    assert fake.calls() == []


def test_lookup_table_unit(midas: MidasClient) -> None:
    table = midas.lookup_table("Unit")
    assert {"UploadCode": "Event", "Description": "Boolean: 0=no, 1=yes"}.items() <= table[
        2
    ].items()
    assert table[1] == {"UploadCode": "\u00a2/kWh", "Description": "Cents per Kilowatt-hour"}
    with pytest.raises(MidasError) as caught:
        midas.lookup_table("Nope")
    assert caught.value.status == 404 and not isinstance(caught.value, RinNotFound)


# ---- failures and retries ------------------------------------------------------------------
def test_429_waits_as_retry_after_says_then_succeeds(fake: Fake) -> None:
    fake.fail(MOER, 429)
    with MidasClient(fake.url) as client:
        began = time.monotonic()
        schedule = client.prices(MOER)
        waited = time.monotonic() - began
    assert len(schedule.intervals) == 4
    assert waited >= 1.0  # Retry-After: 1
    assert len(fake.calls("/api/valuedata")) == 2


def test_429_forever_raises_rate_limited_with_retry_after(fake: Fake) -> None:
    fake.fail(MOER, *[429] * 5)
    with MidasClient(fake.url, max_retries=1) as client, pytest.raises(MidasRateLimited) as caught:
        client.prices(MOER)
    assert caught.value.retry_after == 1.0 and caught.value.status == 429
    assert caught.value.code == "midas_rate_limited"
    assert len(fake.calls()) == 2  # one retry


def test_429_asking_longer_than_max_wait_raises_at_once(fake: Fake) -> None:
    fake.fail(MOER, 429)
    fake.app.config["MIDAS_RETRY_AFTER"] = 120
    with MidasClient(fake.url) as client, pytest.raises(MidasRateLimited) as caught:
        began = time.monotonic()
        client.prices(MOER)
    assert time.monotonic() - began < 1 and caught.value.retry_after == 120
    assert len(fake.calls()) == 1


def test_503_is_retried_then_unavailable(fake: Fake) -> None:
    fake.fail(MOER, 503, 503, 503)
    with MidasClient(fake.url, backoff=0.01) as client:
        with pytest.raises(MidasUnavailable) as caught:
            client.prices(MOER)
        assert caught.value.status == 503 and "3 attempt" in str(caught.value)
        assert len(fake.calls()) == 3  # max_retries=2
        fake.fail(MOER, 502)
        assert len(client.prices(MOER).intervals) == 4  # a passing failure is retried


def test_closed_port_is_unavailable_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with MidasClient(f"http://127.0.0.1:{port}", backoff=0.05) as client:
        began = time.monotonic()
        with pytest.raises(MidasUnavailable) as caught:
            client.rin_list()
    assert time.monotonic() - began < 2
    assert not isinstance(caught.value, requests.RequestException)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert "3 attempt" in str(caught.value)


def test_malformed_json_is_a_response_error(fake: Fake, midas: MidasClient) -> None:
    fake.fail(MOER, "malformed")
    with pytest.raises(MidasResponseError) as caught:
        midas.prices(MOER)
    assert caught.value.field == "body" and "not JSON" in str(caught.value)
    assert caught.value.code == "midas_bad_response"


def test_a_session_given_is_used_and_left_open(fake: Fake) -> None:
    with requests.Session() as session:
        with MidasClient(fake.url, session=session) as client:
            client.lookup_table("Unit")
        assert session.get(fake.url + "/api/valuedata?LookupTable=Unit", timeout=5).ok


# ---- historical data -----------------------------------------------------------------------
def test_historical_splits_long_ranges_and_merges(midas: MidasClient, fake: Fake) -> None:
    schedule = midas.historical(E_TOU_C, date(2025, 11, 15), date(2026, 6, 20))
    assert fake.calls("/api/historicaldata") == [
        (f"/api/historicaldata/{E_TOU_C}", {"startdate": "2025-11-15", "enddate": "2026-05-14"}),
        (f"/api/historicaldata/{E_TOU_C}", {"startdate": "2026-05-15", "enddate": "2026-06-20"}),
    ]
    intervals = schedule.intervals
    assert intervals[0].start == datetime(2025, 11, 15, tzinfo=PACIFIC)
    assert intervals[-1].end == datetime(2026, 6, 21, tzinfo=PACIFIC)
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:], strict=False))
    hours = (intervals[-1].end - intervals[0].start) / timedelta(hours=1)
    assert len(intervals) == hours  # one per hour, DST days included, nothing twice


def test_historical_of_a_replayed_rin_filters_by_date(midas: MidasClient) -> None:
    assert len(midas.historical(MOER, date(2026, 6, 22), date(2026, 6, 22)).intervals) == 4
    assert midas.historical(MOER, date(2026, 1, 1), date(2026, 1, 31)).intervals == []


# ---- the demo's synthesized schedules ------------------------------------------------------
def peak_hours(schedule: RateSchedule, price: float) -> list[PriceInterval]:
    return [i for i in schedule.intervals if i.value == price]


@pytest.mark.parametrize(
    ("today", "price", "peak_start", "peak_end"),
    [
        # summer (PDT, UTC-7): 16:00-21:00 Pacific is 23:00-04:00 UTC
        (date(2026, 7, 15), 0.56, utc(2026, 7, 15, 23), utc(2026, 7, 16, 4)),
        # winter (PST, UTC-8): 16:00-21:00 Pacific is 00:00-05:00 UTC the next day
        (date(2026, 1, 14), 0.45, utc(2026, 1, 15, 0), utc(2026, 1, 15, 5)),
    ],
)
def test_demo_e_tou_c_peak_is_4_to_9_pm_pacific_in_utc(
    start_fake: Callable[..., Fake],
    today: date,
    price: float,
    peak_start: datetime,
    peak_end: datetime,
) -> None:
    noon = datetime.combine(today, datetime.min.time().replace(hour=12), PACIFIC)
    fake = start_fake(clock=lambda: noon)
    with MidasClient(fake.url) as client:
        schedule = client.prices(E_TOU_C)
    assert schedule.description is not None and SYNTHESIZED in schedule.description
    assert schedule.rate_type == "Time of use" and schedule.signal_type == "Electricity Rates"
    midnight = datetime.combine(today, datetime.min.time(), PACIFIC)
    assert schedule.intervals[0].start == midnight.astimezone(UTC)  # 00:00 Pacific today
    assert len(schedule.intervals) == 72
    peaks = peak_hours(schedule, price)
    assert len(peaks) == 15  # five hours a day, three days
    assert (peaks[0].start, peaks[4].end) == (peak_start, peak_end)
    assert all(i.name.endswith(" peak") and "off" not in i.name for i in peaks)
    assert schedule.at(peak_start - timedelta(seconds=1)).name.endswith("off peak")  # type: ignore[union-attr]
    bundled = next(spec for spec in TARIFFS if spec.rin == E_TOU_C)
    season = "summer" if today.month == 7 else "winter"
    assert bundled.definition["energy_prices"][season]["peak"] == price


def test_demo_schedule_on_the_spring_forward_day_has_23_hours(
    start_fake: Callable[..., Fake],
) -> None:
    fake = start_fake(clock=lambda: utc(2026, 3, 8, 20))  # Sunday 2026-03-08, DST starts
    with MidasClient(fake.url) as client:
        schedule = client.prices("USCA-XXPE-0440-0000")  # PCE generation, delivery-less RIN
        delivery = client.prices("USCA-PGXX-0100-0000")
    intervals = schedule.intervals
    assert len(intervals) == 23 + 24 + 24
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:], strict=False))
    sunday = [i for i in intervals if i.day_start == 7]
    assert len(sunday) == 23
    assert sunday[0].start == utc(2026, 3, 8, 8)  # 00:00 PST
    assert sunday[2].start == utc(2026, 3, 8, 10)  # 03:00 PDT: 02:00 never happened
    peaks = peak_hours(schedule, 0.12)  # PCE ECOplus E-TOU-C winter peak
    assert (peaks[0].start, peaks[4].end) == (utc(2026, 3, 8, 23), utc(2026, 3, 9, 4))
    assert delivery.intervals[0].value == 0.31  # winter off-peak, delivery only
