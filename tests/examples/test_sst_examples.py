"""The published SST examples (``examples/sst/*.xml``) are correct and say what they claim.

Utilities copy examples.  These tests protect that every example validates (with the
profile it is written for), reads without tolerated deviations (except the concept
design's literal form, whose two deviations are the point), survives a round trip through
the writer with schema-valid output, and that the extension form really stays valid against
the official ESPI schemas alone -- the promise that lets a utility adopt it without
touching its validators.  It also checks each example holds the RINs its comment describes.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

import espi_sst
from espi_sst import Rin, RinRole
from espi_sst.model.espi import UsageSummary
from espi_sst.model.sst import (
    BillComparison,
    BundledRin,
    ComparisonStatus,
    DeliveryRin,
    GenerationRin,
    GenerationRinAvailability,
    RateInformation,
    Role,
    add_months,
)
from espi_sst.sst import find_rins, rate_information, usage_summary_rins

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sst"
ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
SST = "urn:espi-sst:sst:1"
APPENDIX_B = "concept-design-appendix-b-usagesummary.xml"
FILES = sorted(path.name for path in EXAMPLES.glob("*.xml"))


def profile_of(name: str) -> str:
    return "appendix-b" if name == APPENDIX_B else "sst"


def test_the_examples_are_all_here() -> None:
    """Guard: the parametrized tests below are not silently run over an empty folder."""
    assert FILES == [
        "bill-comparison-insufficient-history.xml",
        "bundled-customer-feed.xml",
        APPENDIX_B,
        "unbundled-customer-feed.xml",
        "unbundled-noncached-rate-information.xml",
    ]


@pytest.mark.parametrize("name", FILES)
def test_example_validates_with_its_profile(name: str) -> None:
    """Each example is valid against the schema set it is written for."""
    assert espi_sst.validate(EXAMPLES / name, profile=profile_of(name)) == []


def test_appendix_b_example_is_not_valid_without_the_appendix_b_schema() -> None:
    """The design's literal form really needs its own profile (the reason it exists)."""
    issues = espi_sst.validate(EXAMPLES / APPENDIX_B)
    # libxml2 names the element it did not expect (xmlschema named its parent).
    assert issues and "bundledRin" in issues[0].message
    assert issues[0].element in {"UsageSummary", "bundledRin"}


@pytest.mark.parametrize("name", FILES)
def test_example_reads_without_tolerated_deviations(name: str) -> None:
    """Our own examples need no lenience; the Appendix B one shows exactly the design's two
    deviations (a millisecond statusTimeStamp and the bundledRin position)."""
    document = espi_sst.parse(EXAMPLES / name)
    expected = ["milliseconds_timestamp", "appendix_b_rin"] if name == APPENDIX_B else []
    assert [w.code for w in document.warnings] == expected


@pytest.mark.parametrize("name", FILES)
def test_example_round_trips_and_the_writer_output_validates(name: str) -> None:
    """Read, write, read again: the same document, and what the writer emits is valid
    (the extension form, for the Appendix B example too)."""
    document = espi_sst.parse(EXAMPLES / name)
    xml = espi_sst.serialize(document)
    assert espi_sst.validate(xml) == []
    again = espi_sst.parse(xml)
    assert again == document
    assert again.warnings == []


def test_appendix_b_example_can_be_written_back_in_its_own_form() -> None:
    """A design-literal utility can have its file written back in the form it uses."""
    document = espi_sst.parse(EXAMPLES / APPENDIX_B)
    xml = espi_sst.serialize(document, rin_form="appendix-b")
    assert espi_sst.validate(xml, profile="appendix-b") == []
    assert espi_sst.parse(xml) == document


# ---- the extension form against the official schemas alone ------------------------------------
def usage_summary_entries(name: str) -> list[bytes]:
    """Each atom:entry holding an espi:UsageSummary, as a standalone entry document."""
    root = etree.parse(str(EXAMPLES / name)).getroot()
    entries = [root] if root.tag == f"{{{ATOM}}}entry" else list(root.iter(f"{{{ATOM}}}entry"))
    return [
        etree.tostring(copy.deepcopy(entry), xml_declaration=True, encoding="UTF-8")
        for entry in entries
        if entry.find(f"{{{ATOM}}}content/{{{ESPI}}}UsageSummary") is not None
    ]


EXTENSION_FORM = ["bundled-customer-feed.xml", "unbundled-customer-feed.xml"]


@pytest.mark.parametrize("name", EXTENSION_FORM)
def test_usage_summary_entry_is_valid_against_the_official_schemas_alone(name: str) -> None:
    """The RIN inside espi:extension does not break ESPI: the UsageSummary entry, taken out
    of the feed, validates with the official schemas and nothing of ours."""
    (entry,) = usage_summary_entries(name)
    sst_elements = [
        el
        for el in etree.fromstring(entry).iter()
        if isinstance(el.tag, str) and el.tag.startswith(f"{{{SST}}}")
    ]
    assert sst_elements, "the extracted entry carries the RIN elements"
    assert espi_sst.validate(entry, profile="official") == []
    assert espi_sst.validate(entry) == []


def test_examples_use_the_extension_form_only_where_they_say_so() -> None:
    """Only the Appendix B example has a RIN outside espi:extension."""
    for name in FILES:
        root = etree.parse(str(EXAMPLES / name)).getroot()
        literal = list(root.iter(f"{{{ESPI}}}bundledRin"))
        assert bool(literal) is (name == APPENDIX_B), name
        for rin in root.iter(
            f"{{{SST}}}bundledRin", f"{{{SST}}}deliveryRin", f"{{{SST}}}generationRin"
        ):
            assert rin.getparent().tag == f"{{{ESPI}}}extension"
            siblings = [el for el in rin.getparent().getparent() if isinstance(el.tag, str)]
            assert siblings[0] is rin.getparent(), "extension comes first in UsageSummary"


# ---- what each example holds -------------------------------------------------------------------
def summaries(name: str) -> list[UsageSummary]:
    return espi_sst.parse(EXAMPLES / name).resources(UsageSummary)


def test_bundled_example_has_exactly_one_bundled_rin() -> None:
    """A bundled customer has one RIN, naming PG&E for both delivery and generation."""
    (summary,) = summaries("bundled-customer-feed.xml")
    assert usage_summary_rins(summary) == [
        BundledRin(value=Rin.parse("USCA-PGPG-0505-0000"), lse="PGE")
    ]
    root = etree.parse(str(EXAMPLES / "bundled-customer-feed.xml")).getroot()
    assert len(list(root.iter(f"{{{SST}}}bundledRin"))) == 1
    assert not list(root.iter(f"{{{SST}}}deliveryRin", f"{{{SST}}}generationRin"))


def test_unbundled_example_has_a_delivery_and_a_generation_rin() -> None:
    """An unbundled (CCA) customer holds two RINs: PG&E's delivery rate (udc PGE) and
    Peninsula Clean Energy's generation rate (lse PCE)."""
    (summary,) = summaries("unbundled-customer-feed.xml")
    rins = usage_summary_rins(summary)
    assert rins == [
        DeliveryRin(value=Rin.parse("USCA-PGXX-0100-0000"), udc="PGE"),
        GenerationRin(value=Rin.parse("USCA-XXPE-0440-0000"), lse="PCE"),
    ]
    assert [r.value.role for r in rins if r.value is not None] == [
        RinRole.DELIVERY,
        RinRole.GENERATION,
    ]
    document = espi_sst.parse(EXAMPLES / "unbundled-customer-feed.xml")
    (usage_point,) = document.usage_points
    info = rate_information(document, usage_point)
    assert info is not None and info.rins == [r.value for r in rins]
    served = {
        (str(o.rin), o.entity)
        for o in find_rins(document)
        if o.element in ("deliveryRin", "generationRin")
    }
    assert served == {("USCA-PGXX-0100-0000", "PGE"), ("USCA-XXPE-0440-0000", "PCE")}


def test_noncached_example_says_where_to_ask_for_the_generation_rin() -> None:
    """In non-cached mode the delivery-only rate comes with generationRinStatus naming the
    CCA and the address to ask (referTo), instead of leaving the generation RIN out."""
    (info,) = espi_sst.parse(EXAMPLES / "unbundled-noncached-rate-information.xml").resources(
        RateInformation
    )
    assert [rate.role for rate in info.current_rate] == [Role.delivery]
    status = info.generation_rin_status
    assert status is not None
    assert status.availability is GenerationRinAvailability.notAvailableHere
    assert status.lse == "CPA"
    assert status.refer_to == "https://sst.example.org/SST/v1/CPA/"


def test_insufficient_history_example_is_consistent() -> None:
    """The example refuses to compare because history is short: its period is indeed under
    12 months, and it gives no estimate."""
    (comparison,) = espi_sst.parse(EXAMPLES / "bill-comparison-insufficient-history.xml").resources(
        BillComparison
    )
    assert comparison.status is ComparisonStatus.insufficientHistory
    assert comparison.rate_estimate == []
    period = comparison.usage_period
    assert period is not None and period.start is not None and period.duration is not None
    start = datetime.fromtimestamp(period.start, UTC)
    end = datetime.fromtimestamp(period.start + period.duration, UTC)
    assert end < add_months(start, 12)
