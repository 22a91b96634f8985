"""The SST extension through the XML codec: reading, writing and validating it.

Protects the two ways a RIN reaches an ASP (concept design section 11.4 and our extension
form) and the three SST resources:

* the concept design's literal snippet (``<ns0:bundledRin>`` after billingChargeSource) is
  read, with a named warning, as the customer's bundled RIN served by PG&E;
* our writer emits the extension form, valid against the official ESPI schemas alone, or
  on request the Appendix B form, valid only with the Appendix B schema -- and both read
  back to the same document;
* RIN roles and required attributes are enforced when our schema is loaded and when
  reading, while the official schema alone (lax ``espi:extension``) lets them through;
* errors inside SST resources name the line.

Finding the SST resources and RINs of a document is tests/espi_sst/test_sst.py's, listing
them with ``espi-sst inspect --json`` test_cli.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lxml import etree

import espi_sst
from espi_sst import ParseError, Rin, RinRole
from espi_sst.document import Document
from espi_sst.model._base import Extension
from espi_sst.model.atom import Entry, Link
from espi_sst.model.espi import (
    BillingChargeSource,
    UsageSummary,
)
from espi_sst.model.sst import (
    BundledRin,
    RateChangeStatus,
)
from espi_sst.sst import (
    find_rins,
    usage_summary_rins,
)

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
SST = "urn:espi-sst:sst:1"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "sst"
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
    # form 1.1: the RIN and the LSE as child elements, no attribute (issue 14: xml2js-based
    # parsers crash on an element holding an attribute and digits in its text)
    assert (rin.tag, rin.attrib, [(c.tag, c.text) for c in rin]) == (
        f"{{{SST}}}bundledRin",
        {},
        [(f"{{{SST}}}rin", "USCA-PGPG-0505-0000"), (f"{{{SST}}}lse", "PGE")],
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


MISUSED += [  # the same mistakes in form 1.1 (children): reported at the <rin> itself
    (
        "rin",
        "<sst:bundledRin><sst:rin>USCA-PGXX-0100-0000</sst:rin><sst:lse>PGE</sst:lse>"
        "</sst:bundledRin>",
        "delivery RIN",
    ),
    (
        "rin",
        "<sst:generationRin><sst:rin>USCA-PGPG-0505-0000</sst:rin><sst:lse>PCE</sst:lse>"
        "</sst:generationRin>",
        "bundled RIN",
    ),
]

BOTH_FORMS = [
    (
        '<sst:bundledRin lse="PGE">USCA-PGPG-0505-0000</sst:bundledRin>',
        "<sst:bundledRin><sst:rin>USCA-PGPG-0505-0000</sst:rin><sst:lse>PGE</sst:lse>"
        "</sst:bundledRin>",
    ),
    (
        "<sst:bundledRin>USCA-PGPG-0505-0000</sst:bundledRin>",
        "<sst:bundledRin><sst:rin>USCA-PGPG-0505-0000</sst:rin></sst:bundledRin>",
    ),
    (
        '<sst:deliveryRin udc="PGE">USCA-PGXX-0100-0000</sst:deliveryRin>'
        '<sst:generationRin lse="PCE">USCA-XXPE-0440-0000</sst:generationRin>',
        "<sst:deliveryRin><sst:rin>USCA-PGXX-0100-0000</sst:rin><sst:udc>PGE</sst:udc>"
        "</sst:deliveryRin><sst:generationRin><sst:rin>USCA-XXPE-0440-0000</sst:rin>"
        "<sst:lse>PCE</sst:lse></sst:generationRin>",
    ),
]


@pytest.mark.parametrize("old, new", BOTH_FORMS, ids=["bundled", "bundled-no-lse", "unbundled"])
def test_both_rin_forms_read_to_the_same_model_and_the_new_one_is_written(
    old: str, new: str
) -> None:
    """Form 1.0 (text + attribute, documents already written, other servers) and form 1.1
    (children) are both valid and read to the same model without a warning; the writer
    emits 1.1 only, which validates and reads back equal (round trip)."""
    documents = [espi_sst.parse(extension_document(inner)) for inner in (old, new)]
    assert documents[0] == documents[1]
    assert documents[0].warnings == documents[1].warnings == []
    for inner in (old, new):
        assert espi_sst.validate(extension_document(inner)) == []
    written = espi_sst.serialize(documents[0])
    assert espi_sst.validate(written) == []
    extension = usage_summary_element(written)[0]
    for served in extension:
        assert served.attrib == {} and served[0].tag == f"{{{SST}}}rin"
        assert not (served.text or "").strip()
    assert espi_sst.parse(written) == documents[0]


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


# ---- errors inside SST resources name their line ------------------------------------------------
UP1 = "https://utility.example.com/DataCustodian/espi/1_1/resource/Subscription/5/UsagePoint/1"


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
