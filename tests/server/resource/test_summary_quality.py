"""A UsageSummary's ``qualityOfReading`` from the readings behind its billing period
(server/resource/summary_quality.py; GBA certification rule D099).

The resource world's February summary of alice's electric point (us_feb) starts with no
readings in its period: the billing system's own figure, ``revenue_quality`` (19).  Hourly
readings over the period, none flagged: ``valid`` (0); all flagged estimated: 8; one
flagged differently, or some unflagged: ``mixed`` (13).  Flagged readings just outside the
period change nothing.  The statement is built once at import with bind parameters (issue
17); these tests pin its answers, served over the API and on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import write_readings
from espi_sst_server.storage.models import MeterReading
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


def served_quality(client: FlaskClient, world: World) -> str | None:
    answer = client.get(
        f"{BASE}/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/UsageSummary/{world.us_feb}",
        headers={"Authorization": "Bearer tok-a"},
    )
    assert answer.status_code == 200, answer.data
    return etree.fromstring(answer.data).findtext(".//espi:qualityOfReading", namespaces=NS)


def add_readings(app: Flask, world: World, qualities: dict[int, int | None]) -> None:
    """One hourly reading per ``hour: quality`` (hours may lie outside February)."""
    with app.app_context():
        reading = db.session.scalar(select(MeterReading).where(MeterReading.uuid == world.mr_a1))
        assert reading is not None
        write_readings(
            db.session,
            reading.id,
            # (start, duration, value, cost, quality): storage/interval_data.py's reading
            [
                (FEB_START + 3_600 * hour, 3_600, 100, None, quality)
                for hour, quality in qualities.items()
            ],
        )
        db.session.commit()


def test_no_readings_is_the_billing_systems_figure(client: FlaskClient, world: World) -> None:
    assert served_quality(client, world) == "19"


def test_unflagged_readings_are_valid_and_neighbours_do_not_count(
    app: Flask, client: FlaskClient, world: World
) -> None:
    # Flagged readings the hour before and the hour after the period: not its readings.
    add_readings(app, world, {-1: 8, FEB_HOURS: 8} | dict.fromkeys(range(FEB_HOURS)))
    assert served_quality(client, world) == "0"


def test_all_flagged_alike_is_that_code(app: Flask, client: FlaskClient, world: World) -> None:
    add_readings(app, world, dict.fromkeys(range(FEB_HOURS), 8))
    assert served_quality(client, world) == "8"


def test_differing_flags_are_mixed(app: Flask, client: FlaskClient, world: World) -> None:
    add_readings(app, world, dict.fromkeys(range(FEB_HOURS), 8) | {5: 9})
    assert served_quality(client, world) == "13"


def test_some_flagged_some_not_is_mixed(app: Flask, client: FlaskClient, world: World) -> None:
    add_readings(app, world, dict.fromkeys(range(FEB_HOURS)) | {5: 8})
    assert served_quality(client, world) == "13"
