"""The ESPI resource API (server/resource) through Flask's test client, on a real database
(SQLite; PostgreSQL too when a test cluster runs).

Every 200 body must validate against the official ESPI 4.0 schemas and parse with
espi_sst into the expected resources and link graph; every error must be JSON with the
right status.  Data and tokens are real rows (conftest.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from espi_sst_server.security import hash_secret
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import readings_between
from espi_sst_server.storage.models import Application, MeterReading, Token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text
from werkzeug.test import TestResponse

import espi_sst
from espi_sst.model import (
    ApplicationInformation,
    Authorization,
    IntervalBlock,
    LocalTimeParameters,
    ReadingType,
    ServiceStatus,
    UsagePoint,
    UsageSummary,
)

if TYPE_CHECKING:
    from resource_world import World  # the fixture's type, for readers and checkers only

BASE = "/espi/1_1/resource"
DAY_LENGTHS = [24, 24, 23, 24, 24]  # hourly readings per local day; Mar 10 lost an hour to DST


def get(client: FlaskClient, path: str, token: str | None = "tok-a", **params: str) -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(BASE + path, headers=headers, query_string=params)


def atom_ok(response: TestResponse) -> espi_sst.Document:
    """A 200 Atom response, schema-valid, parsed."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/atom+xml"
    assert espi_sst.validate(response.data, profile="official") == []
    return espi_sst.parse(response.data)


def json_error(response: TestResponse, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["error"] == error
    assert body["error_description"]
    return dict(body)


def db_readings(
    app: Flask, meter_reading_uuid: str, low: int = 0, high: int = 2**40
) -> list[tuple[Any, ...]]:
    with app.app_context():
        reading = db.session.scalar(
            select(MeterReading.id).where(MeterReading.uuid == meter_reading_uuid)
        )
        rows = [] if reading is None else readings_between(db.session, reading, low, high)
    return [tuple(r) for r in rows]


def doc_readings(doc: espi_sst.Document) -> list[tuple[Any, ...]]:
    return [(r.start, r.duration, r.value, r.cost, r.quality) for r in doc.interval_readings()]


def feed_self(doc: espi_sst.Document) -> str | None:
    assert doc.feed is not None
    return next((link.href for link in doc.feed.links if link.rel == "self"), None)


def block_starts(doc: espi_sst.Document) -> list[int]:
    return [b.interval.start for b in doc.resources(IntervalBlock)]


# ---- the subscription feed ----------------------------------------------------------------


def test_batch_subscription_round_trips_the_stored_readings(
    app: Flask, client: FlaskClient, world: World
) -> None:
    doc = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}"))
    assert doc.resource_counts() == {
        "UsagePoint": 1,
        "LocalTimeParameters": 1,
        "MeterReading": 1,
        "ReadingType": 1,
        "IntervalBlock": 5,
        "UsageSummary": 2,
    }
    [point] = doc.usage_points
    assert point.id == f"urn:uuid:{world.up_a1}"
    [reading] = doc.meter_readings(point)
    reading_type = doc.reading_type(reading)
    assert (
        reading_type is not None and reading_type.uom == 72 and reading_type.interval_length == 3600
    )
    assert len(doc.interval_blocks(reading)) == 5
    local_time = doc.local_time_parameters(point)
    assert local_time is not None and local_time.tz_offset == -28_800
    assert {e.id for e in doc.usage_summaries(point)} == {
        f"urn:uuid:{world.us_jan}",
        f"urn:uuid:{world.us_feb}",
    }
    assert doc_readings(doc) == db_readings(app, world.mr_a1)
    assert {r.context.usage_point for r in doc.interval_readings()} == {point.self_href}
    assert {r.unit for r in doc.interval_readings()} == {"Wh"}


def test_batch_feed_follows_the_gba_shape(client: FlaskClient, world: World) -> None:
    response = get(client, f"/Batch/Subscription/{world.sub_a}")
    doc = atom_ok(response)
    assert doc.feed is not None and doc.feed.id is not None and doc.feed.id.startswith("urn:uuid:")
    [feed_self] = doc.feed.links
    assert (feed_self.rel, feed_self.type) == ("self", "espi-feed/Subscription")
    assert feed_self.href == f"http://localhost{BASE}/Batch/Subscription/{world.sub_a}"
    for entry in doc.entries:
        assert entry.id is not None and entry.id.startswith("urn:uuid:")
        assert entry.published is not None and entry.updated is not None
        kinds = {(link.rel, link.type) for link in entry.links}
        name = type(entry.content).__name__
        assert ("self", f"espi-entry/{name}") in kinds
        assert ("up", f"espi-feed/{name}") in kinds
        assert all(link.href.startswith(f"http://localhost{BASE}/") for link in entry.links)
    # A customer's data: never in a shared cache; the ASP may keep it and revalidate (ETag).
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_subscription_serves_the_same_entries_as_the_batch(
    client: FlaskClient, world: World
) -> None:
    batch = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}"))
    subscription = atom_ok(get(client, f"/Subscription/{world.sub_a}"))
    assert subscription.entries == batch.entries
    assert subscription.feed is not None and subscription.feed.links[0].href.endswith(
        f"{BASE}/Subscription/{world.sub_a}"
    )


def test_batch_of_another_asp_holds_both_shared_points(client: FlaskClient, world: World) -> None:
    doc = atom_ok(get(client, f"/Batch/Subscription/{world.sub_ab}", token="tok-ab"))
    assert [e.id for e in doc.usage_points] == [
        f"urn:uuid:{world.up_a1}",
        f"urn:uuid:{world.up_a2}",
    ]
    gas_point = doc.usage_points[1]
    assert (
        doc.local_time_parameters(gas_point) is None or len(doc.resources(LocalTimeParameters)) == 1
    )
    [gas] = doc.meter_readings(gas_point)
    assert doc.reading_type(gas) is not None and doc.reading_type(gas).uom == 169  # type: ignore[union-attr]
    assert len(doc.interval_blocks(gas)) == 3  # UTC days: that point has no LocalTimeParameters


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (
            "tok-a-usage",
            {"UsagePoint", "LocalTimeParameters", "MeterReading", "ReadingType", "IntervalBlock"},
        ),
        ("tok-a-billing", {"UsageSummary"}),
    ],
)
def test_batch_holds_what_the_scope_allows(
    client: FlaskClient, world: World, token: str, expected: set[str]
) -> None:
    doc = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}", token=token))
    assert set(doc.resource_counts()) == expected


def test_batch_without_usage_or_billing_is_insufficient_scope(
    client: FlaskClient, world: World
) -> None:
    response = get(client, f"/Batch/Subscription/{world.sub_a}", token="tok-a-basic")
    json_error(response, 403, "insufficient_scope")
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')


# ---- usage points, meter readings, shared resources --------------------------------------


def test_usage_point_feed_and_entry(client: FlaskClient, world: World) -> None:
    feed = atom_ok(get(client, f"/Subscription/{world.sub_a}/UsagePoint"))
    assert [e.id for e in feed.entries] == [f"urn:uuid:{world.up_a1}"]
    doc = atom_ok(get(client, f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}"))
    [entry] = doc.entries
    assert isinstance(entry.content, UsagePoint)
    assert entry.content.service_category is not None and entry.content.service_category.kind == 0
    point = f"http://localhost{BASE}/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}"
    assert entry.self_href == point
    assert entry.up_href == f"http://localhost{BASE}/Subscription/{world.sub_a}/UsagePoint"
    assert entry.related_hrefs == [
        f"{point}/MeterReading",
        f"{point}/UsageSummary",
        f"{point}/ElectricPowerQualitySummary",
        f"http://localhost{BASE}/LocalTimeParameters/{world.ltp_pacific}",
    ]
    assert entry == feed.entries[0]


def test_meter_reading_feed_and_entry(client: FlaskClient, world: World) -> None:
    point = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}"
    feed = atom_ok(get(client, f"{point}/MeterReading"))
    assert [e.id for e in feed.entries] == [f"urn:uuid:{world.mr_a1}"]
    [entry] = atom_ok(get(client, f"{point}/MeterReading/{world.mr_a1}")).entries
    absolute = f"http://localhost{BASE}{point}"
    assert entry.up_href == f"{absolute}/MeterReading"
    assert entry.related_hrefs == [
        absolute,
        f"{absolute}/MeterReading/{world.mr_a1}/IntervalBlock",
        f"http://localhost{BASE}/ReadingType/{world.rt_kwh}",
    ]


def test_reading_type_and_local_time_parameters(client: FlaskClient, world: World) -> None:
    [rt] = atom_ok(get(client, f"/ReadingType/{world.rt_kwh}")).entries
    assert isinstance(rt.content, ReadingType)
    assert (rt.content.kind, rt.content.commodity, rt.content.currency) == (12, 1, 840)
    assert rt.up_href == f"http://localhost{BASE}/ReadingType"
    [ltp] = atom_ok(get(client, f"/LocalTimeParameters/{world.ltp_pacific}")).entries
    assert isinstance(ltp.content, LocalTimeParameters)
    assert (ltp.content.dst_start_rule, ltp.content.dst_end_rule) == ("360E2000", "B40E2000")
    # The collections hold only what the grant's usage points use.
    assert [e.id for e in atom_ok(get(client, "/ReadingType")).entries] == [
        f"urn:uuid:{world.rt_kwh}"
    ]
    assert [e.id for e in atom_ok(get(client, "/LocalTimeParameters")).entries] == [
        f"urn:uuid:{world.ltp_pacific}"
    ]
    # The gas ReadingType belongs to a point shared with ASP B only.
    json_error(get(client, f"/ReadingType/{world.rt_gas}"), 404, "not_found")
    atom_ok(get(client, f"/ReadingType/{world.rt_gas}", token="tok-ab"))


# ---- interval blocks ---------------------------------------------------------------------


def test_interval_blocks_are_local_days_across_dst(client: FlaskClient, world: World) -> None:
    path = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock"
    doc = atom_ok(get(client, path))
    blocks = doc.resources(IntervalBlock)
    assert [b.interval.start for b in blocks] == list(world.local_midnights)  # type: ignore[union-attr]
    assert [len(b.interval_reading) for b in blocks] == DAY_LENGTHS
    assert [b.interval.duration for b in blocks] == [86_400, 86_400, 82_800, 86_400, 86_400]  # type: ignore[union-attr]
    assert [e.self_href for e in doc.entries] == [
        f"http://localhost{BASE}{path}/{day}" for day in world.local_midnights
    ]
    assert [int(e.published.timestamp()) for e in doc.entries] == list(world.local_midnights)  # type: ignore[union-attr]
    ends = [*world.local_midnights[1:], world.readings_end]
    assert [int(e.updated.timestamp()) for e in doc.entries] == ends  # type: ignore[union-attr]
    assert all(
        e.related_hrefs == [f"http://localhost{BASE}{path.rsplit('/', 1)[0]}"] for e in doc.entries
    )


def test_interval_block_entry_by_its_day(app: Flask, client: FlaskClient, world: World) -> None:
    path = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock"
    dst_day = world.local_midnights[2]
    doc = atom_ok(get(client, f"{path}/{dst_day}"))
    [entry] = doc.entries
    assert entry.id is not None and entry.id.startswith("urn:uuid:")
    assert doc_readings(doc) == db_readings(app, world.mr_a1, dst_day, world.local_midnights[3])
    assert len(doc_readings(doc)) == 23
    # the same id from the feed
    feed = atom_ok(get(client, path))
    assert feed.entries[2] == entry
    for missing in (
        dst_day + 3_600,
        world.local_midnights[0] - 86_400,
        "yesterday",
        "99999999999",
        "-1",
        "\u00b2",
    ):
        json_error(get(client, f"{path}/{missing}"), 404, "not_found")


@pytest.mark.parametrize(
    ("params", "days"),
    [
        (
            {
                "published-min": "2024-03-09T00:00:00-08:00",
                "published-max": "2024-03-11T00:00:00-07:00",
            },
            [1, 2],
        ),
        ({"published-min": "2024-03-09T00:00:01-08:00"}, [2, 3, 4]),
        ({"published-min": "2024-03-08T23:59:59.5-08:00"}, [1, 2, 3, 4]),
        ({"published-max": "2024-03-10T00:00:00-08:00"}, [0, 1]),
        ({"published-max": "2024-03-10T00:00:01-08:00"}, [0, 1, 2]),
        ({"published-min": "2024-03-11T07:00:00Z"}, [3, 4]),
        ({"published-min": "2024-03-11T07:00:00 00:00"}, [3, 4]),  # unencoded + read as space
        ({"published-min": "2024-03-13T07:00:00Z"}, []),
        ({"published-max": "1999-01-01T00:00:00Z"}, []),
    ],
)
def test_published_min_max_select_local_days(
    app: Flask, client: FlaskClient, world: World, params: dict[str, str], days: list[int]
) -> None:
    path = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock"
    expected = [world.local_midnights[d] for d in days]
    assert block_starts(atom_ok(get(client, path, **params))) == expected
    batch = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}", **params))
    assert block_starts(batch) == expected
    if days:
        end = (
            world.local_midnights[days[-1] + 1]
            if days[-1] + 1 < len(world.local_midnights)
            else world.readings_end
        )
        assert doc_readings(batch) == db_readings(app, world.mr_a1, expected[0], end)
    else:
        assert doc_readings(batch) == []
    # the structure stays whole, so the readings keep their context
    assert len(batch.usage_points) == 1 and len(batch.resources(ReadingType)) == 1


@pytest.mark.parametrize(
    ("params", "days"),
    [
        ({"updated-min": "2024-03-12T00:00:01-07:00"}, [4]),
        ({"updated-min": "2024-03-12T00:00:00-07:00"}, [3, 4]),
        ({"updated-max": "2024-03-10T00:00:00-08:00"}, [0]),
    ],
)
def test_updated_min_max_select_blocks_by_their_last_reading(
    client: FlaskClient, world: World, params: dict[str, str], days: list[int]
) -> None:
    path = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock"
    assert block_starts(atom_ok(get(client, path, **params))) == [
        world.local_midnights[d] for d in days
    ]


@pytest.mark.parametrize(
    ("params", "days"),
    [
        ({"max-results": "2"}, [0, 1]),
        ({"max-results": "2", "start-index": "2"}, [1, 2]),
        ({"start-index": "4"}, [3, 4]),
        ({"depth": "1", "max-results": "3"}, [0]),
        ({"start-index": "99"}, []),
    ],
)
def test_max_results_start_index_and_depth_page_the_feed(
    client: FlaskClient, world: World, params: dict[str, str], days: list[int]
) -> None:
    path = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock"
    assert block_starts(atom_ok(get(client, path, **params))) == [
        world.local_midnights[d] for d in days
    ]


def test_batch_pages_keep_parents_first(client: FlaskClient, world: World) -> None:
    doc = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}", **{"max-results": "5"}))
    assert [type(e.content).__name__ for e in doc.entries] == [
        "UsagePoint",
        "LocalTimeParameters",
        "MeterReading",
        "ReadingType",
        "IntervalBlock",
    ]
    [reading] = doc.meter_readings(doc.usage_points[0])
    assert len(doc.interval_blocks(reading)) == 1


def test_interval_readings_come_from_one_indexed_range_query(
    app: Flask, client: FlaskClient, world: World
) -> None:
    statements: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        # The stored days themselves (the ETag's fingerprint query reads them too: skipped).
        if "FROM interval_block" in statement and "'fingerprint'" not in statement:
            statements.append((statement, parameters))

    engine = app.extensions["espi_sst_db"].engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        params = {
            "published-min": "2024-03-09T00:00:00-08:00",
            "published-max": "2024-03-12T00:00:00-07:00",
        }
        atom_ok(get(client, f"/Batch/Subscription/{world.sub_ab}", token="tok-ab", **params))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 2  # one per meter reading (electricity and gas), not per reading
    with app.app_context():
        connection = db.session.connection()
        for statement, parameters in statements:
            if engine.dialect.name == "sqlite":
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plan = " ".join(str(row[-1]) for row in rows)
                assert "SEARCH interval_block USING" in plan and "INDEX" in plan, plan
                assert "start>" in plan and "start<" in plan, plan
                assert "TEMP B-TREE" not in plan, plan  # the index gives the order too
            else:  # PostgreSQL: a tiny table may be scanned; show that the index serves the range
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
                rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                plan = " ".join(str(row[0]) for row in rows)
                assert "interval_block_pkey" in plan and "start >" in plan, plan
                assert "Sort" not in plan, plan


# ---- summaries ---------------------------------------------------------------------------


def test_usage_summary_feed_and_entry(client: FlaskClient, world: World) -> None:
    point = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}"
    feed = atom_ok(get(client, f"{point}/UsageSummary"))
    assert [e.id for e in feed.entries] == [f"urn:uuid:{world.us_jan}", f"urn:uuid:{world.us_feb}"]
    [entry] = atom_ok(get(client, f"{point}/UsageSummary/{world.us_jan}")).entries
    summary = entry.content
    assert isinstance(summary, UsageSummary)
    assert summary.bill_last_period == 11_578_000 and summary.currency == 840
    assert summary.overall_consumption_last_period is not None
    assert (
        summary.overall_consumption_last_period.value,
        summary.overall_consumption_last_period.uom,
    ) == (
        612_000,
        72,
    )
    assert summary.billing_charge_source is not None
    assert summary.billing_charge_source.agency_name == "Pacific Gas and Electric"
    assert entry.related_hrefs == [f"http://localhost{BASE}{point}"]
    later = atom_ok(
        get(client, f"{point}/UsageSummary", **{"published-min": "2024-02-01T00:00:00-08:00"})
    )
    assert [e.id for e in later.entries] == [f"urn:uuid:{world.us_feb}"]


def test_usage_summary_needs_the_billing_scope(client: FlaskClient, world: World) -> None:
    point = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}"
    response = get(client, f"{point}/UsageSummary/{world.us_jan}", token="tok-a-usage")
    json_error(response, 403, "insufficient_scope")
    assert "billing" in response.headers["WWW-Authenticate"]
    atom_ok(get(client, f"{point}/UsageSummary/{world.us_jan}", token="tok-a-billing"))
    json_error(get(client, point, token="tok-a-billing"), 403, "insufficient_scope")


def test_electric_power_quality_summary_feed_is_empty(client: FlaskClient, world: World) -> None:
    path = f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/ElectricPowerQualitySummary"
    doc = atom_ok(get(client, path))
    assert (
        doc.entries == []
        and doc.feed is not None
        and doc.feed.title == "ElectricPowerQualitySummary"
    )
    json_error(get(client, f"{path}/1"), 404, "not_found")


# ---- grants, status, ASP-level -----------------------------------------------------------


def test_authorization_is_the_tokens_own(app: Flask, client: FlaskClient, world: World) -> None:
    [entry] = atom_ok(get(client, f"/Authorization/{world.auth_a}")).entries
    grant = entry.content
    assert isinstance(grant, Authorization)
    assert grant.status == 1 and grant.scope == world.full_scope and grant.token_type == "Bearer"
    assert grant.grant_type == "authorization_code"
    assert grant.resource_uri == f"http://localhost{BASE}/Batch/Subscription/{world.sub_a}"
    assert grant.authorization_uri == f"http://localhost{BASE}/Authorization/{world.auth_a}"
    assert entry.self_href == grant.authorization_uri
    assert grant.authorized_period is not None and grant.authorized_period.duration == 365 * 86_400
    with app.app_context():
        token = db.session.scalar(
            select(Token).where(Token.access_token_hash == hash_secret("tok-a"))
        )
        assert token is not None and grant.expires_at == token.access_expires_at
    # The resourceURI it names serves the subscription.
    atom_ok(client.get(grant.resource_uri, headers={"Authorization": "Bearer tok-a"}))
    json_error(get(client, f"/Authorization/{world.auth_ab}"), 404, "not_found")
    # The ASP's own client_credentials token reads it too (ESPI: how it follows the
    # BatchList naming it, lifecycle/notices.py); another ASP's finds nothing.
    [read] = atom_ok(get(client, f"/Authorization/{world.auth_a}", token="tok-client-a")).entries
    assert isinstance(read.content, Authorization)
    assert read.content.status == 1 and read.content.scope == world.full_scope
    json_error(
        get(client, f"/Authorization/{world.auth_a}", token="tok-client-b"), 404, "not_found"
    )


@pytest.mark.parametrize("token", ["tok-a", "tok-a-basic", "tok-client-a"])
def test_read_service_status_takes_any_grant(client: FlaskClient, token: str) -> None:
    doc = atom_ok(get(client, "/ReadServiceStatus", token=token))
    [status] = doc.resources()
    assert isinstance(status, ServiceStatus) and status.current_status == 1


def test_application_information_is_the_clients_own(client: FlaskClient, world: World) -> None:
    [entry] = atom_ok(
        get(client, f"/ApplicationInformation/{world.app_a}", token="tok-client-a")
    ).entries
    info = entry.content
    assert isinstance(info, ApplicationInformation)
    assert info.client_id == "asp-a" and info.data_custodian_application_status == 2
    assert not info.client_secret  # stored as a hash only: never disclosed
    assert info.data_custodian_resource_endpoint == f"http://localhost{BASE}"
    assert info.authorization_server_token_endpoint == "https://issuer.example/oauth/token"
    assert info.grant_types == ["authorization_code", "client_credentials", "refresh_token"]
    json_error(
        get(client, f"/ApplicationInformation/{world.app_b}", token="tok-client-a"),
        404,
        "not_found",
    )
    atom_ok(get(client, f"/ApplicationInformation/{world.app_b}", token="tok-client-b"))


@pytest.mark.parametrize(
    "path",
    [
        "/Batch/Subscription/{w.sub_a}",
        "/Subscription/{w.sub_a}/UsagePoint/{w.up_a1}",
        "/Subscription/{w.sub_a}/UsagePoint/{w.up_a1}/UsageSummary/{w.us_jan}",
        "/ReadingType/{w.rt_kwh}",
    ],
)
def test_client_token_reads_no_customer_resource(
    client: FlaskClient, world: World, path: str
) -> None:
    json_error(get(client, path.format(w=world), token="tok-client-a"), 403, "insufficient_scope")


@pytest.mark.parametrize("path", ["/ApplicationInformation/{w.app_a}", "/Batch/Bulk/1"])
def test_customer_token_reads_no_asp_resource(client: FlaskClient, world: World, path: str) -> None:
    json_error(get(client, path.format(w=world), token="tok-a"), 403, "insufficient_scope")


def test_authorization_collection_lists_the_asps_own_grants(
    client: FlaskClient, world: World
) -> None:
    """GBA DataCustodian / Share My Data: GET .../Authorization with the client token."""

    def grants(token: str) -> dict[str, Authorization]:
        doc = atom_ok(get(client, "/Authorization", token=token))
        assert feed_self(doc) == f"http://localhost{BASE}/Authorization"
        found = {}
        for entry in doc.entries:
            assert isinstance(entry.content, Authorization)
            found[entry.self_href] = entry.content
        return found

    def href(aid: str) -> str:
        return f"http://localhost{BASE}/Authorization/{aid}"

    asp_a = grants("tok-client-a")  # every grant of ASP A, ended ones with their status
    assert set(asp_a) == {href(world.auth_a), href(world.auth_gone)}
    assert asp_a[href(world.auth_a)].status == 1 and asp_a[href(world.auth_gone)].status == 0
    mine = asp_a[href(world.auth_a)]
    assert mine.scope == world.full_scope
    assert mine.resource_uri == f"http://localhost{BASE}/Batch/Subscription/{world.sub_a}"
    assert mine.authorization_uri == href(world.auth_a)
    assert set(grants("tok-client-b")) == {href(world.auth_ab), href(world.auth_b)}
    assert set(grants("tok-a")) == {href(world.auth_a)}  # a customer token: its own one
    assert set(grants("tok-ab")) == {href(world.auth_ab)}
    json_error(get(client, "/Authorization", token="tok-expired"), 401, "invalid_token")


def test_application_information_collection_is_the_clients_own(
    client: FlaskClient, world: World
) -> None:
    doc = atom_ok(get(client, "/ApplicationInformation", token="tok-client-b"))
    [entry] = doc.entries
    assert entry.self_href == f"http://localhost{BASE}/ApplicationInformation/{world.app_b}"
    json_error(get(client, "/ApplicationInformation", token="tok-b"), 403, "insufficient_scope")


@pytest.fixture
def unlimited(app: Flask) -> None:
    """These tests read the bulk and each subscription feed of one ASP within a second: the
    per-ASP limit on costly feeds (2 per second, tests/server/limits) is not what they test."""
    app.config["RESOURCE_BULK_RATE_LIMIT"] = ""


def bulk_href(client: FlaskClient, world: World, token: str, app_id: str) -> str:
    """The bulk URL the ASP's ApplicationInformation advertises."""
    [entry] = atom_ok(get(client, f"/ApplicationInformation/{app_id}", token=token)).entries
    assert isinstance(entry.content, ApplicationInformation)
    uri = entry.content.data_custodian_bulk_request_uri
    assert uri is not None and uri.startswith(f"http://localhost{BASE}/Batch/Bulk/")
    return uri


@pytest.mark.usefixtures("unlimited")
def test_bulk_delivers_every_active_subscription_of_the_asp(
    client: FlaskClient, world: World
) -> None:
    """ESPI FB 35: the advertised Batch/Bulk/{bulkId} serves, in one feed, what each of the
    ASP's usable grants' Batch/Subscription serves (shared resources once)."""
    uri = bulk_href(client, world, "tok-client-b", world.app_b)
    headers = {"Authorization": "Bearer tok-client-b"}
    bulk = atom_ok(client.get(uri, headers=headers))
    assert feed_self(bulk) == uri
    expected: dict[str, Any] = {}
    for sid, token in ((world.sub_ab, "tok-ab"), (world.sub_b, "tok-b")):
        one = atom_ok(get(client, f"/Batch/Subscription/{sid}", token=token))
        expected.update({e.id: e.self_href for e in one.entries})
    assert {e.id: e.self_href for e in bulk.entries} == expected
    assert len(bulk.entries) == len(expected)  # no entry twice
    assert sorted(doc_readings(bulk)) == sorted(
        doc_readings(atom_ok(get(client, f"/Batch/Subscription/{world.sub_ab}", token="tok-ab")))
        + doc_readings(atom_ok(get(client, f"/Batch/Subscription/{world.sub_b}", token="tok-b")))
    )


@pytest.mark.usefixtures("unlimited")
def test_bulk_leaves_out_ended_grants_and_other_asps(client: FlaskClient, world: World) -> None:
    uri = bulk_href(client, world, "tok-client-a", world.app_a)
    bulk = atom_ok(client.get(uri, headers={"Authorization": "Bearer tok-client-a"}))
    hrefs = [e.self_href or "" for e in bulk.entries]
    assert any(world.sub_a in h for h in hrefs)
    assert not any(world.sub_gone in h or world.sub_ab in h or world.sub_b in h for h in hrefs)
    # Another ASP's bulk id, or an unknown one, is 404 as if absent.
    other = bulk_href(client, world, "tok-client-b", world.app_b)
    assert other != uri
    json_error(
        client.get(other, headers={"Authorization": "Bearer tok-client-a"}), 404, "not_found"
    )
    json_error(get(client, "/Batch/Bulk/1", token="tok-client-a"), 404, "not_found")


@pytest.mark.usefixtures("unlimited")
def test_bulk_needs_function_block_35_in_the_registered_scope(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Bulk transfer is ESPI FB 35: an ASP registered without it gets a 403 naming FB 35 at
    its (former) bulk URL and at the bare endpoint, and its ApplicationInformation names the
    endpoint, not a bulk of its own (the schema makes the element mandatory)."""
    former = bulk_href(client, world, "tok-client-b", world.app_b)
    with app.app_context():
        row = db.session.scalar(select(Application).where(Application.client_id == "asp-b"))
        assert row is not None
        row.scope = "FB=4_5_15;IntervalDuration=3600;BlockDuration=daily;HistoryLength=13 usage"
        db.session.commit()
    for url in (former, f"http://localhost{BASE}/Batch/Bulk"):
        refused = client.get(url, headers={"Authorization": "Bearer tok-client-b"})
        json_error(refused, 403, "insufficient_scope")
        assert "function block 35" in refused.get_json()["error_description"]
    [entry] = atom_ok(
        get(client, f"/ApplicationInformation/{world.app_b}", token="tok-client-b")
    ).entries
    assert isinstance(entry.content, ApplicationInformation)
    assert entry.content.data_custodian_bulk_request_uri == f"http://localhost{BASE}/Batch/Bulk"
    # An ASP with FB 35 is told where its bulk is: the bare endpoint is not one.
    json_error(get(client, "/Batch/Bulk", token="tok-client-a"), 404, "not_found")


@pytest.mark.usefixtures("unlimited")
def test_bulk_is_bounded_by_published_min_max(client: FlaskClient, world: World) -> None:
    uri = bulk_href(client, world, "tok-client-a", world.app_a)
    day = world.local_midnights[1]
    bounds = {
        "published-min": "2024-03-09T00:00:00-08:00",
        "published-max": "2024-03-10T00:00:00-08:00",
    }
    bulk = atom_ok(
        client.get(uri, headers={"Authorization": "Bearer tok-client-a"}, query_string=bounds)
    )
    assert block_starts(bulk) == [day]
    one = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}", token="tok-a", **bounds))
    assert [e.id for e in bulk.entries] == [e.id for e in one.entries]


# ---- access: what the grant does not cover does not exist ----------------------------------


@pytest.mark.parametrize(
    ("token", "path"),
    [
        ("tok-a", "/Batch/Subscription/{w.sub_ab}"),  # same customer, ASP B's subscription
        ("tok-a", "/Subscription/{w.sub_b}"),
        ("tok-a", "/Subscription/{w.sub_b}/UsagePoint"),
        ("tok-b", "/Batch/Subscription/{w.sub_a}"),  # ASP B's token, ASP A's subscription
        ("tok-ab", "/Subscription/{w.sub_a}/UsagePoint/{w.up_a1}"),
        ("tok-a", "/Subscription/{w.sub_b}/UsagePoint/{w.up_b1}"),
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/{w.up_b1}"),  # another customer's point
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/{w.up_a2}"),  # own point, not shared
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/{w.up_a2}/MeterReading"),
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/{w.up_a1}/MeterReading/{w.mr_b1}"),
        (
            "tok-a",
            "/Subscription/{w.sub_a}/UsagePoint/{w.up_a1}/MeterReading/{w.mr_a2}/IntervalBlock",
        ),
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/{w.up_a1}/UsageSummary/{w.us_b}"),
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/{w.up_b1}/UsageSummary/{w.us_b}"),
        ("tok-b", "/LocalTimeParameters/{w.ltp_pacific}/x"),
        ("tok-a", "/LocalTimeParameters/00000000-0000-4000-8000-000000000000"),
        ("tok-a", "/Subscription/{w.sub_a}/UsagePoint/00000000-0000-4000-8000-000000000000"),
    ],
)
def test_outside_the_grant_is_not_found(
    client: FlaskClient, world: World, token: str, path: str
) -> None:
    response = get(client, path.format(w=world), token=token)
    json_error(response, 404, "not_found")
    assert b"<" not in response.data  # no XML, no data


def test_shared_rows_are_visible_only_through_a_granted_point(
    client: FlaskClient, world: World
) -> None:
    # Customer B's grant to ASP B covers a Pacific-time point: the shared row is visible...
    atom_ok(get(client, f"/LocalTimeParameters/{world.ltp_pacific}", token="tok-b"))
    # ...the gas ReadingType, used only by a point of customer A, is not.
    json_error(get(client, f"/ReadingType/{world.rt_gas}", token="tok-b"), 404, "not_found")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, "invalid_request"),
        ("Basic YXNwLWE6c2VjcmV0", "invalid_request"),
        ("Bearer not-a-token", "invalid_token"),
        ("Bearer tok-expired", "invalid_token"),
        ("Bearer tok-revoked", "invalid_token"),
        ("Bearer tok-auth-revoked", "invalid_token"),
    ],
)
def test_missing_expired_or_revoked_token_is_401(
    client: FlaskClient, world: World, header: str | None, error: str
) -> None:
    headers = {"Authorization": header} if header else {}
    for path in (
        f"/Batch/Subscription/{world.sub_a}",
        "/ReadServiceStatus",
        f"/ApplicationInformation/{world.app_a}",
    ):
        response = client.get(BASE + path, headers=headers)
        json_error(response, 401, error)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


# ---- query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "value", "form"),
    [
        ("published-min", "2024-03-01", "RFC 3339"),
        ("published-min", "2024-03-01T00:00:00", "RFC 3339"),  # no offset
        ("published-max", "yesterday", "RFC 3339"),
        ("published-max", "1709884800", "RFC 3339"),
        ("updated-min", "2024-02-30T00:00:00Z", "RFC 3339"),
        ("updated-max", "2024-03-01T25:00:00Z", "RFC 3339"),
        ("max-results", "0", "positive integer"),
        ("max-results", "-1", "positive integer"),
        ("max-results", "ten", "positive integer"),
        ("start-index", "1.5", "positive integer"),
        ("start-index", "0", "positive integer"),
        ("depth", "", "positive integer"),
        ("depth", "12345678901", "positive integer"),
    ],
)
def test_bad_query_values_are_400_naming_the_parameter(
    client: FlaskClient, world: World, parameter: str, value: str, form: str
) -> None:
    for path in (
        f"/Batch/Subscription/{world.sub_a}",
        f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock",
        f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/UsageSummary/{world.us_jan}",
    ):
        body = json_error(get(client, path, **{parameter: value}), 400, "invalid_request")
        assert body["parameter"] == parameter
        assert parameter in body["error_description"] and form in body["error_description"]


def test_inverted_or_repeated_query_values_are_400(client: FlaskClient, world: World) -> None:
    path = BASE + f"/Batch/Subscription/{world.sub_a}"
    headers = {"Authorization": "Bearer tok-a"}
    inverted = client.get(
        path,
        headers=headers,
        query_string={
            "published-min": "2024-03-02T00:00:00Z",
            "published-max": "2024-03-01T00:00:00Z",
        },
    )
    assert json_error(inverted, 400, "invalid_request")["parameter"] == "published-max"
    repeated = client.get(path + "?max-results=1&max-results=2", headers=headers)
    assert json_error(repeated, 400, "invalid_request")["parameter"] == "max-results"


# ---- URLs and routing ----------------------------------------------------------------------


def test_links_follow_the_host_the_client_used(client: FlaskClient, world: World) -> None:
    path = BASE + f"/Batch/Subscription/{world.sub_a}"
    response = client.get(
        path, headers={"Authorization": "Bearer tok-a"}, base_url="https://gateway.example:8443/"
    )
    doc = atom_ok(response)
    hrefs = [link.href for entry in doc.entries for link in entry.links]
    assert hrefs and all(h.startswith(f"https://gateway.example:8443{BASE}/") for h in hrefs)
    local = atom_ok(get(client, f"/Batch/Subscription/{world.sub_a}"))
    assert [e.id for e in doc.entries] == [
        e.id for e in local.entries
    ]  # ids do not depend on the host
    assert doc.feed is not None and local.feed is not None and doc.feed.id == local.feed.id


def test_unknown_paths_and_methods_get_json_errors(client: FlaskClient, world: World) -> None:
    headers = {"Authorization": "Bearer tok-a"}
    json_error(client.get(BASE + "/NoSuchResource", headers=headers), 404, "not_found")
    json_error(client.get(BASE + "/", headers=headers), 404, "not_found")
    response = client.post(BASE + f"/Batch/Subscription/{world.sub_a}", headers=headers)
    json_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    json_error(
        client.delete(BASE + "/ReadServiceStatus", headers=headers), 405, "method_not_allowed"
    )


def test_undisplayable_data_is_a_json_500_without_the_data(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context():
        db.session.execute(
            text("UPDATE reading_type SET uom = 99999999 WHERE uuid = :u"), {"u": world.rt_kwh}
        )
        db.session.commit()
    body = json_error(get(client, f"/ReadingType/{world.rt_kwh}"), 500, "server_error")
    assert "99999999" not in body["error_description"]
