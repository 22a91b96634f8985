"""The SST extension through the XML codec: reading, writing, validating, finding RINs.

Protects the two ways a RIN reaches an ASP (concept design section 11.4 and our extension
form) and the three SST resources:

* the concept design's literal snippet (``<ns0:bundledRin>`` after billingChargeSource) is
  read, with a named warning, as the customer's bundled RIN served by PG&E;
* our writer emits the extension form, valid against the official ESPI schemas alone, or
  on request the Appendix B form, valid only with the Appendix B schema -- and both read
  back to the same document;
* RIN roles and required attributes are enforced when our schema is loaded and when
  reading, while the official schema alone (lax ``espi:extension``) lets them through;
* RateInformation, BillComparison and RateChangeRequest survive a round trip and are found
  from their UsagePoint through the Atom link graph;
* errors name the line, and ``espi-sst inspect --json`` lists every RIN.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

import espi_sst
from espi_sst import ParseError, Rin, RinRole
from espi_sst.document import Document
from espi_sst.model._base import Extension
from espi_sst.model.atom import Entry, Feed, Link
from espi_sst.model.enums import Currency
from espi_sst.model.espi import (
    BillingChargeSource,
    DateTimeInterval,
    ServiceCategory,
    UsagePoint,
    UsageSummary,
)
from espi_sst.model.sst import (
    BillComparison,
    BundledRin,
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
from espi_sst.sst import (
    bill_comparison,
    find_rins,
    rate_change_requests,
    rate_information,
    usage_summary_rins,
)

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
SST = "urn:espi-sst:sst:1"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sst"
CLI = str(Path(sys.executable).with_name("espi-sst"))

# Concept design 2024, section 11.4, verbatim (the lines "of the schema to be modified").
SEED_SNIPPET = """\
<ns0:statusTimeStamp>1584389667484</ns0:statusTimeStamp>
<ns0:commodity>1</ns0:commodity>
<ns0:tariffProfile>A10SX</ns0:tariffProfile>
<ns0:readCycle>M</ns0:readCycle>
<ns0:billingChargeSource>
  <ns0:agencyName>PGE</ns0:agencyName>
</ns0:billingChargeSource>
<ns0:bundledRin>USCA-PGPG-0505-0000</ns0:bundledRin>
"""
SUMMARY_HREF = "https://pge.example.com/espi/1_1/resource/Subscription/1/UsagePoint/1/UsageSummary"
SEED_DOCUMENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<entry xmlns="{ATOM}" xmlns:ns0="{ESPI}">
<id>urn:uuid:6f0c1d2e-0000-5000-8000-000000000001</id>
<link href="{SUMMARY_HREF}/1" rel="self"/>
<link href="{SUMMARY_HREF}" rel="up"/>
<content>
<ns0:UsageSummary>
{SEED_SNIPPET}</ns0:UsageSummary>
</content>
</entry>
""".encode()


def line_of(xml: bytes, namespace: str, local: str, index: int = 0) -> int:
    """Source line of the index-th element {namespace}local in xml."""
    found = list(etree.fromstring(xml).iter(f"{{{namespace}}}{local}"))
    return int(found[index].sourceline)


def codes(document: Document) -> list[str]:
    return [w.code for w in document.warnings]


def usage_summary_element(xml: bytes) -> etree._Element:
    (summary,) = etree.fromstring(xml).iter(f"{{{ESPI}}}UsageSummary")
    return summary


# ---- the concept design's snippet ----------------------------------------------------------
def test_seed_snippet_is_read_as_the_bundled_rin_served_by_pge() -> None:
    """The design's literal form is read as sst:bundledRin, its LSE taken from
    billingChargeSource/agencyName, and the deviation is named (appendix_b_rin) at its line."""
    document = espi_sst.parse(SEED_DOCUMENT)
    (warning,) = [w for w in document.warnings if w.code == "appendix_b_rin"]
    assert warning.line == line_of(SEED_DOCUMENT, ESPI, "bundledRin")
    assert warning.element == "bundledRin"
    assert sorted(codes(document)) == ["appendix_b_rin", "milliseconds_timestamp"]

    summary = document.entries[0].content
    assert isinstance(summary, UsageSummary)
    assert summary.tariff_profile == "A10SX" and summary.read_cycle == "M"
    assert summary.status_time_stamp == 1584389667  # the design's milliseconds, as seconds
    assert usage_summary_rins(summary) == [
        BundledRin(value=Rin.parse("USCA-PGPG-0505-0000"), lse="PGE")
    ]

    (found,) = find_rins(document)
    rin = found.rin
    assert (rin.country, rin.state, rin.distribution_company, rin.energy_company) == (
        "US",
        "CA",
        "PG",
        "PG",
    )
    assert (rin.rate, rin.location) == ("0505", "0000")
    assert found.role is RinRole.BUNDLED
    assert found.element == "bundledRin"
    assert found.entity == "PGE"
    assert (
        found.usage_point == "https://pge.example.com/espi/1_1/resource/Subscription/1/UsagePoint/1"
    )


def test_seed_snippet_needs_the_appendix_b_schema() -> None:
    """As the design writes it, the document breaks the official UsageSummary sequence;
    only the Appendix B profile accepts it."""
    for profile in ("official", "sst"):
        issues = espi_sst.validate(SEED_DOCUMENT, profile=profile)
        assert issues and "bundledRin" in issues[0].message, profile
    assert espi_sst.validate(SEED_DOCUMENT, profile="appendix-b") == []


def test_writer_emits_the_extension_form_valid_against_the_official_schemas() -> None:
    """By default the RIN moves into espi:extension (first in UsageSummary) as sst:bundledRin
    with its LSE: valid with the official schemas alone and with ours, and read back equal
    without any warning."""
    document = espi_sst.parse(SEED_DOCUMENT)
    xml = espi_sst.serialize(document)
    assert espi_sst.validate(xml, profile="official") == []
    assert espi_sst.validate(xml, profile="sst") == []

    summary = usage_summary_element(xml)
    first = summary[0]
    assert first.tag == f"{{{ESPI}}}extension"
    (rin,) = first
    assert (rin.tag, rin.text, rin.get("lse")) == (
        f"{{{SST}}}bundledRin",
        "USCA-PGPG-0505-0000",
        "PGE",
    )
    assert summary.find(f"{{{ESPI}}}bundledRin") is None

    again = espi_sst.parse(xml)
    assert again == document
    assert again.warnings == []


def test_writer_emits_the_appendix_b_form_on_request() -> None:
    """rin_form="appendix-b" writes <espi:bundledRin> right after billingChargeSource, as a
    design-literal utility would: the official schema refuses it, the Appendix B profile
    accepts it, and it reads back to the same document."""
    document = espi_sst.parse(SEED_DOCUMENT)
    xml = espi_sst.serialize(document, rin_form="appendix-b")
    summary = usage_summary_element(xml)
    last = summary[-1]
    assert (last.tag, last.text) == (f"{{{ESPI}}}bundledRin", "USCA-PGPG-0505-0000")
    assert last.getprevious().tag == f"{{{ESPI}}}billingChargeSource"
    assert summary.find(f"{{{ESPI}}}extension") is None
    assert not [
        el for el in summary.iter() if isinstance(el.tag, str) and el.tag.startswith(f"{{{SST}}}")
    ]

    official = espi_sst.validate(xml, profile="official")
    assert official and "bundledRin" in official[0].message
    assert espi_sst.validate(xml, profile="appendix-b") == []

    again = espi_sst.parse(xml)
    assert again == document
    assert codes(again) == ["appendix_b_rin"]


def test_unknown_rin_form_is_refused() -> None:
    """A typo in rin_form fails loudly instead of silently choosing a form."""
    with pytest.raises(ValueError, match="rin_form"):
        espi_sst.serialize(espi_sst.parse(SEED_DOCUMENT), rin_form="appendix_b")  # type: ignore[arg-type]


def test_appendix_b_rin_of_the_wrong_role_is_refused_on_reading() -> None:
    """A delivery RIN in the design's bundledRin position is not the customer's whole rate."""
    xml = SEED_DOCUMENT.replace(b"USCA-PGPG-0505-0000", b"USCA-PGXX-0100-0000")
    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.line == line_of(xml, ESPI, "bundledRin")
    assert "delivery RIN" in str(info.value)


def test_appendix_b_profile_reports_a_rin_of_the_wrong_role() -> None:
    """validate() and parse() agree about an Appendix B document."""
    xml = SEED_DOCUMENT.replace(b"USCA-PGPG-0505-0000", b"USCA-PGXX-0100-0000")
    issues = espi_sst.validate(xml, profile="appendix-b")
    assert [i.line for i in issues] == [line_of(xml, ESPI, "bundledRin")]


def summary_entry(bundled_lse: str | None, agency: str | None) -> Entry:
    summary = UsageSummary(
        extension=[
            Extension(
                elements=(BundledRin(value=Rin.parse("USCA-PGPG-0505-0000"), lse=bundled_lse),)
            )
        ],
        status_time_stamp=1761980400,
        billing_charge_source=None if agency is None else BillingChargeSource(agency_name=agency),
    )
    return Entry(
        id="urn:uuid:6f0c1d2e-0000-5000-8000-000000000002",
        links=[Link(f"{SUMMARY_HREF}/1", "self"), Link(SUMMARY_HREF, "up")],
        content=summary,
    )


def test_appendix_b_round_trip_keeps_an_lse_that_billing_charge_source_states() -> None:
    """When billingChargeSource names the same LSE, the Appendix B form loses nothing."""
    entry = summary_entry("PGE", "PGE")
    again = espi_sst.parse(espi_sst.serialize(entry, rin_form="appendix-b"))
    assert again.entries == [entry]


@pytest.mark.parametrize("agency", [None, "SCE"], ids=["no-billingChargeSource", "other-agency"])
def test_appendix_b_form_never_changes_who_serves_the_rin(agency: str | None) -> None:
    """Writing the design's form must not change the RIN's LSE behind the caller's back:
    either the LSE survives the round trip or the writer refuses."""
    entry = summary_entry("PGE", agency)
    try:
        xml = espi_sst.serialize(entry, rin_form="appendix-b")
    except espi_sst.SerializeError:
        return
    (found,) = find_rins(espi_sst.parse(xml))
    assert found.entity == "PGE"


# ---- the extension form, enforced ------------------------------------------------------------
def extension_document(inner: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<entry xmlns="{ATOM}" xmlns:espi="{ESPI}" xmlns:sst="{SST}">
  <id>urn:uuid:6f0c1d2e-0000-5000-8000-000000000003</id>
  <link href="{SUMMARY_HREF}/1" rel="self"/>
  <link href="{SUMMARY_HREF}" rel="up"/>
  <content>
    <espi:UsageSummary>
      <espi:extension>
        {inner}
      </espi:extension>
      <espi:statusTimeStamp>1761980400</espi:statusTimeStamp>
      <espi:billingChargeSource><espi:agencyName>PGE</espi:agencyName></espi:billingChargeSource>
    </espi:UsageSummary>
  </content>
</entry>
""".encode()


MISUSED = [
    (
        "bundledRin",
        '<sst:bundledRin lse="PGE">USCA-PGXX-0100-0000</sst:bundledRin>',
        "delivery RIN",
    ),
    ("deliveryRin", "<sst:deliveryRin>USCA-PGXX-0100-0000</sst:deliveryRin>", "udc is required"),
    (
        "generationRin",
        '<sst:generationRin lse="PCE">USCA-PGPG-0505-0000</sst:generationRin>',
        "bundled RIN",
    ),
]


@pytest.mark.parametrize("element, inner, reason", MISUSED, ids=[m[0] for m in MISUSED])
def test_extension_rins_are_enforced_by_our_schema_and_on_reading(
    element: str, inner: str, reason: str
) -> None:
    """espi:extension is lax, so the official schemas alone cannot see a misused RIN element;
    with espi-sst.xsd loaded (the default profile) validate() reports it at its line, and
    parse() refuses it with a ParseError naming the same line."""
    xml = extension_document(inner)
    line = line_of(xml, SST, element)
    assert espi_sst.validate(xml, profile="official") == []

    issues = espi_sst.validate(xml)
    assert issues, "the sst profile must report the misused RIN element"
    assert {(i.line, i.element) for i in issues} == {(line, element)}

    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.line == line
    assert info.value.code == "invalid_sst"
    assert reason in str(info.value)
    assert f":{line}:" in str(info.value)


def test_lower_case_rin_in_extension_is_a_rin_error_at_its_line() -> None:
    """A malformed RIN is refused as such (invalid_rin), with the fix in the message."""
    xml = extension_document('<sst:bundledRin lse="PGE">usca-pgpg-0505-0000</sst:bundledRin>')
    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.code == "invalid_rin"
    assert info.value.line == line_of(xml, SST, "bundledRin")
    assert "upper-case" in str(info.value)


def test_entity_code_outside_the_schema_pattern_is_refused_on_reading() -> None:
    """The SST namespace is read strictly (no lenience): an entity code the schema refuses
    must not make it into a document the writer cannot write back."""
    xml = extension_document(
        '<sst:deliveryRin udc="P G E">USCA-PGXX-0100-0000</sst:deliveryRin>'
        '<sst:generationRin lse="PCE">USCA-XXPE-0440-0000</sst:generationRin>'
    )
    assert espi_sst.validate(xml), "the schema refuses the entity code"
    with pytest.raises(ParseError):
        espi_sst.parse(xml)


def same_element(a: etree._Element, b: etree._Element) -> bool:
    """Namespace-qualified structural equality (prefixes may differ)."""
    return (
        a.tag == b.tag
        and dict(a.attrib) == dict(b.attrib)
        and (a.text or "") == (b.text or "")
        and (a.tail or "").strip() == (b.tail or "").strip()
        and len(a) == len(b)
        and all(same_element(x, y) for x, y in zip(a, b, strict=True))
    )


def test_foreign_extension_content_next_to_a_rin_is_kept_verbatim() -> None:
    """A utility's own extension elements (another namespace) beside our RIN are neither
    lost nor altered, keep their place, and the RIN is still typed."""
    foreign = '<m:meterNote xmlns:m="urn:example:meter" m:kind="remark" a="1">hi <m:b>there</m:b> again</m:meterNote>'
    xml = extension_document(
        foreign + '<sst:bundledRin lse="PGE">USCA-PGPG-0505-0000</sst:bundledRin>'
    )
    assert espi_sst.validate(xml) == []
    document = espi_sst.parse(xml)
    assert document.warnings == []
    (extension,) = document.entries[0].content.extension
    assert isinstance(extension.elements[0], str)
    assert extension.elements[1] == BundledRin(value=Rin.parse("USCA-PGPG-0505-0000"), lse="PGE")

    out = espi_sst.serialize(document)
    assert espi_sst.validate(out) == []
    assert espi_sst.validate(out, profile="official") == []
    (written_extension,) = usage_summary_element(out).iter(f"{{{ESPI}}}extension")
    (original_extension,) = usage_summary_element(xml).iter(f"{{{ESPI}}}extension")
    assert [child.tag for child in written_extension] == [
        "{urn:example:meter}meterNote",
        f"{{{SST}}}bundledRin",
    ]
    assert same_element(written_extension[0], original_extension[0])
    assert espi_sst.parse(out) == document


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


# ---- errors inside SST resources name their line ------------------------------------------------
def resource_document(resource: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<entry xmlns="{ATOM}" xmlns:espi="{ESPI}" xmlns:sst="{SST}">
  <id>urn:uuid:6f0c1d2e-0000-5000-8000-000000000004</id>
  <link href="{UP1}/RateChangeRequest/9" rel="self"/>
  <link href="{UP1}/RateChangeRequest" rel="up"/>
  <content>
{resource}
  </content>
</entry>
""".encode()


def change_request(target: str = "USCA-PGPG-0510-0000", status: str = "submitted") -> str:
    return f"""    <sst:RateChangeRequest>
      <sst:targetRin>{target}</sst:targetRin>
      <sst:targetTariffCode>EV2-A</sst:targetTariffCode>
      <sst:requestedAt>1763629200</sst:requestedAt>
      <sst:updatedAt>1763632800</sst:updatedAt>
      <sst:status>{status}</sst:status>
    </sst:RateChangeRequest>"""


def test_well_formed_resource_document_is_accepted() -> None:
    """Baseline for the two refusals below: the same document with good values is valid."""
    xml = resource_document(change_request())
    assert espi_sst.validate(xml) == []
    assert espi_sst.parse(xml).entries[0].content.status is RateChangeStatus.submitted


def test_bad_rin_in_an_sst_resource_names_its_line() -> None:
    """A malformed RIN in a resource is a RinError-class ParseError at the RIN's line, and
    validate() reports the same line."""
    xml = resource_document(change_request(target="USCA-PGPG-0510"))
    line = line_of(xml, SST, "targetRin")
    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.code == "invalid_rin"
    assert info.value.line == line
    assert "targetRin" in str(info.value) and "four parts" in str(info.value)
    assert [(i.line, i.element) for i in espi_sst.validate(xml)] == [(line, "targetRin")]


def test_unknown_status_is_a_schema_issue_and_a_parse_error() -> None:
    """A status our schema does not define is reported by validate() at the status element
    and refused by parse(), naming the value and the resource it is in."""
    xml = resource_document(change_request(status="approved"))
    status_line = line_of(xml, SST, "status")
    (issue,) = espi_sst.validate(xml)
    assert (issue.line, issue.element) == (status_line, "status")
    assert "awaitingConfirmation" in issue.message
    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.code == "invalid_sst"
    assert line_of(xml, SST, "RateChangeRequest") <= info.value.line <= status_line
    assert "status 'approved'" in str(info.value) and "RateChangeRequest" in str(info.value)


def test_unknown_comparison_status_with_estimates_is_a_parse_error() -> None:
    """The reader turns every SST rule break into a ParseError, even with estimates present."""
    xml = (
        (EXAMPLES / "bundled-customer-feed.xml")
        .read_bytes()
        .replace(b"<sst:status>available</sst:status>", b"<sst:status>approved</sst:status>")
    )
    assert espi_sst.validate(xml), "the schema refuses the status"
    with pytest.raises(ParseError):
        espi_sst.parse(xml)


def test_rule_beyond_the_schema_is_reported_by_validate_at_the_resource() -> None:
    """A schema-valid comparison valid for longer than one billing cycle is still reported
    by validate() (the SST rules pass), at the BillComparison's line."""
    source = (EXAMPLES / "bundled-customer-feed.xml").read_bytes()
    xml = source.replace(
        b"<sst:validUntil>1766304000</sst:validUntil>",
        b"<sst:validUntil>1766304001</sst:validUntil>",
    )
    assert xml != source
    (issue,) = espi_sst.validate(xml)
    assert issue.line == line_of(xml, SST, "BillComparison")
    assert issue.element == "BillComparison"
    assert "31 days" in issue.message
    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.line == issue.line


# ---- the CLI ----------------------------------------------------------------------------------
def expected_rins(path: Path) -> list[tuple[str, str, str, str | None]]:
    """(rin, role, element, entity) of every RIN of the file, read with lxml alone.

    The role comes from the XX placeholders of the RIN text; the entity from the RIN element's
    udc/lse attribute, or the lse next to a currentRate/eligibleRate RIN; an eligibleRate's
    mirrorOf (the CCA rate an IOU rate mirrors) has no entity of its own."""
    rows = []
    for el in etree.parse(str(path)).iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{SST}}}"):
            continue
        local = etree.QName(el).localname
        text = (el.text or "").strip()
        role = "delivery" if text[7:9] == "XX" else "generation" if text[5:7] == "XX" else "bundled"
        parent = etree.QName(el.getparent()).localname
        if local in ("bundledRin", "deliveryRin", "generationRin"):
            rows.append((text, role, local, el.get("udc") or el.get("lse")))
        elif local == "rin" and parent in ("currentRate", "eligibleRate"):
            rows.append((text, role, parent, el.getparent().findtext(f"{{{SST}}}lse")))
        elif local == "rin" and parent == "rateEstimate":
            rows.append((text, role, parent, None))
        elif local in ("targetRin", "mirrorOf"):
            rows.append((text, role, local, None))
    return rows


def test_cli_inspect_json_lists_every_rin_with_role_and_entity() -> None:
    """``espi-sst inspect --json`` (the real console script) gives scripts every RIN of an
    unbundled customer's feed with its role and who serves it, under "rins"."""
    path = EXAMPLES / "unbundled-customer-feed.xml"
    result = subprocess.run(
        [CLI, "inspect", "--json", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    listed = [(r["rin"], r["role"], r["element"], r["entity"]) for r in summary["rins"]]
    assert sorted(listed, key=str) == sorted(expected_rins(path), key=str)
    assert ("USCA-PGXX-0100-0000", "delivery", "deliveryRin", "PGE") in listed
    assert ("USCA-XXPE-0440-0000", "generation", "generationRin", "PCE") in listed
    assert {r["usage_point"] for r in summary["rins"]} == {f"{BASE}/Subscription/8/UsagePoint/3"}
    assert summary["warnings"] == []
