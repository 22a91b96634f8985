"""Finding the SST data in a parsed document (espi_sst/sst.py, 1623(c)(1)(A)-(D)).

RateInformation, BillComparison and RateChangeRequest built in code survive a round trip
and are found from their UsagePoint through the Atom link graph (not by position or href
prefix alone); :func:`~espi_sst.sst.find_rins` attributes every RIN to its element, its
service agreement and the entity serving it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import espi_sst
from espi_sst import Rin
from espi_sst.document import Document
from espi_sst.model.atom import Entry, Feed, Link
from espi_sst.model.enums import Currency
from espi_sst.model.espi import DateTimeInterval, ServiceCategory, UsagePoint
from espi_sst.model.sst import (
    BillComparison,
    ComparisonStatus,
    CurrentRate,
    EligibleRate,
    EstimateBasis,
    GenerationRinAvailability,
    GenerationRinStatus,
    RateChangeRequest,
    RateChangeStatus,
    RateEstimate,
    RateInformation,
    RejectionReason,
    Role,
)
from espi_sst.sst import bill_comparison, find_rins, rate_change_requests, rate_information

# ---- typed SST resources built in code --------------------------------------------------------
BASE = "https://utility.example.com/DataCustodian/espi/1_1/resource"
UP1 = f"{BASE}/Subscription/5/UsagePoint/1"
UP2 = f"{BASE}/Subscription/5/UsagePoint/2"
WHEN = datetime(2026, 11, 20, 8, tzinfo=UTC)


def entry(self_href: str, up_href: str, content: object, related: tuple[str, ...] = ()) -> Entry:
    links = [Link(self_href, "self"), Link(up_href, "up"), *(Link(h, "related") for h in related)]
    return Entry(
        id=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self_href)}",
        title=self_href.rsplit("/", 2)[-2],
        links=links,
        content=content,  # type: ignore[arg-type]
        published=WHEN,
        updated=WHEN,
    )


def estimate(
    rin: str, current: bool, basis: EstimateBasis = EstimateBasis.utilityTool
) -> RateEstimate:
    return RateEstimate(
        rin=Rin.parse(rin),
        tariff_code="E-ELEC" if current else "EV2-A",
        estimated_annual_cost=198450000 if current else 187125000,
        average_monthly_cost=16537500 if current else 15593750,
        savings_versus_current=0 if current else 11325000,
        is_current=current,
        basis=basis,
    )


BUNDLED_INFO = RateInformation(
    current_rate=[
        CurrentRate(
            rin=Rin.parse("USCA-PGPG-0505-0000"),
            role=Role.bundled,
            lse="PGE",
            lse_name="Pacific Gas and Electric Company",
            tariff_code="E-ELEC",
            effective_date=1735718400,
        )
    ],
    eligible_rate=[
        EligibleRate(
            rin=Rin.parse("USCA-PGPG-0510-0000"),
            tariff_code="EV2-A",
            name="Home Charging EV2-A",
            role=Role.bundled,
            lse="PGE",
        ),
        EligibleRate(
            rin=Rin.parse("USCA-PGPG-0505-0000"),
            tariff_code="E-ELEC",
            name="E-ELEC (mirror of PCE ECOPLUS-ELEC)",
            role=Role.bundled,
            lse="PGE",
            iou_mirror=True,
            mirror_of=Rin.parse("USCA-XXPE-0445-0000"),
        ),
    ],
)
BUNDLED_COMPARISON = BillComparison(
    status=ComparisonStatus.available,
    usage_period=DateTimeInterval(start=1730444400, duration=31536000),
    computed_at=1763625600,
    valid_until=1766304000,
    currency=Currency.USD,
    rate_estimate=[estimate("USCA-PGPG-0505-0000", True), estimate("USCA-PGPG-0510-0000", False)],
)
BUNDLED_CHANGE = RateChangeRequest(
    target_rin=Rin.parse("USCA-PGPG-0510-0000"),
    target_tariff_code="EV2-A",
    requested_at=1763629200,
    updated_at=1763632800,
    status=RateChangeStatus.accepted,
    effective_date=1764662400,
)
UNBUNDLED_INFO = RateInformation(
    current_rate=[
        CurrentRate(
            rin=Rin.parse("USCA-SCXX-0300-0000"),
            role=Role.delivery,
            lse="SCE",
            tariff_code="TOU-D-4-9PM",
            effective_date=1735718400,
        )
    ],
    generation_rin_status=GenerationRinStatus(
        availability=GenerationRinAvailability.notAvailableHere,
        lse="CPA",
        refer_to="https://sst.example.org/SST/v1/CPA/",
    ),
)
UNBUNDLED_COMPARISON = BillComparison(
    status=ComparisonStatus.insufficientHistory,
    status_message="Service started 2026-06-14",
    computed_at=1763625600,
    valid_until=1763625600,
)
UNBUNDLED_CHANGES = [
    RateChangeRequest(
        target_rin=Rin.parse("USCA-XXPE-0445-0000"),
        target_tariff_code="ECOPLUS-ELEC",
        requested_at=1763629200,
        updated_at=1763629260,
        status=RateChangeStatus.rejected,
        rejection_reason=RejectionReason.generationProductBelongsToCca,
    ),
    RateChangeRequest(
        target_rin=Rin.parse("USCA-SCXX-0310-0000"),
        target_tariff_code="TOU-D-PRIME",
        requested_at=1763630000,
        updated_at=1763630000,
        status=RateChangeStatus.awaitingConfirmation,
        confirmation_expires_at=1763630900,
    ),
]


def sst_feed() -> Feed:
    """Two service agreements.  UsagePoint 1 links to its SST collections (nested hrefs);
    UsagePoint 2 links straight to resources whose hrefs are NOT under its own, so only
    the related links tie them to it."""
    flat = f"{BASE}/Subscription/5"
    kinds = ("RateInformation", "BillComparison", "RateChangeRequest")
    entries = [
        entry(
            UP1,
            f"{BASE}/Subscription/5/UsagePoint",
            UsagePoint(service_category=ServiceCategory(kind=0)),
            tuple(f"{UP1}/{k}" for k in kinds),
        ),
        entry(
            UP2,
            f"{BASE}/Subscription/5/UsagePoint",
            UsagePoint(service_category=ServiceCategory(kind=0)),
            (
                f"{flat}/RateInformation/77",
                f"{flat}/BillComparison/77",
                f"{flat}/RateChangeRequest/78",
                f"{flat}/RateChangeRequest/79",
            ),
        ),
        # UsagePoint 2's resources first, to show order in the file does not decide ownership
        entry(f"{flat}/RateInformation/77", f"{flat}/RateInformation", UNBUNDLED_INFO),
        entry(f"{flat}/BillComparison/77", f"{flat}/BillComparison", UNBUNDLED_COMPARISON),
        entry(f"{flat}/RateChangeRequest/78", f"{flat}/RateChangeRequest", UNBUNDLED_CHANGES[0]),
        entry(f"{flat}/RateChangeRequest/79", f"{flat}/RateChangeRequest", UNBUNDLED_CHANGES[1]),
        entry(f"{UP1}/RateInformation/1", f"{UP1}/RateInformation", BUNDLED_INFO),
        entry(f"{UP1}/BillComparison/1", f"{UP1}/BillComparison", BUNDLED_COMPARISON),
        entry(f"{UP1}/RateChangeRequest/9", f"{UP1}/RateChangeRequest", BUNDLED_CHANGE),
    ]
    return Feed(
        id="urn:uuid:6f0c1d2e-0000-5000-8000-0000000000ff",
        title="SST",
        updated=WHEN,
        entries=entries,
    )


def test_sst_resources_round_trip_and_are_found_through_the_link_graph() -> None:
    """What a utility builds in code is written schema-valid, read back unchanged, and an
    ASP finds each service agreement's rate information, bill comparison and rate change
    requests from its UsagePoint -- by the links, not by position or href prefix alone."""
    feed = sst_feed()
    xml = espi_sst.serialize(feed)
    assert espi_sst.validate(xml) == []

    document = espi_sst.parse(xml)
    assert document.warnings == []
    assert document == Document(feed=feed, entries=feed.entries)

    first, second = document.usage_points
    assert rate_information(document, first) == BUNDLED_INFO
    assert bill_comparison(document, first) == BUNDLED_COMPARISON
    assert rate_change_requests(document, first) == [BUNDLED_CHANGE]
    assert rate_information(document, second) == UNBUNDLED_INFO
    assert bill_comparison(document, second) == UNBUNDLED_COMPARISON
    assert rate_change_requests(document, second) == UNBUNDLED_CHANGES


def test_usage_point_without_sst_links_has_no_sst_data() -> None:
    """A plain Green Button UsagePoint is not given another one's rate data."""
    feed = sst_feed()
    feed.entries.append(
        entry(
            f"{BASE}/Subscription/5/UsagePoint/3", f"{BASE}/Subscription/5/UsagePoint", UsagePoint()
        )
    )
    document = espi_sst.parse(espi_sst.serialize(feed))
    third = document.usage_points[2]
    assert rate_information(document, third) is None
    assert bill_comparison(document, third) is None
    assert rate_change_requests(document, third) == []


def test_find_rins_names_each_rins_element_and_usage_point() -> None:
    """find_rins attributes every RIN of the SST resources to its own service agreement."""
    document = espi_sst.parse(espi_sst.serialize(sst_feed()))
    found = {(str(o.rin), o.element, o.usage_point, o.entity) for o in find_rins(document)}
    assert ("USCA-PGPG-0505-0000", "currentRate", UP1, "PGE") in found
    assert ("USCA-PGPG-0510-0000", "eligibleRate", UP1, "PGE") in found
    assert ("USCA-PGPG-0510-0000", "rateEstimate", UP1, None) in found
    assert ("USCA-PGPG-0510-0000", "targetRin", UP1, None) in found
    assert ("USCA-SCXX-0300-0000", "currentRate", UP2, "SCE") in found
    assert ("USCA-XXPE-0445-0000", "targetRin", UP2, None) in found
    assert ("USCA-SCXX-0310-0000", "targetRin", UP2, None) in found


def test_find_rins_includes_mirrored_cca_rates() -> None:
    """The CCA rate an IOU rate mirrors is a RIN of the document an ASP may look up."""
    document = espi_sst.parse(espi_sst.serialize(sst_feed()))
    assert "USCA-XXPE-0445-0000" in {
        str(o.rin) for o in find_rins(document) if o.element != "targetRin"
    }
