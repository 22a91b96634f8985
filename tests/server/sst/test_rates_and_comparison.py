"""RINs, eligible rates and bill comparison over the resource API (1623(c)(1)(A)-(C)), on
SQLite and PostgreSQL, against the seeded demo utility.

The bill comparison's numbers are checked against an independent path: the seed prices
every billing cycle's UsageSummary with the same tariffs, so the current rate's annual
estimate must equal the sum of the last 12 cycles' bills.
"""

from __future__ import annotations

from typing import Any

import pytest
from espi_sst_server.storage.interval_data import delete_readings, readings_between
from espi_sst_server.storage.models import (
    BillComparisonRecord,
    MeterReading,
    UsageSummary,
)
from sqlalchemy import func, select
from sst_world import FB, SstWorld, make_world

import espi_sst
from espi_sst.model import sst
from espi_sst.rin import RinRole
from espi_sst.sst import usage_summary_generation_status, usage_summary_rins

NO_SST = f"{FB} usage billing"


def read(body: bytes) -> espi_sst.Document:
    return espi_sst.parse(body)


def contents(body: bytes, kind: type) -> list[Any]:
    document = read(body)
    return [c for e in document.entries for c in e.contents if isinstance(c, kind)]


def assert_valid(body: bytes) -> None:
    issues = espi_sst.validate(body)
    assert issues == [], issues


# ---- RINs in UsageSummary (CEC1) ------------------------------------------------------------


def test_bundled_customer_usage_summary_carries_the_bundled_rin(world: SstWorld) -> None:
    alex = world.grant("alex")
    response = world.client.get(alex.url("/UsageSummary"), headers=alex.headers)
    assert response.status_code == 200
    assert_valid(response.data)
    summaries = contents(response.data, espi_sst.model.espi.UsageSummary)
    with_rins = [s for s in summaries if usage_summary_rins(s)]
    assert with_rins, "recent summaries carry the RIN"
    rins = {str(r.value) for s in with_rins for r in usage_summary_rins(s)}
    assert rins == {"USCA-PGPG-0100-0000"}  # E-TOU-C, bundled
    # Summaries of billing periods before the current rate took effect carry none.
    assert len(with_rins) < len(summaries)


def test_unbundled_customer_gets_delivery_and_cached_generation_rin(world: SstWorld) -> None:
    blake = world.grant("blake")
    response = world.client.get(blake.url("/UsageSummary"), headers=blake.headers)
    assert_valid(response.data)
    summary = contents(response.data, espi_sst.model.espi.UsageSummary)[-1]
    served = usage_summary_rins(summary)
    assert [(type(r).__name__, str(r.value)) for r in served] == [
        ("DeliveryRin", "USCA-PGXX-0100-0000"),
        ("GenerationRin", "USCA-XXPE-0440-0000"),
    ]
    assert served[0].udc == "PGE" and served[1].lse == "PCE"


def test_without_the_rin_scope_there_is_no_rin_anywhere(world: SstWorld) -> None:
    alex = world.grant("alex", NO_SST)
    for path in ("/UsageSummary", ""):
        response = world.client.get(alex.url(path), headers=alex.headers)
        assert response.status_code == 200
        assert b"urn:espi-sst:sst:1" not in response.data
        assert b"USCA-" not in response.data
    feed = world.client.get(
        f"/espi/1_1/resource/Subscription/{alex.subscription}", headers=alex.headers
    )
    assert feed.status_code == 200 and b"USCA-" not in feed.data
    refused = world.client.get(alex.url("/RateInformation"), headers=alex.headers)
    assert refused.status_code == 403
    assert refused.json is not None and refused.json["error"] == "insufficient_scope"


def test_non_caching_udc_says_where_to_ask_for_the_generation_rin(
    sst_database: tuple[str, Any],
) -> None:
    url, data = sst_database
    world = make_world(
        url,
        data,
        CACHED_CCA_RINS=False,
        ENTITIES={
            "PCE": {"name": "Peninsula Clean Energy", "url": "https://gw.example/SST/v1/PCE"}
        },
    )
    try:
        blake = world.grant("blake")
        response = world.client.get(blake.url("/UsageSummary"), headers=blake.headers)
        assert_valid(response.data)
        summary = contents(response.data, espi_sst.model.espi.UsageSummary)[-1]
        assert [str(r.value) for r in usage_summary_rins(summary)] == ["USCA-PGXX-0100-0000"]
        status = usage_summary_generation_status(summary)
        assert status is not None
        assert status.lse == "PCE" and status.refer_to == "https://gw.example/SST/v1/PCE"
        assert status.availability is sst.GenerationRinAvailability.notAvailableHere
        info = world.client.get(blake.url("/RateInformation"), headers=blake.headers)
        assert_valid(info.data)
        (rates,) = contents(info.data, sst.RateInformation)
        assert [r.role for r in rates.current_rate] == [sst.Role.delivery]
        assert rates.generation_rin_status is not None
        assert all(r.role is not sst.Role.generation for r in rates.eligible_rate)
        assert not any(r.iou_mirror for r in rates.eligible_rate)
    finally:
        world.app.extensions["espi_sst_db"].engine.dispose()


# ---- RateInformation (CEC2) -----------------------------------------------------------------


def eligible_codes(world: SstWorld, username: str) -> tuple[sst.RateInformation, set[str]]:
    granted = world.grant(username)
    response = world.client.get(granted.url("/RateInformation"), headers=granted.headers)
    assert response.status_code == 200, response.data
    assert_valid(response.data)
    (info,) = contents(response.data, sst.RateInformation)
    return info, {r.tariff_code for r in info.eligible_rate if not r.iou_mirror}


def test_rate_information_lists_current_and_eligible_rates_by_premise(world: SstWorld) -> None:
    alex, codes = eligible_codes(world, "alex")
    assert [str(r.rin) for r in alex.current_rate] == ["USCA-PGPG-0100-0000"]
    assert codes == {"E-TOU-C", "E-ELEC", "E-1"}  # heat pump: E-ELEC yes; no EV: no EV2-A
    _dana, dana_codes = eligible_codes(world, "dana")
    assert "E-1" not in dana_codes  # Net Billing customers take time-of-use rates only
    assert "E-ELEC" in dana_codes
    blake, blake_codes = eligible_codes(world, "blake")
    assert blake_codes >= {"E-TOU-C-DELIVERY", "E-1-DELIVERY"}
    assert all(
        RinRole(r.role.value) is r.rin.role for r in blake.eligible_rate if r.role is not None
    )
    mirrors = [r for r in blake.eligible_rate if r.iou_mirror]
    assert mirrors and all(m.mirror_of is not None and m.role is sst.Role.bundled for m in mirrors)


def test_rate_information_entry_by_id_and_unknown_ids(world: SstWorld) -> None:
    casey = world.grant("casey")
    feed = world.client.get(casey.url("/RateInformation"), headers=casey.headers)
    entry = read(feed.data).entries[0]
    self_href = next(link.href for link in entry.links if link.rel == "self")
    path = self_href.split("localhost", 1)[1]
    one = world.client.get(path, headers=casey.headers)
    assert one.status_code == 200 and read(one.data).entries[0].id == entry.id
    assert (
        world.client.get(casey.url("/RateInformation/nope"), headers=casey.headers).status_code
        == 404
    )
    gas = world.client.get(casey.url("/RateInformation", "gas"), headers=casey.headers)
    assert gas.status_code == 404  # gas has no RIN


def test_usage_point_links_to_the_sst_resources_its_grant_opens(world: SstWorld) -> None:
    full = world.grant("alex")
    plain = world.grant("alex", NO_SST)
    linked = world.client.get(full.url(), headers=full.headers).data
    assert b"/RateInformation" in linked and b"/BillComparison" in linked
    assert b"/RateChangeRequest" in linked
    assert b"/RateInformation" not in world.client.get(plain.url(), headers=plain.headers).data


# ---- BillComparison (CEC3) ------------------------------------------------------------------


def comparison(world: SstWorld, granted: Any, path: str = "/BillComparison") -> Any:
    response = world.client.get(granted.url(path), headers=granted.headers)
    assert response.status_code == 200, response.data
    assert_valid(response.data)
    (found,) = contents(response.data, sst.BillComparison)
    return found, read(response.data).entries[0]


# Alex is left out: four of Alex's last twelve bills are on E-1, the rate Alex left.
@pytest.mark.parametrize("username", ["blake", "casey", "dana"])
def test_current_rate_estimate_equals_the_last_twelve_bills(world: SstWorld, username: str) -> None:
    granted = world.grant(username)
    found, _entry = comparison(world, granted)
    assert found.status is sst.ComparisonStatus.available
    current = found.current
    assert current is not None and current.is_current
    period = found.usage_period
    end = period.start + period.duration
    with world.session() as s:
        point = world.point(s, granted.usage_points["electric"])
        bills = s.scalars(
            select(UsageSummary.bill_last_period).where(
                UsageSummary.usage_point_id == point.id,
                UsageSummary.billing_period_start >= period.start,
                UsageSummary.billing_period_start < end,
            )
        ).all()
    assert len(bills) == 12
    assert current.estimated_annual_cost == pytest.approx(sum(bills), rel=0.002)
    # Every other estimate is priced, and savings are relative to the current one.
    for estimate in found.rate_estimate:
        assert estimate.estimated_annual_cost > 0
        assert estimate.savings_versus_current == (
            current.estimated_annual_cost - estimate.estimated_annual_cost
        )
    assert len({e.estimated_annual_cost for e in found.rate_estimate}) == len(found.rate_estimate)


def test_both_url_forms_return_the_same_comparison_computed_once(world: SstWorld) -> None:
    alex = world.grant("alex")
    first, entry = comparison(world, alex)
    second, entry_again = comparison(world, alex, "/UsageSummary?SST=BillComparison")
    assert entry_again.id == entry.id and second == first
    third, _ = comparison(world, world.grant("alex"))  # another ASP grant, same cycle
    assert third.computed_at == first.computed_at
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(BillComparisonRecord)) == 1
    assert first.valid_until - first.computed_at <= 31 * 86400


def test_unknown_sst_query_and_missing_scope(world: SstWorld) -> None:
    alex = world.grant("alex")
    bad = world.client.get(alex.url("/UsageSummary?SST=Everything"), headers=alex.headers)
    assert bad.status_code == 400 and "SST" in bad.json["error_description"]
    plain = world.grant("alex", f"{FB} usage billing sst:rin")
    for path in ("/BillComparison", "/UsageSummary?SST=BillComparison"):
        refused = world.client.get(plain.url(path), headers=plain.headers)
        assert refused.status_code == 403


def test_less_than_twelve_months_of_history_gives_the_status_not_a_guess(world: SstWorld) -> None:
    casey = world.grant("casey")
    with world.session() as s:
        point = world.point(s, casey.usage_points["electric"])
        readings = s.scalars(
            select(MeterReading.id).where(MeterReading.usage_point_id == point.id)
        ).all()
        latest = max(r[0] for mr in readings for r in readings_between(s, mr))
        assert delete_readings(s, readings, end=latest - 200 * 86400) > 0
        s.commit()
    found, _ = comparison(world, casey)
    assert found.status is sst.ComparisonStatus.insufficientHistory
    assert found.rate_estimate == [] and "12 months" in found.status_message


def test_gas_service_has_no_rate_tool(world: SstWorld) -> None:
    casey = world.grant("casey")
    response = world.client.get(casey.url("/BillComparison", "gas"), headers=casey.headers)
    (found,) = contents(response.data, sst.BillComparison)
    assert found.status is sst.ComparisonStatus.noRateTool and found.rate_estimate == []
