"""The GBA certification catalogue's automated data rules, applied to what the server serves.

The catalogue (espi_sst/conformance/data/, see its PROVENANCE.md; the conformance kit's
evaluator :mod:`espi_sst.conformance.certification` reads it) gives each data test a
schematron rule: a CONTEXT XPath and a TEST XPath that must hold for every node the
context selects (XSLT's ``current()`` is that node).  The rules applied are those of the
function blocks the demo's scope claims (``lifecycle/registration.py``'s DEFAULT_SCOPE:
FB 1, 3, 4, 5, 13, 14, 15, 19, 35, 37, 39; only 1, 4, 5 and 15 have automated data rules), run
on the Batch/Subscription feeds and the ASP's Batch/Bulk feed of the resource test world.
A rule the server cannot meet is listed below as a known failure with its reason -- never
skipped silently; the documents are fetched once per database and every rule applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from espi_sst_server.lifecycle.registration import DEFAULT_SCOPE
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import write_readings
from espi_sst_server.storage.models import MeterReading, UsageSummary
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from espi_sst.conformance.certification import (
    NAMESPACES,
    Rule,
    RuleNotXPath,
    claimed_blocks,
    data_rules,
    violations,
)
from espi_sst.xml.reader import parse_tree

if TYPE_CHECKING:
    from resource_world import World

BASE = "/espi/1_1/resource"

KNOWN_FAILURES = {
    "D078": "the catalogue index holds this rule's TEST cut short (it ends in '/'): not an XPath",
    # The world's gas usage point (up_a2) has no LocalTimeParameters row: the server writes
    # no related link for it (D007) and cuts its IntervalBlocks at UTC midnights, so the
    # daily gas readings do not start their blocks (D042).  Data the utility must supply.
    "D007": "a UsagePoint stored without LocalTimeParameters (the world's gas point)",
    "D042": "blocks of a UsagePoint without LocalTimeParameters are UTC days (the gas point)",
    # Its ReadingType row holds no intervalLength / powerOfTenMultiplier (both optional
    # columns): the server writes what is stored.
    "D062": "a ReadingType stored without intervalLength (the world's gas ReadingType)",
    "D065": "a ReadingType stored without powerOfTenMultiplier (the world's gas ReadingType)",
}
"""Rule id -> why it cannot pass (the test fails if one of them passes: a fix shows)."""


def claimed_rules() -> list[Rule]:
    """Every automated rule of a function block the demo's scope claims."""
    blocks = claimed_blocks([DEFAULT_SCOPE])
    return [rule for rule in data_rules() if rule.block_number in blocks]


def readings_behind_the_summaries(app: Flask, world: World) -> None:
    """Hourly readings over the billing periods of the summaries stored without consumption
    (us_feb of up_a1, us_b of up_b1): the server derives overallConsumptionLastPeriod from
    them (D081; server/resource/summary_consumption.py).  A summary with neither stored
    consumption nor readings has none to give (tests/server/resource/test_summary_consumption.py)."""
    periods = ((world.mr_a1, world.us_feb), (world.mr_b1, world.us_b))
    with app.app_context():
        for meter_uuid, summary_uuid in periods:
            reading = db.session.scalar(select(MeterReading).where(MeterReading.uuid == meter_uuid))
            summary = db.session.scalar(
                select(UsageSummary).where(UsageSummary.uuid == summary_uuid)
            )
            assert reading is not None and summary is not None
            start, duration = summary.billing_period_start, summary.billing_period_duration
            write_readings(
                db.session,
                reading.id,
                [(hour, 3_600, 500, None, None) for hour in range(start, start + duration, 3_600)],
            )
        db.session.commit()


def served_documents(client: FlaskClient, world: World) -> dict[str, bytes]:
    documents = {}
    for sid, token in ((world.sub_a, "tok-a"), (world.sub_ab, "tok-ab"), (world.sub_b, "tok-b")):
        response = client.get(
            f"{BASE}/Batch/Subscription/{sid}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        documents[f"Batch/Subscription/{sid}"] = response.data
    info = client.get(
        f"{BASE}/ApplicationInformation/{world.app_b}",
        headers={"Authorization": "Bearer tok-client-b"},
    )
    bulk = (
        parse_tree(info.data)[1]
        .getroot()
        .findtext(".//espi:dataCustodianBulkRequestURI", namespaces=NAMESPACES)
    )
    response = client.get(bulk, headers={"Authorization": "Bearer tok-client-b"})
    assert response.status_code == 200
    documents["Batch/Bulk"] = response.data
    return documents


def test_the_claimed_blocks_have_rules() -> None:
    """The catalogue copy is read and the claimed blocks' rules are found (a guard against
    a test that passes because it checks nothing)."""
    blocks = {rule.function_block for rule in claimed_rules()}
    assert {"FB_01", "FB_04", "FB_15"} <= blocks
    assert "D099" in {rule.test_id for rule in claimed_rules()}


def test_served_feeds_meet_the_catalogue_rules(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Every rule on every served feed, the documents fetched once (one world per database:
    a world per rule made this file take minutes).  The rules that fail must be exactly the
    known failures -- a new failure, or a known one fixed, both show here by rule id."""
    app.config["RESOURCE_BULK_RATE_LIMIT"] = ""  # four feeds of one ASP within a second
    readings_behind_the_summaries(app, world)
    trees = {name: parse_tree(body)[1] for name, body in served_documents(client, world).items()}
    failing: dict[str, dict[str, list[str]]] = {}
    for rule in claimed_rules():
        try:
            found = {
                name: where for name, tree in trees.items() if (where := violations(tree, rule))
            }
        except RuleNotXPath as exc:  # a rule the catalogue holds cut short (D078)
            found = {"(the rule itself)": [str(exc)]}
        if found:
            failing[f"{rule.test_id} ({rule.function_block})"] = found
    unexpected = {
        rule: where for rule, where in failing.items() if rule.split()[0] not in KNOWN_FAILURES
    }
    fixed = set(KNOWN_FAILURES) - {rule.split()[0] for rule in failing}
    assert unexpected == {}, f"rules the server fails: {unexpected}"
    assert fixed == set(), (
        f"known failures that pass now (remove them from KNOWN_FAILURES): {fixed}"
    )
