"""The streamed feeds (server/resource/atom_stream.py, feed_response.py, conditional.py):
the same document as the one-piece serialization, gzip on request, conditional GET.

On a real database (SQLite; PostgreSQL too when a test cluster runs), real rows and tokens
(resource_world.py), through Flask's test client.
"""

from __future__ import annotations

import gzip
import re
from typing import TYPE_CHECKING

import pytest
from espi_sst_server.resource import feed_response
from espi_sst_server.resource.atom_stream import BlockEntry, BlockTemplate, FeedWriter
from espi_sst_server.resource.blocks import DayBlock
from espi_sst_server.resource.build import EntryBuilder
from espi_sst_server.resource.query import FeedQuery
from espi_sst_server.resource.sst_content import SstView
from espi_sst_server.resource.subscription import subscription_entries
from espi_sst_server.resource.urls import Urls
from espi_sst_server.security import hash_secret
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import iter_reading_chunks, write_readings
from espi_sst_server.storage.models import (
    Authorization,
    MeterReading,
    Tariff,
    Token,
    UsagePoint,
)
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select, update
from werkzeug.test import TestResponse

import espi_sst
from espi_sst.errors import SerializeError
from espi_sst.model import Feed
from espi_sst.scope import Category, Scope

if TYPE_CHECKING:
    from resource_world import World

BASE = "/espi/1_1/resource"
FEED_UPDATED = re.compile(rb"<updated>[^<]*</updated>")


def get(client: FlaskClient, path: str, token: str = "tok-ab", **headers: str) -> TestResponse:
    """The response, its (streamed) body read to the end inside the request's context."""
    response = client.get(BASE + path, headers={"Authorization": f"Bearer {token}", **headers})
    response.get_data()
    return response


def one_piece(app: Flask, sid: str, body: bytes) -> bytes:
    """The Batch/Subscription as the server wrote it before streaming: the whole model,
    then ``espi_sst.serialize`` once (the feed's ``updated`` taken from ``body``)."""
    with app.test_request_context(BASE):
        authorization = db.session.scalar(
            select(Authorization).where(Authorization.subscription_uuid == sid)
        )
        assert authorization is not None
        scope = Scope.parse(authorization.scope)
        make = EntryBuilder(Urls.current(), sid, authorization.created_at)
        entries = [
            make.interval_block(item.point_uuid, item.reading_uuid, item.block)
            if isinstance(item, BlockEntry)
            else item
            for item in subscription_entries(
                db.session,
                make,
                authorization,
                FeedQuery(),
                usage=scope.allows(Category.USAGE),
                billing=scope.allows(Category.BILLING),
                sst=SstView(scope, app, db.session),
            )
        ]
        feed = make.feed(Urls.current().batch_subscription(sid), "Subscription", entries, now=0)
        whole = espi_sst.serialize(feed, pretty=False)
    updated = FEED_UPDATED.search(body)
    assert updated is not None
    return FEED_UPDATED.sub(updated.group(0), whole, count=1)


def test_streamed_batch_is_byte_identical_to_the_one_piece_document(
    app: Flask, client: FlaskClient, world: World
) -> None:
    response = client.get(
        f"{BASE}/Batch/Subscription/{world.sub_ab}", headers={"Authorization": "Bearer tok-ab"}
    )
    assert response.status_code == 200
    assert response.is_streamed and "Content-Length" not in response.headers
    body = response.get_data()
    assert body == one_piece(app, world.sub_ab, body)
    assert espi_sst.validate(body, profile="official") == []


def test_a_feed_written_after_the_view_returned_with_sst_entries_is_equivalent(
    app: Flask, client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small writes, so most of the body is produced after the view returned, through the
    stream's own session; a RIN grant puts SST elements in the summaries, which the stream
    declares on their entry: the document is XML-equivalent to the one-piece one.  (The
    gateway test, test_nginx_gateway.py, is where a feed over 64 KiB once broke when the
    stream used the request's session.)"""
    monkeypatch.setattr(feed_response, "WRITE_SIZE", 256)
    with app.app_context():  # a grant that releases RINs: the summaries read their point's rates
        grant = db.session.scalar(
            select(Authorization).where(Authorization.subscription_uuid == world.sub_ab)
        )
        assert grant is not None
        rate = Tariff(
            code="E-TOU-C", name="Time of use", rin="USCA-PGPG-0100-0000", role="bundled", lse="PGE"
        )
        for point in db.session.scalars(
            select(UsagePoint).where(UsagePoint.uuid.in_([world.up_a1, world.up_a2]))
        ):
            point.tariff = rate  # read for the second point after the view has returned
        rin_scope = world.full_scope + " sst:rin"
        grant.scope = rin_scope
        db.session.add(
            Token(
                family="family-rin",
                client_id="asp-b",
                authorization=grant,
                access_token_hash=hash_secret("tok-ab-rin"),
                scope=rin_scope,
                issued_at=1,
                access_expires_at=2**40,
            )
        )
        db.session.commit()
    response = client.get(
        f"{BASE}/Batch/Subscription/{world.sub_ab}", headers={"Authorization": "Bearer tok-ab-rin"}
    )
    body = response.get_data()
    assert b"<sst:" in body  # the RIN elements: the SST namespace is declared on their entry
    assert canonical(body) == canonical(one_piece(app, world.sub_ab, body))


def canonical(document: bytes) -> bytes:
    """Exclusive XML canonicalization: namespace declarations where they are used, so two
    equivalent documents that declare them in different places compare equal."""
    return etree.tostring(etree.fromstring(document), method="c14n", exclusive=True)


@pytest.mark.parametrize(
    "reading",
    [
        (0, 900, 0, None, None),
        (1_700_000_000, 3_600, -5, 12, 8),  # negative value (export), cost and quality
        (1_700_000_000, 3_600, 2**47, -(2**47), 0),  # Int48's ends (espi.xsd: inclusive)
        (1_700_000_000, 0, 1, None, 19),
    ],
)
def test_block_template_writes_what_the_checked_writer_writes(
    reading: tuple[int, int, int, int | None, int | None],
) -> None:
    make = EntryBuilder(Urls("https://h.example/a&b/espi/1_1/resource"), "s<1>", 100)
    block = DayBlock(1_699_948_800, 1_700_035_200, [reading, reading])
    entry = make.interval_block("p", "m", block)
    expected = espi_sst.serialize(entry, pretty=False).split(b"?>\n", 1)[1]
    expected = expected.replace(b' xmlns="http://www.w3.org/2005/Atom"', b"", 1)
    expected = expected.replace(b' xmlns:espi="http://naesb.org/espi"', b"", 1)
    rendered = BlockTemplate(make, "p", "m").render(block)
    assert rendered is not None and rendered.encode() == expected


@pytest.mark.parametrize(
    "reading",
    [(0, 900, 2**47 + 1, None, None), (0, 900, 1, None, 70_000), (0, -1, 1, None, None)],
)
def test_a_value_the_schema_refuses_is_refused_by_the_checked_writer(
    reading: tuple[int, int, int, int | None, int | None],
) -> None:
    make = EntryBuilder(Urls("https://h.example/espi/1_1/resource"), "s", 100)
    block = DayBlock(0, 86_400, [reading])
    assert BlockTemplate(make, "p", "m").render(block) is None
    with pytest.raises(SerializeError, match="cannot write schema-valid ESPI XML"):
        FeedWriter().item(BlockEntry(make, "p", "m", block))


def test_readings_come_in_bounded_chunks_in_start_order(app: Flask, world: World) -> None:
    with app.app_context():
        reading_id = db.session.scalar(
            select(MeterReading.id).where(MeterReading.uuid == world.mr_a1)
        )
        assert reading_id is not None
        whole = [r for chunk in iter_reading_chunks(db.session, reading_id) for r in chunk]
        chunks = list(iter_reading_chunks(db.session, reading_id, chunk_size=10))
        low, high = world.local_midnights[1], world.local_midnights[3]
        ranged = [
            r
            for c in iter_reading_chunks(db.session, reading_id, low, high, chunk_size=7)
            for r in c
        ]
    assert len(whole) == 119 and [r[0] for r in whole] == sorted(r[0] for r in whole)
    assert [len(c) for c in chunks] == [10] * 11 + [9]
    assert [tuple(r) for c in chunks for r in c] == [tuple(r) for r in whole]
    assert [tuple(r) for r in ranged] == [tuple(r) for r in whole if low <= r[0] < high]


@pytest.mark.parametrize(
    "path",
    [
        "/Batch/Subscription/{sub}",
        "/Subscription/{sub}",
        "/Subscription/{sub}/UsagePoint/{up}/MeterReading/{mr}/IntervalBlock",
    ],
)
def test_gzip_on_request_round_trips(client: FlaskClient, world: World, path: str) -> None:
    url = path.format(sub=world.sub_ab, up=world.up_a1, mr=world.mr_a1)
    plain = get(client, url)
    packed = get(client, url, **{"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert plain.headers["Vary"] == packed.headers["Vary"] == "Accept-Encoding"
    unpacked = gzip.decompress(packed.get_data())
    assert FEED_UPDATED.sub(b"", unpacked, 1) == FEED_UPDATED.sub(b"", plain.get_data(), 1)
    assert len(packed.get_data()) * 5 < len(unpacked)
    refused = get(client, url, **{"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers


def test_bulk_is_streamed_and_gzipped(client: FlaskClient, world: World) -> None:
    from espi_sst_server.lifecycle.bulk import bulk_id  # noqa: PLC0415

    with client.application.app_context():
        from espi_sst_server.storage.models import Application  # noqa: PLC0415

        app_row = db.session.scalar(select(Application).where(Application.uuid == world.app_b))
        assert app_row is not None
        bid = bulk_id(app_row)
    response = client.get(
        f"{BASE}/Batch/Bulk/{bid}",
        headers={"Authorization": "Bearer tok-client-b", "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 200 and response.is_streamed
    body = gzip.decompress(response.get_data())
    assert espi_sst.validate(body, profile="official") == []
    assert espi_sst.parse(body).resource_counts()["IntervalBlock"] >= 5


@pytest.fixture(autouse=True)
def _no_bulk_limit(app: Flask) -> None:
    """These tests ask for a feed many times a second (the bulk limit is not the subject)."""
    app.config["RESOURCE_BULK_RATE_LIMIT"] = ""


def _etag_round(client: FlaskClient, url: str, token: str = "tok-ab") -> str:
    first = get(client, url, token)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = get(client, url, token, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    return etag


@pytest.mark.parametrize(
    "path",
    [
        "/Batch/Subscription/{sub}",
        "/Subscription/{sub}/UsagePoint/{up}/MeterReading/{mr}/IntervalBlock",
    ],
)
def test_unchanged_feed_is_304_new_readings_give_200(
    app: Flask, client: FlaskClient, world: World, path: str
) -> None:
    url = path.format(sub=world.sub_ab, up=world.up_a1, mr=world.mr_a1)
    etag = _etag_round(client, url)
    assert get(client, url + "?max-results=3", **{"If-None-Match": etag}).status_code == 200
    with app.app_context():
        reading_id = db.session.scalar(
            select(MeterReading.id).where(MeterReading.uuid == world.mr_a1)
        )
        assert reading_id is not None
        # (start, duration, value, cost, quality): storage/interval_data.py's reading
        write_readings(db.session, reading_id, [(world.readings_end, 3_600, 1, None, None)])
        db.session.commit()
    changed = get(client, url, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    _etag_round(client, url)
    with app.app_context():  # a corrected value, same count and times
        write_readings(db.session, reading_id, [(world.readings_end, 3_600, 2, None, None)])
        db.session.commit()
    corrected = get(client, url, **{"If-None-Match": changed.headers["ETag"]})
    assert corrected.status_code == 200


def test_scope_change_gives_200_and_a_revoked_token_401_never_304(
    app: Flask, client: FlaskClient, world: World
) -> None:
    url = f"/Batch/Subscription/{world.sub_a}"
    etag = _etag_round(client, url, "tok-a")
    narrower = get(client, url, "tok-a-usage", **{"If-None-Match": etag})
    assert narrower.status_code == 200 and narrower.headers["ETag"] != etag
    with app.app_context():
        db.session.execute(
            update(Authorization)
            .where(Authorization.subscription_uuid == world.sub_a)
            .values(scope="FB=4_5;IntervalDuration=3600 usage")
        )
        db.session.commit()
    assert get(client, url, "tok-a", **{"If-None-Match": etag}).status_code == 200
    etag = _etag_round(client, url, "tok-a")
    with app.app_context():
        db.session.execute(update(Token).values(revoked_at=1))
        db.session.commit()
    revoked = get(client, url, "tok-a", **{"If-None-Match": etag})
    assert revoked.status_code == 401
    assert get(client, url, "tok-a", **{"If-None-Match": "*"}).status_code == 401


def test_streamed_feed_is_the_same_document_whole(client: FlaskClient, world: World) -> None:
    """The feed as a Feed: what ``espi_sst.parse`` reads from it matches the model."""
    body = get(client, f"/Batch/Subscription/{world.sub_ab}").get_data()
    doc = espi_sst.parse(body)
    assert isinstance(doc.feed, Feed)
    assert doc.resource_counts()["IntervalBlock"] == 5 + 3


# ---- Batch/Bulk: conditional GET (ESPI FB 35) ------------------------------------------------


def _bulk_url(app: Flask, world: World) -> str:
    from espi_sst_server.lifecycle.bulk import bulk_id  # noqa: PLC0415
    from espi_sst_server.storage.models import Application  # noqa: PLC0415

    with app.app_context():
        app_row = db.session.scalar(select(Application).where(Application.uuid == world.app_b))
        assert app_row is not None
        return f"/Batch/Bulk/{bulk_id(app_row)}"


def _add_reading(app: Flask, reading_uuid: str, start: int, value: int) -> None:
    with app.app_context():
        reading_id = db.session.scalar(
            select(MeterReading.id).where(MeterReading.uuid == reading_uuid)
        )
        assert reading_id is not None
        write_readings(db.session, reading_id, [(start, 3_600, value, None, None)])
        db.session.commit()


def test_bulk_unchanged_is_304_a_new_reading_or_a_revoked_grant_gives_a_new_tag(
    app: Flask, client: FlaskClient, world: World
) -> None:
    url = _bulk_url(app, world)
    etag = _etag_round(client, url, "tok-client-b")
    first = get(client, url, "tok-client-b")
    assert first.headers["Cache-Control"] == "private, no-cache"
    # one new reading for one of the bulk's usage points (up_b1, grant auth_b)
    _add_reading(app, world.mr_b1, world.readings_end, 5)
    changed = get(client, url, "tok-client-b", **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"<espi:value>5</espi:value>" in changed.get_data()
    etag = _etag_round(client, url, "tok-client-b")
    with app.app_context():  # the customer revokes auth_ab: it leaves the bulk
        db.session.execute(
            update(Authorization)
            .where(Authorization.subscription_uuid == world.sub_ab)
            .values(status=0, revoked_at=1)
        )
        db.session.commit()
    smaller = get(client, url, "tok-client-b", **{"If-None-Match": etag})
    assert smaller.status_code == 200 and smaller.headers["ETag"] != etag
    assert world.up_a1.encode() not in smaller.get_data()
    _etag_round(client, url, "tok-client-b")


# ---- the tag covers the rows rendered, not only their ids ------------------------------------


FEEDS = [
    "/Batch/Subscription/{sub}",
    "/Subscription/{sub}/UsagePoint/{up}/MeterReading/{mr}/IntervalBlock",
    "BULK",
]


def _feed_url(app: Flask, world: World, path: str) -> str:
    if path == "BULK":
        return _bulk_url(app, world)
    return path.format(sub=world.sub_ab, up=world.up_a1, mr=world.mr_a1)


def _token(path: str) -> str:
    return "tok-client-b" if path == "BULK" else "tok-ab"


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (FEEDS[0], "reading_type"),
        (FEEDS[0], "local_time"),
        (FEEDS[0], "usage_point"),
        (FEEDS[0], "usage_summary"),
        (FEEDS[1], "local_time"),
        (FEEDS[2], "reading_type"),
        (FEEDS[2], "local_time"),
        (FEEDS[2], "usage_summary"),
    ],
)
def test_a_changed_row_the_feed_renders_gives_a_new_tag(
    app: Flask, client: FlaskClient, world: World, path: str, change: str
) -> None:
    from espi_sst_server.storage.models import (  # noqa: PLC0415
        LocalTimeParameters,
        ReadingType,
        UsageSummary,
    )

    url = _feed_url(app, world, path)
    token = _token(path)
    etag = _etag_round(client, url, token)
    table, where, values = {
        "reading_type": (ReadingType, ReadingType.uuid == world.rt_kwh, {"power_of_ten_multiplier": 3}),
        "local_time": (LocalTimeParameters, LocalTimeParameters.uuid == world.ltp_pacific, {"dst_offset": 1_800}),
        "usage_point": (UsagePoint, UsagePoint.uuid == world.up_a1, {"service_agreement": "SA-new"}),
        "usage_summary": (UsageSummary, UsageSummary.uuid == world.us_jan, {"read_cycle": "16"}),
    }[change]  # fmt: skip
    with app.app_context():
        db.session.execute(update(table).where(where).values(**values))
        db.session.commit()
    changed = get(client, url, token, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    if change == "reading_type":
        assert b"<espi:powerOfTenMultiplier>3</espi:powerOfTenMultiplier>" in changed.get_data()
    if change == "local_time" and path != FEEDS[1]:
        assert b"<espi:dstOffset>1800</espi:dstOffset>" in changed.get_data()
    _etag_round(client, url, token)


def test_a_tariff_named_by_a_summarys_rin_is_in_the_tag(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context():
        rate = Tariff(
            code="E-TOU-C", name="Time of use", rin="USCA-PGPG-0100-0000", role="bundled", lse="PGE"
        )
        point = db.session.scalar(select(UsagePoint).where(UsagePoint.uuid == world.up_a1))
        assert point is not None
        point.tariff = rate
        db.session.commit()
    url = f"/Batch/Subscription/{world.sub_ab}"
    etag = _etag_round(client, url)
    with app.app_context():
        db.session.execute(update(Tariff).values(rin="USCA-PGPG-0200-0000"))
        db.session.commit()
    changed = get(client, url, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


# ---- a 304 is not charged to the bulk-feed limit (server/limits/resources.py) ----------------


@pytest.mark.parametrize("path", [FEEDS[0], FEEDS[2]])
def test_polling_with_the_tag_beyond_the_bulk_limit_keeps_getting_304s(
    app: Flask, client: FlaskClient, world: World, path: str
) -> None:
    app.config["RESOURCE_RATE_LIMIT"] = "1000 per minute"
    app.config["RESOURCE_BULK_RATE_LIMIT"] = "2 per minute"
    url = _feed_url(app, world, path)
    token = _token(path)
    first = get(client, url, token)  # 1 of 2
    assert first.status_code == 200
    etag = first.headers["ETag"]
    polls = [get(client, url, token, **{"If-None-Match": etag}).status_code for _ in range(10)]
    assert polls == [304] * 10
    assert get(client, url, token).status_code == 200  # 2 of 2: the 304s took nothing
    refused = get(client, url, token)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # over the bulk limit: an unchanged feed is still 304, a stale tag costs a body: 429
    assert get(client, url, token, **{"If-None-Match": etag}).status_code == 304
    assert get(client, url, token, **{"If-None-Match": 'W/"stale"'}).status_code == 429
    # the general limit still counts every request, 304s included
    app.config["RESOURCE_RATE_LIMIT"] = "3 per minute"
    answers = [get(client, url, token, **{"If-None-Match": etag}).status_code for _ in range(4)]
    assert answers == [304, 304, 304, 429]
