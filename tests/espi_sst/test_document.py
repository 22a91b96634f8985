"""The resource graph of a Green Button document, resolved by href -- never by position.

ESPI ties a reading to its meaning through Atom links: UsagePoint -> MeterReading ->
ReadingType (unit, power of ten) and IntervalBlock.  Utilities order entries differently,
mix absolute and relative hrefs, or send IntervalBlocks alone (PG&E's API).  These tests
protect what a user sees in every case: each reading belongs to the right UsagePoint and
is scaled by the right ReadingType.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from corpus_data import CORPUS

import espi_sst
from espi_sst import Document
from espi_sst.document import normalize_href
from espi_sst.model import (
    ElectricPowerUsageSummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsagePoint,
    UsageSummary,
)
from espi_sst.model.enums import QualityOfReading, UnitSymbolKind

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
HOST = "https://utility.example"
SUB = "/DataCustodian/espi/1_1/resource/Subscription/5"


def entry_xml(self_href: str, up_href: str, content: str, related: tuple[str, ...] = ()) -> str:
    links = [f'<link rel="self" href="{self_href}"/>', f'<link rel="up" href="{up_href}"/>']
    links += [f'<link rel="related" href="{href}"/>' for href in related]
    return f"<entry><id>urn:{self_href}</id>{''.join(links)}<content>{content}</content></entry>"


def feed_xml(entries: list[str]) -> bytes:
    return (
        f'<?xml version="1.0"?><feed xmlns="{ATOM}" xmlns:espi="{ESPI}"><id>urn:feed</id>'
        f"<title>t</title>{''.join(entries)}</feed>"
    ).encode()


def block(start: int, values: list[int], *, cost: bool = False, quality: int | None = None) -> str:
    readings = ""
    for i, value in enumerate(values):
        extra = f"<espi:cost>{value * 1000}</espi:cost>" if cost else ""
        if quality is not None:
            extra += (
                f"<espi:ReadingQuality><espi:quality>{quality}</espi:quality></espi:ReadingQuality>"
            )
        readings += (
            f"<espi:IntervalReading>{extra}<espi:timePeriod><espi:duration>3600</espi:duration>"
            f"<espi:start>{start + 3600 * i}</espi:start></espi:timePeriod><espi:value>{value}</espi:value>"
            "</espi:IntervalReading>"
        )
    return (
        f"<espi:IntervalBlock><espi:interval><espi:duration>{3600 * len(values)}</espi:duration>"
        f"<espi:start>{start}</espi:start></espi:interval>{readings}</espi:IntervalBlock>"
    )


def reading_type(multiplier: int, uom: int = 72) -> str:
    return (
        f"<espi:ReadingType><espi:intervalLength>3600</espi:intervalLength>"
        f"<espi:powerOfTenMultiplier>{multiplier}</espi:powerOfTenMultiplier><espi:uom>{uom}</espi:uom></espi:ReadingType>"
    )


def two_usage_points(absolute: bool = False) -> list[str]:
    """Two UsagePoints, each with one MeterReading whose ReadingType differs only in scale.

    UsagePoint 1 reads Wh (multiplier 0); UsagePoint 2 reads Wh x 10^3 (i.e. kWh).
    """
    base = HOST + SUB if absolute else SUB
    entries = [
        entry_xml(
            f"{HOST}/DataCustodian/espi/1_1/resource/LocalTimeParameters/1",
            f"{HOST}/DataCustodian/espi/1_1/resource/LocalTimeParameters",
            "<espi:LocalTimeParameters><espi:dstEndRule>B40E2000</espi:dstEndRule><espi:dstOffset>3600</espi:dstOffset>"
            "<espi:dstStartRule>360E2000</espi:dstStartRule><espi:tzOffset>-28800</espi:tzOffset></espi:LocalTimeParameters>",
        ),
    ]
    for n, multiplier, values in ((1, 0, [100, 200, 300]), (2, 3, [5, 7])):
        up = f"{base}/UsagePoint/{n}"
        entries += [
            entry_xml(
                up,
                f"{base}/UsagePoint",
                "<espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory></espi:UsagePoint>",
                (f"{up}/MeterReading", "/DataCustodian/espi/1_1/resource/LocalTimeParameters/1"),
            ),
            entry_xml(
                f"{up}/MeterReading/1",
                f"{SUB}/UsagePoint/{n}/MeterReading",  # always relative: mixes with absolute
                "<espi:MeterReading/>",
                (
                    f"{up}/MeterReading/1/IntervalBlock",
                    f"{HOST}/DataCustodian/espi/1_1/resource/ReadingType/{n}",
                ),
            ),
            entry_xml(
                f"/DataCustodian/espi/1_1/resource/ReadingType/{n}",
                "/DataCustodian/espi/1_1/resource/ReadingType",
                reading_type(multiplier),
            ),
            entry_xml(
                f"{up}/MeterReading/1/IntervalBlock/1",
                f"{up}/MeterReading/1/IntervalBlock",
                block(1704067200, values),
            ),
            entry_xml(
                f"{up}/UsageSummary/1",
                f"{up}/UsageSummary",
                "<espi:UsageSummary><espi:statusTimeStamp>1704067200</espi:statusTimeStamp></espi:UsageSummary>",
            ),
        ]
    return entries


def by_usage_point(doc: Document) -> dict[str, list[tuple[int, int, float, str]]]:
    """usage point path -> sorted (start, value, scaled value, unit)."""
    out: dict[str, list[tuple[int, int, float, str]]] = defaultdict(list)
    for r in doc.interval_readings():
        assert r.context.usage_point is not None
        out[normalize_href(r.context.usage_point)].append(
            (r.start, r.value, r.scaled_value, r.unit)
        )
    return {k: sorted(v) for k, v in out.items()}


EXPECTED = {
    f"{SUB}/UsagePoint/1": [
        (1704067200, 100, 100.0, "Wh"),
        (1704070800, 200, 200.0, "Wh"),
        (1704074400, 300, 300.0, "Wh"),
    ],
    f"{SUB}/UsagePoint/2": [(1704067200, 5, 5000.0, "Wh"), (1704070800, 7, 7000.0, "Wh")],
}


# ---- the link graph ----------------------------------------------------------------------
def test_two_usage_points_with_different_reading_types_scale_correctly() -> None:
    """multiplier 0 vs 3: the same raw numbers mean Wh at one meter, kWh at the other."""
    doc = espi_sst.parse(feed_xml(two_usage_points()))
    assert by_usage_point(doc) == EXPECTED


@pytest.mark.parametrize("seed", range(6))
def test_graph_is_resolved_by_href_not_position(seed: int) -> None:
    """Shuffling the entries changes nothing: each reading keeps its UsagePoint and scale."""
    entries = two_usage_points()
    random.Random(seed).shuffle(entries)
    doc = espi_sst.parse(feed_xml(entries))
    assert by_usage_point(doc) == EXPECTED
    for r in doc.interval_readings():
        n = r.context.usage_point.rsplit("/", 1)[1]
        assert r.context.reading_type_href == f"/DataCustodian/espi/1_1/resource/ReadingType/{n}"


@pytest.mark.parametrize("seed", range(3))
def test_streaming_agrees_with_the_graph_when_parents_come_first(seed: int) -> None:
    """iter_interval_readings resolves the same ReadingType per block as parse()."""
    entries = two_usage_points()
    blocks = [e for e in entries if "IntervalBlock>" in e]
    others = [e for e in entries if e not in blocks]
    random.Random(seed).shuffle(others)
    xml = feed_xml(others + blocks)
    streamed: dict[str, list[tuple[int, int, float, str]]] = defaultdict(list)
    for r in espi_sst.iter_interval_readings(xml):
        streamed[normalize_href(r.context.usage_point)].append(
            (r.start, r.value, r.scaled_value, r.unit)
        )
    assert {k: sorted(v) for k, v in streamed.items()} == EXPECTED


def test_absolute_and_relative_hrefs_resolve_to_the_same_resources() -> None:
    """Absolute self links and relative up/related links (or the reverse) join up."""
    relative = espi_sst.parse(feed_xml(two_usage_points(absolute=False)))
    absolute = espi_sst.parse(feed_xml(two_usage_points(absolute=True)))
    assert by_usage_point(absolute) == by_usage_point(relative) == EXPECTED


@pytest.mark.parametrize(
    ("href", "normal"),
    [
        (
            "https://utility.example/espi/1_1/resource/UsagePoint/1",
            "/espi/1_1/resource/UsagePoint/1",
        ),
        (
            "https://utility.example:8443/espi/1_1/resource/UsagePoint/1/",
            "/espi/1_1/resource/UsagePoint/1",
        ),
        ("/espi/1_1/resource/UsagePoint/1", "/espi/1_1/resource/UsagePoint/1"),
        ("espi/1_1/resource/UsagePoint/1", "/espi/1_1/resource/UsagePoint/1"),
        ("  /espi/1_1/resource/UsagePoint/1/  ", "/espi/1_1/resource/UsagePoint/1"),
        ("/espi/1_1/resource/UsagePoint/1?depth=2", "/espi/1_1/resource/UsagePoint/1"),
        ("https://utility.example/espi/UsagePoint/1?depth=2", "/espi/UsagePoint/1"),
        ("https://utility.example", "/"),
    ],
)
def test_normalize_href(href: str, normal: str) -> None:
    assert normalize_href(href) == normal


def test_absolute_and_relative_forms_of_one_href_compare_equal() -> None:
    assert normalize_href(f"{HOST}{SUB}/UsagePoint/1") == normalize_href(f"{SUB}/UsagePoint/1/")


def test_navigation_methods_follow_links() -> None:
    doc = espi_sst.parse(feed_xml(two_usage_points(absolute=True)))
    points = doc.usage_points
    assert [p.self_href for p in points] == [
        f"{HOST}{SUB}/UsagePoint/1",
        f"{HOST}{SUB}/UsagePoint/2",
    ]
    for n, point in enumerate(points, 1):
        (meter_reading,) = doc.meter_readings(point)
        assert isinstance(meter_reading.content, MeterReading)
        (block_entry,) = doc.interval_blocks(meter_reading)
        assert isinstance(block_entry.content, IntervalBlock)
        assert doc.reading_type(meter_reading).power_of_ten_multiplier == (0 if n == 1 else 3)
        assert isinstance(doc.local_time_parameters(point), LocalTimeParameters)
        (summary,) = doc.usage_summaries(point)
        assert isinstance(summary.content, UsageSummary)
        ctx = doc.block_context(block_entry)
        assert ctx.usage_point == point.self_href
        assert ctx.meter_reading == meter_reading.self_href
    assert doc.entry_by_href(f"{SUB}/UsagePoint/2/") is points[1]
    assert doc.entry_by_href("/nowhere") is None
    assert doc.resource_counts() == {
        "LocalTimeParameters": 1,
        "UsagePoint": 2,
        "MeterReading": 2,
        "ReadingType": 2,
        "IntervalBlock": 2,
        "UsageSummary": 2,
    }
    assert len(doc.resources(ReadingType)) == 2
    assert len(doc.resources()) == 11


def test_meter_reading_linking_only_its_first_block_still_finds_all() -> None:
    """Opower links only IntervalBlock/1; blocks nested under the MeterReading's href count."""
    mr = f"{SUB}/UsagePoint/1/MeterReading/1"
    entries = [
        entry_xml(
            f"{SUB}/UsagePoint/1",
            f"{SUB}/UsagePoint",
            "<espi:UsagePoint/>",
            (f"{SUB}/UsagePoint/1/MeterReading",),
        ),
        entry_xml(
            mr,
            f"{SUB}/UsagePoint/1/MeterReading",
            "<espi:MeterReading/>",
            (f"{mr}/IntervalBlock/1", "/ReadingType/9"),
        ),
        entry_xml("/ReadingType/9", "/ReadingType", reading_type(-3)),
        entry_xml(f"{mr}/IntervalBlock/1", f"{mr}/IntervalBlock", block(0, [1000])),
        entry_xml(f"{mr}/IntervalBlock/2", f"{mr}/IntervalBlock", block(3600, [2000])),
    ]
    doc = espi_sst.parse(feed_xml(entries))
    (meter_reading,) = doc.meter_readings(doc.usage_points[0])
    assert [b.self_href for b in doc.interval_blocks(meter_reading)] == [
        f"{mr}/IntervalBlock/1",
        f"{mr}/IntervalBlock/2",
    ]
    assert [r.scaled_value for r in doc.interval_readings()] == [1.0, 2.0]


def test_ambiguous_reading_type_is_not_guessed() -> None:
    """Two ReadingTypes and no related link: readings stay unscaled rather than wrongly scaled."""
    mr = f"{SUB}/UsagePoint/1/MeterReading/1"
    entries = [
        entry_xml(mr, f"{SUB}/UsagePoint/1/MeterReading", "<espi:MeterReading/>"),
        entry_xml("/ReadingType/1", "/ReadingType", reading_type(3)),
        entry_xml("/ReadingType/2", "/ReadingType", reading_type(-3)),
        entry_xml(f"{mr}/IntervalBlock/1", f"{mr}/IntervalBlock", block(0, [7])),
    ]
    (reading,) = espi_sst.parse(feed_xml(entries)).interval_readings()
    assert reading.context.reading_type is None
    assert (reading.scaled_value, reading.unit) == (7.0, "")


def test_the_only_reading_type_is_used_when_none_is_linked() -> None:
    mr = f"{SUB}/UsagePoint/1/MeterReading/1"
    entries = [
        entry_xml("/ReadingType/1", "/ReadingType", reading_type(3)),
        entry_xml(f"{mr}/IntervalBlock/1", f"{mr}/IntervalBlock", block(0, [7])),
    ]
    (reading,) = espi_sst.parse(feed_xml(entries)).interval_readings()
    assert (reading.scaled_value, reading.unit) == (7000.0, "Wh")


def test_interval_block_only_feed_takes_usage_point_from_the_href() -> None:
    """PG&E's IntervalBlock response has no UsagePoint/MeterReading entries at all."""
    doc = espi_sst.parse(CORPUS / "pge-cmd_IntervalBlock.xml")
    assert doc.resource_counts() == {"IntervalBlock": 24}
    assert doc.usage_points == []
    readings = list(doc.interval_readings())
    assert len(readings) == 2556
    usage_points = {r.context.usage_point for r in readings}
    meter_readings = {r.context.meter_reading for r in readings}
    assert len(usage_points) == 1
    (usage_point,) = usage_points
    assert usage_point is not None and usage_point.split("/")[-2] == "UsagePoint"
    assert all(
        mr is not None and mr.startswith(usage_point + "/MeterReading/") for mr in meter_readings
    )
    for block_entry in doc.entries:
        assert block_entry.self_href.startswith(usage_point + "/")
    # No ReadingType in the document: values stay unscaled and unitless, never guessed.
    assert all(r.context.reading_type is None and r.unit == "" for r in readings)
    assert all(r.scaled_value == float(r.value) for r in readings)


# ---- readings of a document ---------------------------------------------------------------
def test_readings_from_a_document_carry_cost_quality_and_local_time() -> None:
    mr = f"{SUB}/UsagePoint/1/MeterReading/1"
    entries = [
        entry_xml(
            f"{SUB}/UsagePoint/1",
            f"{SUB}/UsagePoint",
            "<espi:UsagePoint/>",
            (f"{SUB}/UsagePoint/1/MeterReading", "/LocalTimeParameters/1"),
        ),
        entry_xml(
            "/LocalTimeParameters/1",
            "/LocalTimeParameters",
            "<espi:LocalTimeParameters><espi:dstEndRule>B40E2000</espi:dstEndRule><espi:dstOffset>3600</espi:dstOffset>"
            "<espi:dstStartRule>360E2000</espi:dstStartRule><espi:tzOffset>-18000</espi:tzOffset></espi:LocalTimeParameters>",
        ),
        entry_xml(
            mr, f"{SUB}/UsagePoint/1/MeterReading", "<espi:MeterReading/>", ("/ReadingType/1",)
        ),
        entry_xml("/ReadingType/1", "/ReadingType", reading_type(-3)),
        entry_xml(
            f"{mr}/IntervalBlock/1",
            f"{mr}/IntervalBlock",
            block(1720000000, [1500, 2500], cost=True, quality=19),
        ),
    ]
    first, second = espi_sst.parse(feed_xml(entries)).interval_readings()
    assert (first.scaled_value, first.unit) == (1.5, "Wh")
    assert first.cost == 1_500_000
    assert first.cost_amount == pytest.approx(15.0)  # costs are not scaled by powerOfTenMultiplier
    assert second.quality_kind is QualityOfReading.revenue_quality
    assert first.start_local.utcoffset().total_seconds() == -4 * 3600  # July: EDT
    assert first.start_local.isoformat() == "2024-07-03T05:46:40-04:00"


# ---- Document ----------------------------------------------------------------------------
def test_documents_with_different_feed_metadata_differ() -> None:
    a = espi_sst.parse(feed_xml(two_usage_points()))
    b = espi_sst.parse(
        feed_xml(two_usage_points()).replace(b"<title>t</title>", b"<title>other</title>")
    )
    assert a != b
    assert a == espi_sst.parse(feed_xml(two_usage_points()))
    assert a != "not a document"


def test_electric_power_usage_summary_counts_as_a_usage_summary() -> None:
    """The deprecated ElectricPowerUsageSummary (Texas, GBA samples) is still a summary."""
    doc = espi_sst.parse(CORPUS / "us-utility-export_testdata_hourly.xml")
    (point,) = doc.usage_points
    summaries = doc.usage_summaries(point)
    assert [type(s.content) for s in summaries] == [ElectricPowerUsageSummary]


def test_ameren_file_reads_every_reading_at_its_usage_point() -> None:
    """Ameren (Bidgely) lists 4 UsagePoints but one MeterReading: readings go to the right one."""
    doc = espi_sst.parse(CORPUS / "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml")
    readings = list(doc.interval_readings())
    assert len(readings) == 96
    (usage_point,) = {r.context.usage_point for r in readings}
    assert doc.entry_by_href(usage_point) is not None
    assert isinstance(doc.entry_by_href(usage_point).content, UsagePoint)
    assert {r.unit for r in readings} == {UnitSymbolKind.Wh.name}
