"""The writer emits XML the official ESPI 4.0 schemas accept, or says exactly why it cannot.

Data custodians (the SST server) and third parties build documents in code and hand them to
other Green Button implementations that DO validate.  The writer is therefore strict where
the reader is lenient: schema order always, every facet checked before writing, and a
SerializeError listing every problem instead of a file that fails somewhere else later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

import espi_sst
from espi_sst import Document, SerializeError
from espi_sst.model import (
    ApplicationInformation,
    DateTimeInterval,
    Entry,
    Extension,
    Feed,
    IntervalBlock,
    IntervalReading,
    Link,
    LocalTimeParameters,
    MeterReading,
    ReadingQuality,
    ReadingType,
    UsagePoint,
    UsageSummary,
)
from espi_sst.model.enums import (
    AccumulationKind,
    CommodityKind,
    Currency,
    FlowDirectionKind,
    MeasurementKind,
    QualityOfReading,
    ServiceKind,
    UnitMultiplierKind,
    UnitSymbolKind,
)
from espi_sst.model.espi import ServiceCategory
from espi_sst.validation import schema_dir

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
XS = "http://www.w3.org/2001/XMLSchema"
BASE = "https://utility.example/DataCustodian/espi/1_1/resource"
UP = f"{BASE}/Subscription/1/UsagePoint/1"
WHEN = datetime(2024, 3, 1, tzinfo=UTC)


def espi_entry(
    uid: int, self_href: str, up_href: str, content: object, related: tuple[str, ...] = ()
) -> Entry:
    links = [Link(href=self_href, rel="self"), Link(href=up_href, rel="up")]
    links += [Link(href=href, rel="related") for href in related]
    return Entry(
        id=f"urn:uuid:00000000-0000-0000-0000-{uid:012d}",
        title=type(content).__name__,
        published=WHEN,
        updated=WHEN,
        links=links,
        content=content,  # type: ignore[arg-type]
    )


def built_feed() -> Feed:
    """A complete one-day hourly subscription feed, built entirely in code."""
    readings = [
        IntervalReading(
            time_period=DateTimeInterval(start=1709280000 + 3600 * h, duration=3600),
            value=1000 + h,
            cost=12_345 * h,
            reading_quality=[ReadingQuality(quality=QualityOfReading.valid)],
        )
        for h in range(24)
    ]
    entries = [
        espi_entry(
            1,
            UP,
            f"{BASE}/Subscription/1/UsagePoint",
            UsagePoint(
                service_category=ServiceCategory(kind=ServiceKind.electricity),
                status=1,
                role_flags="0001",
            ),
            (f"{UP}/MeterReading", f"{BASE}/LocalTimeParameters/1"),
        ),
        espi_entry(
            2,
            f"{BASE}/LocalTimeParameters/1",
            f"{BASE}/LocalTimeParameters",
            LocalTimeParameters(
                dst_end_rule="B40E2000",
                dst_offset=3600,
                dst_start_rule="360E2000",
                tz_offset=-28800,
            ),
        ),
        espi_entry(
            3,
            f"{UP}/MeterReading/1",
            f"{UP}/MeterReading",
            MeterReading(),
            (f"{UP}/MeterReading/1/IntervalBlock", f"{BASE}/ReadingType/1"),
        ),
        espi_entry(
            4,
            f"{BASE}/ReadingType/1",
            f"{BASE}/ReadingType",
            ReadingType(
                accumulation_behaviour=AccumulationKind.deltaData,
                commodity=CommodityKind.electricity_SecondaryMetered,
                currency=Currency.USD,
                flow_direction=FlowDirectionKind.forward,
                interval_length=3600,
                kind=MeasurementKind.energy,
                power_of_ten_multiplier=UnitMultiplierKind.none,
                uom=UnitSymbolKind.Wh,
            ),
        ),
        espi_entry(
            5,
            f"{UP}/MeterReading/1/IntervalBlock/1",
            f"{UP}/MeterReading/1/IntervalBlock",
            IntervalBlock(
                interval=DateTimeInterval(start=1709280000, duration=86400),
                interval_reading=readings,
            ),
        ),
        espi_entry(
            6,
            f"{UP}/UsageSummary/1",
            f"{UP}/UsageSummary",
            UsageSummary(
                billing_period=DateTimeInterval(start=1706745600, duration=2505600),
                bill_last_period=8_812_000,
                currency=Currency.USD,
                status_time_stamp=1709280000,
            ),
        ),
    ]
    return Feed(
        id="urn:uuid:00000000-0000-0000-0000-0000000000ff",
        title="Green Button Subscription Feed",
        updated=WHEN,
        links=[Link(href=f"{BASE}/Batch/Subscription/1", rel="self")],
        entries=entries,
    )


def children(xml: bytes, parent: str) -> list[str]:
    """Local names of the children of the first ``parent`` element in the output."""
    root = etree.fromstring(xml)
    element = next(root.iter(f"{{{ESPI}}}{parent}"))
    return [etree.QName(child).localname for child in element]


def xsd_sequence(type_name: str) -> list[str]:
    """Element names of a complex type's sequence in espi.xsd, base types first (independent of the model)."""
    schema = etree.parse(str(schema_dir() / "espi.xsd")).getroot()
    types = {t.get("name"): t for t in schema.iter(f"{{{XS}}}complexType") if t.get("name")}
    names: list[str] = []
    node = types[type_name]
    extension = node.find(f".//{{{XS}}}extension")
    if extension is not None:
        names += xsd_sequence(extension.get("base").split(":")[-1])
        node = extension
    sequence = node.find(f"{{{XS}}}sequence")
    if sequence is not None:
        names += [e.get("name") for e in sequence.findall(f"{{{XS}}}element")]
    return names


# ---- valid output ----------------------------------------------------------------------------
def test_model_built_in_code_serializes_to_valid_espi() -> None:
    xml = espi_sst.serialize(built_feed())
    assert espi_sst.validate(xml) == []
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_model_built_in_code_reads_back_with_the_same_meaning() -> None:
    """What a custodian writes, a third party reads: scaled values, costs, quality, local time."""
    feed = built_feed()
    doc = espi_sst.parse(espi_sst.serialize(feed))
    assert doc.warnings == []
    assert doc.entries == feed.entries
    readings = list(doc.interval_readings())
    assert len(readings) == 24
    first = readings[0]
    assert (first.value, first.unit, first.cost_amount, first.quality_kind) == (
        1000,
        "Wh",
        0.0,
        QualityOfReading.valid,
    )
    assert readings[2].cost_amount == pytest.approx(0.2469)
    assert first.context.usage_point == UP
    assert first.start_local.isoformat() == "2024-03-01T00:00:00-08:00"


def test_schema_order_is_emitted_even_when_the_input_was_out_of_order() -> None:
    """UtilityAPI's out-of-order ReadingType is written back in schema order, and validates."""
    xml = (
        f'<entry xmlns="{ATOM}"><id>urn:x</id><link rel="self" href="/ReadingType/1"/><link rel="up" href="/ReadingType"/>'
        f'<content><ReadingType xmlns="{ESPI}"><uom>72</uom><powerOfTenMultiplier>0</powerOfTenMultiplier>'
        "<intervalLength>3600</intervalLength><flowDirection>1</flowDirection><commodity>1</commodity>"
        "<accumulationBehaviour>4</accumulationBehaviour></ReadingType></content></entry>"
    ).encode()
    doc = espi_sst.parse(xml)
    assert "element_order" in {w.code for w in doc.warnings}
    written = espi_sst.serialize(doc)
    order = children(written, "ReadingType")
    schema_order = xsd_sequence("ReadingType")
    assert sorted(order, key=schema_order.index) == order
    assert order == [
        "accumulationBehaviour",
        "commodity",
        "flowDirection",
        "intervalLength",
        "powerOfTenMultiplier",
        "uom",
    ]
    assert espi_sst.validate(written) == []


def test_atom_entry_children_come_in_the_gba_order() -> None:
    """id, links, title, content, published, updated -- the order of the GBA's own examples."""
    xml = espi_sst.serialize(built_feed().entries[0])
    order = [etree.QName(child).localname for child in etree.fromstring(xml)]
    assert order == [
        "id",
        "link",
        "link",
        "link",
        "link",
        "title",
        "content",
        "published",
        "updated",
    ]


@pytest.mark.parametrize(
    "cls",
    [
        UsagePoint,
        ReadingType,
        IntervalBlock,
        UsageSummary,
        LocalTimeParameters,
        ApplicationInformation,
    ],
)
def test_model_field_order_is_the_xsd_sequence(cls: type) -> None:
    """The generated field order (which the writer emits) is exactly espi.xsd's sequence."""
    from espi_sst.xml._specs import class_spec

    names = [f.xml.name for f in class_spec(cls).fields if f.xml.kind == "element"]
    assert names == xsd_sequence(cls.XML_TYPE)


# ---- refusing invalid models -------------------------------------------------------------
def test_serialize_error_lists_every_problem() -> None:
    """One error naming each problem with its path, so they can all be fixed in one go."""
    point = UsagePoint(
        role_flags="XYZ",  # bad hex
        service_priority="p" * 33,  # String32 too long
        service_category=ServiceCategory(kind=ServiceKind.electricity),
    )
    block = IntervalBlock(
        interval=DateTimeInterval(duration=86400),  # start is required
        interval_reading=[
            IntervalReading(time_period=DateTimeInterval(start=0, duration=-1), value=1)
        ],  # UInt32
    )
    app_problem = ApplicationInformation(response_types="token")  # unknown string enum
    feed = Feed(
        id="urn:f",
        title="t",
        updated=WHEN,
        entries=[
            Entry(
                id="urn:1",
                links=[Link("/UsagePoint/1", "self"), Link("/UsagePoint", "up")],
                content=point,
            ),
            Entry(
                id="urn:2",
                links=[Link("/IntervalBlock/1", "self"), Link("/IntervalBlock", "up")],
                content=block,
            ),
        ],
    )
    with pytest.raises(SerializeError) as caught:
        espi_sst.serialize(feed)
    message = str(caught.value)
    assert caught.value.code == "invalid_model"
    assert "4 problem(s)" in message
    assert "entry[1]/UsagePoint/roleFlags: 'XYZ' is not hexadecimal" in message
    assert "entry[1]/UsagePoint/servicePriority: 33 characters, over the 32 of String32" in message
    assert "entry[2]/IntervalBlock/interval/start: is required, but has none" in message
    assert (
        "entry[2]/IntervalBlock/IntervalReading/timePeriod/duration: -1 is outside UInt32"
        in message
    )

    with pytest.raises(SerializeError) as caught:
        espi_sst.serialize(app_problem)
    assert "ApplicationInformation/response_types: 'token' is not a ResponseType (code)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("resource", "fragment"),
    [
        (IntervalReading(value=2**47 + 1), "is outside Int48"),
        (ReadingType(uom=70_000), "is not a UnitSymbolKind code"),
        (ReadingType(interval_length="3600"), "is not an integer (UInt32)"),  # type: ignore[arg-type]
        (UsagePoint(role_flags="abc"), "not hexadecimal with whole bytes"),
        (UsagePoint(role_flags="00112233"), "longer than 2 bytes"),
        (
            LocalTimeParameters(
                dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000"
            ),
            "tzOffset: is required",
        ),
        (
            ApplicationInformation(grant_types=["client_credentials"]),
            "grant_types: needs 2 values, but has 1",
        ),
    ],
    ids=["int48", "code-range", "not-int", "odd-hex", "long-hex", "missing", "min-occurs-2"],
)
def test_each_facet_is_checked(resource: object, fragment: str) -> None:
    with pytest.raises(SerializeError) as caught:
        espi_sst.serialize(resource)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_unknown_numeric_code_is_valid_espi() -> None:
    """ESPI code tables are unions with UInt16: uom 999 is valid XML, and is written."""
    xml = espi_sst.serialize(ReadingType(uom=999))
    assert b"<espi:uom>999</espi:uom>" in xml
    assert espi_sst.validate(xml) == []


def test_entry_with_a_single_link_is_refused() -> None:
    entry = Entry(id="urn:1", links=[Link("/ReadingType/1", "self")], content=ReadingType(uom=72))
    with pytest.raises(SerializeError, match="at least two links"):
        espi_sst.serialize(entry)


def test_many_problems_are_counted_even_when_not_all_are_shown() -> None:
    """150 bad readings: the message names the first 100 and the total; .problems has all."""
    block = IntervalBlock(
        interval_reading=[
            IntervalReading(time_period=DateTimeInterval(start=i, duration=2**32), value=i)
            for i in range(150)
        ]
    )
    with pytest.raises(SerializeError) as caught:
        espi_sst.serialize(block)
    message = str(caught.value)
    assert "150 problem(s)" in message
    assert "... and 50 more" in message
    assert len(caught.value.problems) == 150


def test_serialize_error_names_every_problem_even_past_twenty() -> None:
    with pytest.raises(SerializeError) as caught:
        espi_sst.serialize(ApplicationInformation())
    assert "registration_access_token" in str(caught.value)


def test_allow_invalid_writes_anyway() -> None:
    """For debugging a utility's export: the invalid values are written as they are."""
    block = IntervalBlock(
        interval=DateTimeInterval(duration=-1),
        interval_reading=[
            IntervalReading(time_period=DateTimeInterval(start=0, duration=2**32), value=5)
        ],
    )
    xml = espi_sst.serialize(block, allow_invalid=True)
    assert b"<espi:duration>-1</espi:duration>" in xml
    assert b"<espi:duration>4294967296</espi:duration>" in xml
    issues = espi_sst.validate(xml)
    assert {issue.element for issue in issues} == {"duration", "interval"}
    assert len(issues) == 3


# ---- extension content -------------------------------------------------------------------
EXTENDED = f"""<?xml version="1.0" encoding="UTF-8"?>
<entry xmlns="{ATOM}" xmlns:e="{ESPI}">
  <id>urn:uuid:1</id>
  <link rel="self" href="/espi/1_1/resource/Subscription/1/UsagePoint/1/UsageSummary/1"/>
  <link rel="up" href="/espi/1_1/resource/Subscription/1/UsagePoint/1/UsageSummary"/>
  <content>
    <e:UsageSummary>
      <e:extension><sst:bundledRin xmlns:sst="urn:example:sst" kind="bundled">USCA-PGPG-0505-0000</sst:bundledRin><sst:note xmlns:sst="urn:example:sst"><sst:a>1 &amp; 2</sst:a>  <sst:b/></sst:note></e:extension>
      <e:statusTimeStamp>1700000000</e:statusTimeStamp>
    </e:UsageSummary>
  </content>
</entry>
""".encode()


def test_extension_content_round_trips_byte_stable() -> None:
    """The SST's bundledRin rides in ESPI's own extension point and survives any number of trips."""
    doc = espi_sst.parse(EXTENDED)
    (extension,) = doc.entries[0].content.extension
    assert len(extension.elements) == 2
    assert "USCA-PGPG-0505-0000" in extension.elements[0]
    assert 'kind="bundled"' in extension.elements[0]
    first = espi_sst.serialize(doc)
    again = espi_sst.parse(first)
    assert again == doc
    second = espi_sst.serialize(again)
    assert second == first
    assert espi_sst.serialize(espi_sst.parse(second)) == first
    assert espi_sst.validate(first) == []


def test_extension_comparison_ignores_the_prefixes_used() -> None:
    """The same extension written with another prefix is the same data."""
    other = EXTENDED.replace(b"sst:", b"x:").replace(b"xmlns:sst", b"xmlns:x")
    assert espi_sst.parse(other) == espi_sst.parse(EXTENDED)


def test_extension_built_in_code_is_written_in_place() -> None:
    """Extension content given in canonical form (ns1 prefix) is written first and reads back equal."""
    summary = UsageSummary(
        status_time_stamp=1,
        extension=[
            Extension(
                elements=('<ns1:rin xmlns:ns1="urn:example:sst">USCA-XXPE-0440-0000</ns1:rin>',)
            )
        ],
    )
    xml = espi_sst.serialize(summary)
    assert children(xml, "UsageSummary") == ["extension", "statusTimeStamp"]
    assert espi_sst.validate(xml) == []
    assert espi_sst.parse(xml).entries[0].content == summary


def test_extension_built_in_code_with_any_prefix_round_trips_equal() -> None:
    """make_extension() canonicalises foreign XML as the reader does, whatever its prefix."""
    from espi_sst.xml import make_extension

    summary = UsageSummary(
        status_time_stamp=1,
        extension=[make_extension('<r:rin xmlns:r="urn:example:sst">USCA-XXPE-0440-0000</r:rin>')],
    )
    assert espi_sst.parse(espi_sst.serialize(summary)).entries[0].content == summary
    with pytest.raises(SerializeError):
        make_extension("<unclosed>")


def test_mixed_text_in_extension_is_not_lost() -> None:
    xml = (
        f'<UsageSummary xmlns="{ESPI}"><extension>before<x:y xmlns:x="urn:x"/>after</extension>'
        "<statusTimeStamp>1</statusTimeStamp></UsageSummary>"
    ).encode()
    doc = espi_sst.parse(xml)
    written = espi_sst.serialize(doc)
    assert b"after" in written or doc.warnings


# ---- what can be serialized ----------------------------------------------------------------
def test_serialize_a_bare_resource() -> None:
    xml = espi_sst.serialize(ReadingType(uom=UnitSymbolKind.Wh, power_of_ten_multiplier=3))
    root = etree.fromstring(xml)
    assert root.tag == f"{{{ESPI}}}ReadingType"
    assert root.prefix == "espi"
    assert espi_sst.validate(xml) == []
    assert espi_sst.parse(xml).entries[0].content == ReadingType(uom=72, power_of_ten_multiplier=3)


def test_serialize_a_single_entry() -> None:
    entry = built_feed().entries[3]
    xml = espi_sst.serialize(entry)
    root = etree.fromstring(xml)
    assert root.tag == f"{{{ATOM}}}entry"
    assert espi_sst.validate(xml) == []
    doc = espi_sst.parse(xml)
    assert doc.feed is None
    assert doc.entries == [entry]


def test_serialize_a_feed() -> None:
    feed = built_feed()
    xml = espi_sst.serialize(feed)
    root = etree.fromstring(xml)
    assert root.tag == f"{{{ATOM}}}feed"
    assert len(root.findall(f"{{{ATOM}}}entry")) == len(feed.entries)
    doc = espi_sst.parse(xml)
    assert (doc.feed.id, doc.feed.title, doc.feed.updated, doc.feed.links) == (
        feed.id,
        feed.title,
        feed.updated,
        feed.links,
    )


def test_serialize_a_document_keeps_its_shape() -> None:
    """A parsed bare resource / entry / feed is written back as the same kind of root."""
    for obj, tag in (
        (ReadingType(uom=72), f"{{{ESPI}}}ReadingType"),
        (built_feed().entries[3], f"{{{ATOM}}}entry"),
        (built_feed(), f"{{{ATOM}}}feed"),
    ):
        doc = espi_sst.parse(espi_sst.serialize(obj))  # type: ignore[arg-type]
        assert etree.fromstring(espi_sst.serialize(doc)).tag == tag


def test_serialize_refuses_other_objects() -> None:
    with pytest.raises(TypeError):
        espi_sst.serialize("not a model")  # type: ignore[arg-type]


def test_datetimes_are_written_in_utc() -> None:
    """Naive times are taken as UTC; aware ones are converted (Atom dates in Z)."""
    entry = Entry(
        id="urn:1",
        links=[Link("/ReadingType/1", "self"), Link("/ReadingType", "up")],
        published=datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=-8))),
        updated=datetime(2024, 1, 1, 1, 0),
        content=ReadingType(uom=72),
    )
    xml = espi_sst.serialize(entry)
    assert b"<published>2024-01-01T09:00:00Z</published>" in xml
    assert b"<updated>2024-01-01T01:00:00Z</updated>" in xml
    assert espi_sst.validate(xml) == []


def test_text_is_escaped() -> None:
    entry = Entry(
        id="urn:1",
        title="Tom & Jerry's <meter>",
        links=[Link("/UsagePoint/1?a=1&b=2", "self"), Link("/UsagePoint", "up")],
        content=UsagePoint(read_route="R&D <east>"),
    )
    doc = espi_sst.parse(espi_sst.serialize(entry))
    assert doc.entries == [entry]


def test_pretty_false_gives_the_same_document_without_indentation() -> None:
    feed = built_feed()
    compact = espi_sst.serialize(feed, pretty=False)
    assert compact.count(b"\n") <= 1
    assert espi_sst.parse(compact) == espi_sst.parse(espi_sst.serialize(feed))
    assert espi_sst.validate(compact) == []


def test_document_without_feed_and_several_entries_becomes_a_feed() -> None:
    entries = built_feed().entries
    xml = espi_sst.serialize(Document(feed=None, entries=entries))
    assert etree.fromstring(xml).tag == f"{{{ATOM}}}feed"
    assert espi_sst.parse(xml).entries == entries


def test_feed_without_metadata_is_refused_or_valid() -> None:
    entries = built_feed().entries[:2]
    try:
        xml = espi_sst.serialize(Document(feed=None, entries=entries))
    except SerializeError:
        return
    assert espi_sst.validate(xml) == []


def test_serialize_writes_the_documents_entries() -> None:
    feed = built_feed()
    doc = espi_sst.parse(espi_sst.serialize(feed))
    without_summary = [e for e in doc.entries if not isinstance(e.content, UsageSummary)]
    filtered = Document(feed=doc.feed, entries=without_summary)
    rebuilt = Document(
        feed=Feed(
            id=feed.id,
            title=feed.title,
            updated=feed.updated,
            links=feed.links,
            entries=without_summary,
        ),
        entries=without_summary,
    )
    assert filtered == rebuilt
    assert espi_sst.serialize(filtered) == espi_sst.serialize(rebuilt)
