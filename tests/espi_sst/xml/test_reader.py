"""Each real-world deviation the reader tolerates, one small hand-written document apiece.

The reader is lenient on purpose (only ~60% of real Green Button files validate), but never
silently: every tolerated deviation is named by a stable warning code in
``Document.warnings``.  Each test asserts both halves of that promise -- the value that
was read, and the warning that says how -- so a change in either is caught.  Anything not
on the list (``<value>abc</value>``, a non-ESPI root ...) is a ParseError naming the line.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import espi_sst
from espi_sst import Document, EspiWarning, ParseError, UnknownCodeWarning
from espi_sst.model import (
    ApplicationInformation,
    Authorization,
    BatchList,
    Extension,
    IntervalBlock,
    ReadingType,
    UsagePoint,
    UsageSummary,
)
from espi_sst.model.enums import ServiceKind, TokenEndPointMethod, UnitSymbolKind

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
SELF = "/espi/1_1/resource/Subscription/1/UsagePoint/1"


def entry(content: str, *, links: str | None = None, after: str = "") -> bytes:
    """An atom:entry holding ``content``; the content starts on line 7."""
    if links is None:
        links = f'<link rel="self" href="{SELF}"/>\n  <link rel="up" href="/espi/1_1/resource/Subscription/1/UsagePoint"/>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<entry xmlns="{ATOM}" xmlns:espi="{ESPI}">\n'
        "  <id>urn:uuid:00000000-0000-0000-0000-000000000001</id>\n"
        f"  {links}\n"
        "  <content>\n"
        f"{content}\n"
        "  </content>\n"
        f"{after}"
        "</entry>\n"
    ).encode()


def only_warning(doc: Document, code: str) -> EspiWarning:
    matching = [w for w in doc.warnings if w.code == code]
    assert len(matching) == 1, [str(w) for w in doc.warnings]
    return matching[0]


def codes(doc: Document) -> set[str]:
    return {w.code for w in doc.warnings}


def content(doc: Document) -> object:
    (entry_,) = doc.entries
    return entry_.content


# ---- values --------------------------------------------------------------------------------
def test_milliseconds_timestamp_read_as_seconds() -> None:
    """PG&E writes statusTimeStamp in milliseconds; the reader divides by 1000."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsageSummary>\n"
            "<espi:statusTimeStamp>1721154384123</espi:statusTimeStamp>\n"
            "</espi:UsageSummary>"
        )
    )
    summary = content(doc)
    assert isinstance(summary, UsageSummary)
    assert summary.status_time_stamp == 1721154384
    warning = only_warning(doc, "milliseconds_timestamp")
    assert warning.line == 8
    assert warning.element == "statusTimeStamp"
    assert "1721154384123" in warning.message


def test_plausible_seconds_timestamp_is_not_mistaken_for_milliseconds() -> None:
    """A far-future but plausible seconds value (year 4000) is left alone."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsageSummary><espi:statusTimeStamp>64060588800</espi:statusTimeStamp></espi:UsageSummary>"
        )
    )
    assert content(doc).status_time_stamp == 64060588800
    assert doc.warnings == []


def test_fractional_timestamp_rounded() -> None:
    """Eversource writes start times like 1721154384.66136; they round to whole seconds."""
    doc = espi_sst.parse(
        entry(
            "<espi:IntervalBlock><espi:IntervalReading><espi:timePeriod>\n"
            "<espi:duration>3600</espi:duration>\n"
            "<espi:start>1721154384.66136</espi:start>\n"
            "</espi:timePeriod><espi:value>5</espi:value></espi:IntervalReading></espi:IntervalBlock>"
        )
    )
    block = content(doc)
    assert isinstance(block, IntervalBlock)
    assert block.interval_reading[0].time_period.start == 1721154385
    warning = only_warning(doc, "fractional_timestamp")
    assert (warning.line, warning.element) == (9, "start")
    assert "fractional_number" not in codes(doc)


def test_fractional_number_rounded() -> None:
    """A decimal where ESPI wants an integer (value, duration) rounds to the nearest integer."""
    doc = espi_sst.parse(
        entry(
            "<espi:IntervalBlock><espi:IntervalReading>\n"
            "<espi:timePeriod><espi:duration>3600.0</espi:duration><espi:start>0</espi:start></espi:timePeriod>\n"
            "<espi:value>5.6</espi:value>\n"
            "</espi:IntervalReading></espi:IntervalBlock>"
        )
    )
    reading = content(doc).interval_reading[0]
    assert reading.value == 6
    assert reading.time_period.duration == 3600
    values = [w for w in doc.warnings if w.code == "fractional_number"]
    assert {(w.element, w.line) for w in values} == {("value", 9), ("duration", 8)}


def test_empty_value_read_as_absent() -> None:
    """``<status></status>`` means "not given", not zero."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint>\n"
            "<espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory>\n"
            "<espi:status></espi:status>\n"
            "</espi:UsagePoint>"
        )
    )
    point = content(doc)
    assert isinstance(point, UsagePoint)
    assert point.status is None
    assert point.service_category.kind is ServiceKind.electricity
    warning = only_warning(doc, "empty_value")
    assert (warning.line, warning.element) == (9, "status")


def test_empty_element_read_as_absent() -> None:
    """Eversource's ``<ServiceCategory><kind></kind></ServiceCategory>`` is no ServiceCategory."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint>\n"
            "<espi:ServiceCategory><espi:kind></espi:kind></espi:ServiceCategory>\n"
            "</espi:UsagePoint>"
        )
    )
    assert content(doc).service_category is None
    warning = only_warning(doc, "empty_element")
    assert (warning.line, warning.element) == (8, "ServiceCategory")
    assert "empty_value" in codes(doc)


def test_out_of_range_clamped_to_the_type_bound() -> None:
    """PG&E Authorization durations of ~8,000 years are clamped to UInt32's maximum."""
    doc = espi_sst.parse(
        entry(
            "<espi:Authorization><espi:authorizedPeriod>\n"
            "<espi:duration>252460800000</espi:duration>\n"
            "<espi:start>1400000000</espi:start>\n"
            "</espi:authorizedPeriod></espi:Authorization>"
        )
    )
    auth = content(doc)
    assert isinstance(auth, Authorization)
    assert auth.authorized_period.duration == 4294967295
    assert auth.authorized_period.start == 1400000000
    warning = only_warning(doc, "out_of_range")
    assert (warning.line, warning.element) == (8, "duration")
    assert "252460800000" in warning.message  # the original value is quoted


def test_negative_out_of_range_clamped_to_the_lower_bound() -> None:
    doc = espi_sst.parse(
        entry("<espi:ReadingType><espi:intervalLength>-5</espi:intervalLength></espi:ReadingType>")
    )
    assert content(doc).interval_length == 0
    assert only_warning(doc, "out_of_range").element == "intervalLength"


def test_unknown_code_kept_as_int() -> None:
    """A code missing from its ESPI table is kept as a plain int (UnknownCodeWarning)."""
    doc = espi_sst.parse(entry("<espi:ReadingType>\n<espi:uom>999</espi:uom>\n</espi:ReadingType>"))
    reading_type = content(doc)
    assert isinstance(reading_type, ReadingType)
    assert reading_type.uom == 999
    assert type(reading_type.uom) is int
    warning = only_warning(doc, "unknown_code")
    assert isinstance(warning, UnknownCodeWarning)
    assert (warning.line, warning.element) == (8, "uom")


def test_known_code_becomes_its_enum_member() -> None:
    """uom 72 reads as UnitSymbolKind.Wh, with no warning (the contrast to unknown_code)."""
    doc = espi_sst.parse(entry("<espi:ReadingType><espi:uom>72</espi:uom></espi:ReadingType>"))
    assert content(doc).uom is UnitSymbolKind.Wh
    assert doc.warnings == []


def test_unknown_value_kept_as_text() -> None:
    """The GBA sandbox's ``response_types token`` (ESPI knows only 'code') is kept as text."""
    doc = espi_sst.parse(
        entry(
            "<espi:ApplicationInformation>\n<espi:response_types>token</espi:response_types>\n</espi:ApplicationInformation>"
        )
    )
    app = content(doc)
    assert isinstance(app, ApplicationInformation)
    assert app.response_types == "token"
    assert type(app.response_types) is str
    warning = only_warning(doc, "unknown_value")
    assert (warning.line, warning.element) == (8, "response_types")
    assert "'token'" in warning.message


def test_enum_case_read_as_the_schema_member() -> None:
    """``CLIENT_SECRET_BASIC`` is read as the enumeration's ``client_secret_basic``."""
    doc = espi_sst.parse(
        entry(
            "<espi:ApplicationInformation>\n"
            "<espi:token_endpoint_auth_method>CLIENT_SECRET_BASIC</espi:token_endpoint_auth_method>\n"
            "</espi:ApplicationInformation>"
        )
    )
    assert content(doc).token_endpoint_auth_method is TokenEndPointMethod.client_secret_basic
    warning = only_warning(doc, "enum_case")
    assert (warning.line, warning.element) == (8, "token_endpoint_auth_method")


def test_boolean_letter_case_read_as_boolean() -> None:
    """``True`` (capitalised, not xs:boolean) is read as True and reported as enum_case."""
    doc = espi_sst.parse(entry("<espi:UsagePoint><espi:isSdp>True</espi:isSdp></espi:UsagePoint>"))
    assert content(doc).is_sdp is True
    assert only_warning(doc, "enum_case").element == "isSdp"


# ---- structure -----------------------------------------------------------------------------
def test_element_order_read_anyway() -> None:
    """UtilityAPI and the GBA sandbox put children out of schema order; all are read."""
    doc = espi_sst.parse(
        entry(
            "<espi:ReadingType>\n"
            "<espi:uom>72</espi:uom>\n"
            "<espi:commodity>1</espi:commodity>\n"
            "<espi:accumulationBehaviour>4</espi:accumulationBehaviour>\n"
            "</espi:ReadingType>"
        )
    )
    reading_type = content(doc)
    assert (reading_type.uom, reading_type.commodity, reading_type.accumulation_behaviour) == (
        72,
        1,
        4,
    )
    warning = only_warning(doc, "element_order")
    assert warning.line == 9  # the first child that goes backwards
    assert warning.element == "ReadingType"


def test_element_name_case_read_as_schema_name() -> None:
    """SCE and the GBA capitalise ``ServiceDeliveryPoint``; it is read as serviceDeliveryPoint."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint>\n"
            "<espi:ServiceDeliveryPoint><espi:name>Main meter</espi:name></espi:ServiceDeliveryPoint>\n"
            "</espi:UsagePoint>"
        )
    )
    assert content(doc).service_delivery_point.name == "Main meter"
    warning = only_warning(doc, "element_name_case")
    assert (warning.line, warning.element) == (8, "ServiceDeliveryPoint")


def test_element_namespace_read_anyway() -> None:
    """An espi element written in the customer namespace (same name) is still read."""
    doc = espi_sst.parse(
        entry(
            "<espi:ReadingType>\n"
            '<c:uom xmlns:c="http://naesb.org/espi/customer">72</c:uom>\n'
            "</espi:ReadingType>"
        )
    )
    assert content(doc).uom is UnitSymbolKind.Wh
    warning = only_warning(doc, "element_namespace")
    assert (warning.line, warning.element) == (8, "uom")


def test_unknown_element_kept_in_extension_and_survives_round_trip() -> None:
    """UtilityAPI's ``thirdPartyName`` is kept in ``extension`` and written back, validly."""
    doc = espi_sst.parse(
        entry(
            "<espi:ReadingType>\n"
            "<espi:thirdPartyName>UtilityAPI</espi:thirdPartyName>\n"
            "<espi:uom>72</espi:uom>\n"
            "</espi:ReadingType>"
        )
    )
    reading_type = content(doc)
    assert reading_type.uom is UnitSymbolKind.Wh
    (extension,) = reading_type.extension
    assert isinstance(extension, Extension)
    (kept,) = extension.elements
    assert "thirdPartyName" in kept and "UtilityAPI" in kept and ESPI in kept
    warning = only_warning(doc, "unknown_element_kept")
    assert (warning.line, warning.element) == (8, "thirdPartyName")

    written = espi_sst.serialize(doc)
    assert b"UtilityAPI" in written
    again = espi_sst.parse(written)
    assert again == doc
    assert content(again).extension == [extension]
    assert again.warnings == []  # now in its proper place
    assert espi_sst.validate(written) == []


def test_unknown_foreign_element_kept_in_nested_structure() -> None:
    """UtilityAPI's ``timePeriod/timezone`` is kept in the DateTimeInterval's extension."""
    doc = espi_sst.parse(
        entry(
            "<espi:IntervalBlock><espi:IntervalReading><espi:timePeriod>\n"
            "<espi:duration>3600</espi:duration><espi:start>0</espi:start>\n"
            "<espi:timezone>America/Los_Angeles</espi:timezone>\n"
            "</espi:timePeriod><espi:value>1</espi:value></espi:IntervalReading></espi:IntervalBlock>"
        )
    )
    period = content(doc).interval_reading[0].time_period
    assert (period.start, period.duration) == (0, 3600)
    assert "America/Los_Angeles" in period.extension[0].elements[0]
    assert only_warning(doc, "unknown_element_kept").line == 9
    assert espi_sst.parse(espi_sst.serialize(doc)) == doc


def test_unknown_element_dropped_where_there_is_no_extension_point() -> None:
    """BatchList has no ``extension`` (not an Object): the unknown child is dropped, with a warning."""
    doc = espi_sst.parse(
        entry(
            "<espi:BatchList>\n"
            "<espi:resources>https://example.com/espi/1_1/resource/Batch/Subscription/1</espi:resources>\n"
            "<espi:comment>hello</espi:comment>\n"
            "</espi:BatchList>"
        )
    )
    batch = content(doc)
    assert isinstance(batch, BatchList)
    assert batch.resources == ["https://example.com/espi/1_1/resource/Batch/Subscription/1"]
    warning = only_warning(doc, "unknown_element_dropped")
    assert (warning.line, warning.element) == (9, "comment")
    assert b"hello" not in espi_sst.serialize(doc)


def test_repeated_element_keeps_the_first() -> None:
    doc = espi_sst.parse(
        entry(
            "<espi:ReadingType>\n<espi:uom>72</espi:uom>\n<espi:uom>38</espi:uom>\n</espi:ReadingType>"
        )
    )
    assert content(doc).uom is UnitSymbolKind.Wh
    warning = only_warning(doc, "repeated_element")
    assert (warning.line, warning.element) == (9, "uom")


# ---- Atom layer ----------------------------------------------------------------------------
def test_atom_metadata_in_content_read_as_entry_metadata() -> None:
    """UtilityAPI puts atom:published/updated inside atom:content; they become the entry's."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint/>\n"
            "<published>2024-01-02T03:04:05Z</published>\n"
            "<updated>2024-02-03T04:05:06Z</updated>"
        )
    )
    (item,) = doc.entries
    assert item.published.isoformat() == "2024-01-02T03:04:05+00:00"
    assert item.updated.isoformat() == "2024-02-03T04:05:06+00:00"
    assert isinstance(item.content, UsagePoint)
    assert item.contents == [UsagePoint()]
    found = [w for w in doc.warnings if w.code == "atom_metadata_in_content"]
    assert {(w.element, w.line) for w in found} == {("published", 8), ("updated", 9)}


def test_atom_metadata_in_content_does_not_override_the_entry_metadata() -> None:
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint/>\n<published>2024-01-02T03:04:05Z</published>",
            after="<published>2020-01-01T00:00:00Z</published>\n",
        )
    )
    assert doc.entries[0].published.year == 2020


def test_missing_up_link_derived_from_self() -> None:
    """Opower 2012 entries have ``self`` but no ``up``: up is the self href's collection."""
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint/>",
            links=f'<link rel="self" href="{SELF}"/>',
        )
    )
    (item,) = doc.entries
    assert item.up_href == "/espi/1_1/resource/Subscription/1/UsagePoint"
    warning = only_warning(doc, "missing_up_link")
    assert warning.line == 2  # the entry's own line


def test_unknown_content_ignored() -> None:
    doc = espi_sst.parse(
        entry('<x:Weather xmlns:x="urn:example:weather"><x:t>20</x:t></x:Weather>')
    )
    assert doc.entries[0].contents == []
    warning = only_warning(doc, "unknown_content")
    assert (warning.line, warning.element) == (7, "Weather")


def test_several_resources_all_kept() -> None:
    """Texas and Eversource put many IntervalBlocks in one entry; every one is kept."""
    blocks = "\n".join(
        f"<espi:IntervalBlock><espi:IntervalReading><espi:timePeriod><espi:duration>3600</espi:duration>"
        f"<espi:start>{3600 * i}</espi:start></espi:timePeriod><espi:value>{i}</espi:value>"
        f"</espi:IntervalReading></espi:IntervalBlock>"
        for i in range(3)
    )
    doc = espi_sst.parse(entry(blocks))
    (item,) = doc.entries
    assert [b.interval_reading[0].value for b in item.contents] == [0, 1, 2]
    assert [r.value for r in doc.interval_readings()] == [0, 1, 2]
    warning = only_warning(doc, "several_resources")
    assert warning.line == 8  # the second resource
    assert "and 1 more" in warning.message


def test_naive_datetime_read_as_utc() -> None:
    """SCE's ``2016-07-07T02:32:02`` (no zone) is read as UTC."""
    doc = espi_sst.parse(
        entry("<espi:UsagePoint/>", after="<updated>2016-07-07T02:32:02</updated>\n")
    )
    updated = doc.entries[0].updated
    assert updated.isoformat() == "2016-07-07T02:32:02+00:00"
    warning = only_warning(doc, "naive_datetime")
    assert (warning.line, warning.element) == (9, "updated")


def test_link_without_href_ignored() -> None:
    doc = espi_sst.parse(
        entry(
            "<espi:UsagePoint/>",
            links=f'<link rel="self" href="{SELF}"/>\n  <link rel="related"/>\n  <link rel="up" href="/x"/>',
        )
    )
    (item,) = doc.entries
    assert [link.rel for link in item.links] == ["self", "up"]
    warning = only_warning(doc, "link_without_href")
    assert warning.line == 5


def test_repeated_deviations_are_summarised_once_with_a_count() -> None:
    """A 5-year file with fractional times gives one warning with a count, not 175,000."""
    readings = "".join(
        f"<espi:IntervalReading><espi:timePeriod><espi:duration>3600</espi:duration>"
        f"<espi:start>{3600 * i}.5</espi:start></espi:timePeriod><espi:value>1</espi:value></espi:IntervalReading>"
        for i in range(50)
    )
    doc = espi_sst.parse(entry(f"<espi:IntervalBlock>{readings}</espi:IntervalBlock>"))
    warning = only_warning(doc, "fractional_timestamp")
    assert "and 49 more" in warning.message


# ---- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("xml", "code", "line"),
    [
        (
            entry(
                "<espi:UsageSummary>\n<espi:statusTimeStamp>1721154384123</espi:statusTimeStamp>\n</espi:UsageSummary>"
            ),
            "milliseconds_timestamp",
            8,
        ),
        (
            entry("<espi:UsagePoint>\n<espi:ServiceDeliveryPoint/>\n</espi:UsagePoint>"),
            "element_name_case",
            8,
        ),
        (
            entry("<espi:ReadingType>\n\n<espi:uom>999</espi:uom>\n</espi:ReadingType>"),
            "unknown_code",
            9,
        ),
        (
            entry("<espi:UsagePoint/>", links=f'<link rel="self" href="{SELF}"/>'),
            "missing_up_link",
            2,
        ),
    ],
    ids=["milliseconds_timestamp", "element_name_case", "unknown_code", "missing_up_link"],
)
def test_strict_mode_turns_a_deviation_into_a_parse_error_naming_the_line(
    xml: bytes, code: str, line: int
) -> None:
    """strict=True is for producers checking their own output: nothing is tolerated."""
    lenient = espi_sst.parse(xml)
    assert code in codes(lenient)
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(xml, strict=True)
    assert caught.value.code == code
    assert caught.value.line == line
    assert f"<bytes>:{line}:" in str(caught.value)
    assert "strict" in str(caught.value)


def test_strict_mode_accepts_a_clean_document() -> None:
    doc = espi_sst.parse(
        entry("<espi:ReadingType><espi:uom>72</espi:uom></espi:ReadingType>"), strict=True
    )
    assert content(doc).uom is UnitSymbolKind.Wh


PREFIXED = f"""<?xml version="1.0"?>
<{{a}}feed xmlns{{a_decl}}="{ATOM}" xmlns{{e_decl}}="{ESPI}">
  <{{a}}id>urn:uuid:feed</{{a}}id>
  <{{a}}entry>
    <{{a}}id>urn:uuid:1</{{a}}id>
    <{{a}}link rel="self" href="/espi/1_1/resource/ReadingType/1"/>
    <{{a}}link rel="up" href="/espi/1_1/resource/ReadingType"/>
    <{{a}}content>
      <{{e}}ReadingType><{{e}}powerOfTenMultiplier>-3</{{e}}powerOfTenMultiplier><{{e}}uom>72</{{e}}uom></{{e}}ReadingType>
    </{{a}}content>
  </{{a}}entry>
</{{a}}feed>
"""


def prefixed(atom_prefix: str, espi_prefix: str) -> bytes:
    def decl(prefix: str) -> str:
        return f":{prefix}" if prefix else ""

    def use(prefix: str) -> str:
        return f"{prefix}:" if prefix else ""

    if not espi_prefix:
        # Default namespace for espi elements: declare it on ReadingType itself.
        text = PREFIXED.format(a=use(atom_prefix), a_decl=decl(atom_prefix), e="", e_decl=":unused")
        return text.replace("<ReadingType>", f'<ReadingType xmlns="{ESPI}">').encode()
    return PREFIXED.format(
        a=use(atom_prefix), a_decl=decl(atom_prefix), e=use(espi_prefix), e_decl=decl(espi_prefix)
    ).encode()


def test_prefixes_do_not_matter() -> None:
    """Utilities change prefixes between releases (espi:, ns0:, default); only namespaces count."""
    variants = [
        prefixed("", "espi"),
        prefixed("atom", "ns0"),
        prefixed("ns2", ""),
        prefixed("", "ns"),
    ]
    docs = [espi_sst.parse(v) for v in variants]
    assert all(d == docs[0] for d in docs[1:])
    reading_type = docs[0].entries[0].content
    assert reading_type == ReadingType(power_of_ten_multiplier=-3, uom=UnitSymbolKind.Wh)
    assert all(d.warnings == [] for d in docs)


def test_non_integer_value_is_a_parse_error_naming_the_line() -> None:
    xml = entry(
        "<espi:IntervalBlock>\n<espi:IntervalReading>\n<espi:value>abc</espi:value>\n</espi:IntervalReading>\n</espi:IntervalBlock>"
    )
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(xml)
    assert caught.value.line == 9
    assert caught.value.code == "invalid_value"
    assert "'abc'" in str(caught.value)
    assert "<value>" in str(caught.value)


def test_invalid_boolean_and_date_are_parse_errors_naming_the_line() -> None:
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(
            entry("<espi:UsagePoint>\n<espi:isSdp>maybe</espi:isSdp>\n</espi:UsagePoint>")
        )
    assert (caught.value.line, caught.value.code) == (8, "invalid_value")
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(entry("<espi:UsagePoint/>", after="<updated>yesterday</updated>\n"))
    assert (caught.value.line, caught.value.code) == (9, "invalid_value")


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?>\n<html><body>Sign in to download your data</body></html>',
        b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>',
        b'<?xml version="1.0"?>\n<x:UsagePoint xmlns:x="urn:not-espi"/>',
    ],
    ids=["html", "rss", "wrong-namespace"],
)
def test_non_espi_root_is_a_parse_error(xml: bytes) -> None:
    """A login page or another feed format is refused, not read as an empty document."""
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(xml)
    assert caught.value.code == "not_espi"
    assert caught.value.line == 2


def test_bare_resource_root_is_read() -> None:
    """A bare ESPI resource (as in a push-notification BatchList) is a one-entry document."""
    doc = espi_sst.parse(
        f'<BatchList xmlns="{ESPI}"><resources>https://x/1</resources></BatchList>'.encode()
    )
    assert doc.feed is None
    assert content(doc) == BatchList(resources=["https://x/1"])


# ---- sources -------------------------------------------------------------------------------
SAMPLE = entry("<espi:ReadingType><espi:uom>72</espi:uom></espi:ReadingType>")


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "reading-type.xml"
    path.write_bytes(SAMPLE)
    return path


def test_bytes_path_and_binary_file_sources_all_work(sample_file: Path) -> None:
    expected = espi_sst.parse(SAMPLE)
    with sample_file.open("rb") as handle:
        from_file = espi_sst.parse(handle)
    sources = {
        "bytes": expected,
        "bytearray": espi_sst.parse(bytearray(SAMPLE)),
        "memoryview": espi_sst.parse(memoryview(SAMPLE)),
        "str path": espi_sst.parse(str(sample_file)),
        "pathlib": espi_sst.parse(sample_file),
        "binary file": from_file,
        "BytesIO": espi_sst.parse(io.BytesIO(SAMPLE)),
    }
    for name, doc in sources.items():
        assert doc == expected, name
    assert sources["str path"].source == str(sample_file)
    assert sources["pathlib"].source == str(sample_file)
    assert sources["bytes"].source == "<bytes>"
    assert sources["binary file"].source == str(sample_file)


def test_parse_does_not_close_a_caller_file_but_closes_its_own(sample_file: Path) -> None:
    with sample_file.open("rb") as handle:
        espi_sst.parse(handle)
        assert not handle.closed


def test_text_mode_file_object_is_a_type_error(sample_file: Path) -> None:
    """A file opened with 'r' would decode bytes twice; the caller is told to use 'rb'."""
    with sample_file.open("r") as handle:
        with pytest.raises(TypeError, match="binary mode"):
            espi_sst.parse(handle)


def test_unsupported_source_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        espi_sst.parse(12345)  # type: ignore[arg-type]


def test_missing_file_is_a_parse_error_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-download.xml"
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(missing)
    assert caught.value.code == "not_found"
    assert str(missing) in str(caught.value)
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(str(missing))
    assert caught.value.code == "not_found"


def test_directory_is_a_parse_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(tmp_path)
    assert caught.value.code == "not_found"


def test_truncated_input_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(b"<entry")
    assert caught.value.code == "malformed_xml"
    assert "not well-formed" in str(caught.value)


@pytest.mark.parametrize(
    "xml", [b"", b"   \n", b"\xef\xbb\xbf"], ids=["empty", "blank", "bom-only"]
)
def test_empty_input_is_refused_as_empty(xml: bytes) -> None:
    """Issue 18: an empty download says so, rather than "not well-formed"."""
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(xml)
    assert caught.value.code == "empty"
    assert "the file is empty" in str(caught.value)


def test_warnings_are_espi_warnings_with_a_readable_str() -> None:
    """Warnings print as ``line N: message [code]`` for logs and the CLI."""
    doc = espi_sst.parse(entry("<espi:ReadingType>\n<espi:uom>999</espi:uom>\n</espi:ReadingType>"))
    (warning,) = doc.warnings
    assert isinstance(warning, EspiWarning)
    assert isinstance(warning, UserWarning)
    assert str(warning).startswith("line 8: ")
    assert str(warning).endswith("[unknown_code]")
