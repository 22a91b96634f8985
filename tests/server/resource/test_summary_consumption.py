"""``overallConsumptionLastPeriod`` derived from the interval readings when the billing
system stored none (server/resource/summary_consumption.py; GBA certification rule D081).

The resource world's February summary of alice's electric point (us_feb) has no stored
consumption and, at first, no readings in its billing period: the element is omitted (not
0).  With hourly readings over the whole period it carries their sum in Wh; with one hour
missing it is omitted again (a partial sum would understate).  The January summary keeps
the billing system's own figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from espi_sst_server.resource.summary_consumption import derived_consumption_wh
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import delete_readings, write_readings
from espi_sst_server.storage.models import MeterReading, UsageSummary
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select

if TYPE_CHECKING:
    from resource_world import World

BASE = "/espi/1_1/resource"
NS = {"espi": "http://naesb.org/espi"}
FEB_START = 1_706_774_400  # 2024-02-01T00:00-08:00, us_feb's billing period
FEB_HOURS = 29 * 24


def served_consumption(client: FlaskClient, world: World, summary: str) -> str | None:
    """The served UsageSummary's overallConsumptionLastPeriod/value (None: no element)."""
    answer = client.get(
        f"{BASE}/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/UsageSummary/{summary}",
        headers={"Authorization": "Bearer tok-a"},
    )
    assert answer.status_code == 200, answer.data
    root = etree.fromstring(answer.data)
    found = root.find(".//espi:overallConsumptionLastPeriod", NS)
    return None if found is None else found.findtext("espi:value", namespaces=NS)


def add_february(app: Flask, world: World, *, value: int, skip_hour: int | None = None) -> None:
    with app.app_context():
        reading = db.session.scalar(select(MeterReading).where(MeterReading.uuid == world.mr_a1))
        assert reading is not None
        write_readings(
            db.session,
            reading.id,
            [
                (FEB_START + 3_600 * hour, 3_600, value, None, None)
                for hour in range(FEB_HOURS)
                if hour != skip_hour
            ],
        )
        db.session.commit()


def derived(app: Flask, uuid: str) -> int | None:
    with app.app_context():
        summary = db.session.scalar(select(UsageSummary).where(UsageSummary.uuid == uuid))
        assert summary is not None
        return derived_consumption_wh(db.session, summary)


def test_no_readings_in_the_period_omit_the_element(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert derived(app, world.us_feb) is None
    assert served_consumption(client, world, world.us_feb) is None  # omitted, not 0
    assert served_consumption(client, world, world.us_jan) == "612000"  # the stored figure


def test_readings_over_the_whole_period_give_their_sum(
    app: Flask, client: FlaskClient, world: World
) -> None:
    add_february(app, world, value=250)
    assert derived(app, world.us_feb) == 250 * FEB_HOURS
    assert served_consumption(client, world, world.us_feb) == str(250 * FEB_HOURS)
    # The feed form (Batch/Subscription) carries the same figure.
    feed = client.get(
        f"{BASE}/Batch/Subscription/{world.sub_a}", headers={"Authorization": "Bearer tok-a"}
    )
    values = etree.fromstring(feed.data).xpath(
        ".//espi:UsageSummary/espi:overallConsumptionLastPeriod/espi:value/text()", namespaces=NS
    )
    assert sorted(values) == sorted(["612000", str(250 * FEB_HOURS)])


def test_a_gap_in_the_period_omits_the_element(
    app: Flask, client: FlaskClient, world: World
) -> None:
    add_february(app, world, value=250, skip_hour=100)
    assert derived(app, world.us_feb) is None
    assert served_consumption(client, world, world.us_feb) is None


def test_readings_across_the_period_boundary_are_not_counted(app: Flask, world: World) -> None:
    """A reading that starts in the period but ends after it (a day-long one at the last
    hour) is not the period's: with it in place of the last hour, the period has a gap."""
    add_february(app, world, value=250, skip_hour=FEB_HOURS - 1)
    with app.app_context():
        reading = db.session.scalar(select(MeterReading).where(MeterReading.uuid == world.mr_a1))
        assert reading is not None
        write_readings(
            db.session, reading.id, [(FEB_START + 3_600 * (FEB_HOURS - 1), 86_400, 999, None, None)]
        )
        db.session.commit()
    assert derived(app, world.us_feb) is None
    with app.app_context():
        reading = db.session.scalar(select(MeterReading).where(MeterReading.uuid == world.mr_a1))
        assert reading is not None
        last = FEB_START + 3_600 * (FEB_HOURS - 1)
        assert delete_readings(db.session, [reading.id], start=last, end=last + 1) == 1
        db.session.commit()
    assert derived(app, world.us_feb) is None  # still the gap of the last hour
