"""The resource graph (espi_sst/_links.py): one set of rules for both readers.

:class:`~espi_sst.Document` and the streaming reader used to resolve links each their own
way (issue 19), and disagreed where the ESPI layout is followed less literally: a
UsagePoint naming its LocalTimeParameters through their collection, or blocks whose hrefs
carry no MeterReading path.  Now both ask one :class:`LinkIndex`; these cases pin that they
agree, and the index's rules themselves.
"""

from __future__ import annotations

import espi_sst
from espi_sst._links import LinkIndex, normalize_href
from espi_sst.model._base import ModelObject
from espi_sst.model.atom import Entry, Link
from espi_sst.model.espi import (
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsagePoint,
)

FEED = '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">{}</feed>'


def entry(self: str, up: str, content: str, *related: str) -> str:
    links = "".join(f'<link rel="related" href="{href}"/>' for href in related)
    return (
        f'<entry><link rel="self" href="{self}"/><link rel="up" href="{up}"/>{links}'
        f"<content>{content}</content></entry>"
    )


def ltp(offset: int) -> str:
    return (
        "<espi:LocalTimeParameters><espi:dstEndRule>B40E2000</espi:dstEndRule>"
        "<espi:dstOffset>3600</espi:dstOffset><espi:dstStartRule>360E2000</espi:dstStartRule>"
        f"<espi:tzOffset>{offset}</espi:tzOffset></espi:LocalTimeParameters>"
    )


READING_TYPE = (
    "<espi:ReadingType><espi:powerOfTenMultiplier>3</espi:powerOfTenMultiplier>"
    "<espi:uom>72</espi:uom></espi:ReadingType>"
)
BLOCK = (
    "<espi:IntervalBlock><espi:IntervalReading><espi:timePeriod><espi:duration>3600"
    "</espi:duration><espi:start>1704067200</espi:start></espi:timePeriod>"
    "<espi:value>5</espi:value></espi:IntervalReading></espi:IntervalBlock>"
)


def contexts_agree(xml: bytes) -> list[tuple[object, ...]]:
    """(usage point, meter reading, reading type href, time zone) of every reading, as
    parse() and the stream see it; asserts they are the same and returns them."""
    whole = [
        (c.usage_point, c.meter_reading, c.reading_type_href, c.time_zone)
        for c in (r.context for r in espi_sst.parse(xml).interval_readings())
    ]
    streamed = [
        (c.usage_point, c.meter_reading, c.reading_type_href, c.time_zone)
        for c in (r.context for r in espi_sst.iter_interval_readings(xml))
    ]
    assert streamed == whole
    return whole


def test_local_time_named_through_its_collection_is_found_by_both_readers() -> None:
    """The UsagePoint's related link names the LocalTimeParameters collection; the file
    has two clocks, so neither reader may fall back to "the only one"."""
    xml = FEED.format(
        entry("/LocalTimeParameters/1", "/LocalTimeParameters/Pacific", ltp(-28800))
        + entry("/LocalTimeParameters/2", "/LocalTimeParameters/Eastern", ltp(-18000))
        + entry(
            "/UsagePoint/1",
            "/UsagePoint",
            "<espi:UsagePoint/>",
            "/LocalTimeParameters/Eastern",
            "/UsagePoint/1/MeterReading",
        )
        + entry("/ReadingType/1", "/ReadingType", READING_TYPE)
        + entry(
            "/UsagePoint/1/MeterReading/1",
            "/UsagePoint/1/MeterReading",
            "<espi:MeterReading/>",
            "/ReadingType/1",
        )
        + entry(
            "/UsagePoint/1/MeterReading/1/IntervalBlock/1",
            "/UsagePoint/1/MeterReading/1/IntervalBlock",
            BLOCK,
        )
    ).encode()
    ((point, meter, reading_type, zone),) = contexts_agree(xml)
    assert (point, meter, reading_type) == (
        "/UsagePoint/1",
        "/UsagePoint/1/MeterReading/1",
        "/ReadingType/1",
    )
    assert zone is not None and zone.utcoffset(None).total_seconds() == -18000


def test_a_block_whose_href_names_no_meter_reading_has_none_in_both_readers() -> None:
    xml = FEED.format(
        entry("/ReadingType/1", "/ReadingType", READING_TYPE) + entry("/Blocks/1", "/Blocks", BLOCK)
    ).encode()
    assert contexts_agree(xml) == [(None, None, "/ReadingType/1", None)]


def test_a_meter_reading_naming_its_blocks_from_elsewhere_is_their_parent() -> None:
    """Flat hrefs: the MeterReading's related link names the block collection."""
    xml = FEED.format(
        entry("/UsagePoint/7", "/UsagePoint", "<espi:UsagePoint/>", "/MeterReading/Set7")
        + entry("/ReadingType/1", "/ReadingType", READING_TYPE)
        + entry("/ReadingType/2", "/ReadingType", READING_TYPE)
        + entry(
            "/MeterReading/3",
            "/MeterReading/Set7",
            "<espi:MeterReading/>",
            "/ReadingType/2",
            "/Blocks/OfMeter3",
        )
        + entry("/Blocks/OfMeter3/1", "/Blocks/OfMeter3", BLOCK)
    ).encode()
    assert contexts_agree(xml) == [("/UsagePoint/7", "/MeterReading/3", "/ReadingType/2", None)]


# ---- the index's rules ---------------------------------------------------------------------
def link_entry(content: ModelObject, self: str, up: str, *related: str) -> Entry:
    links = [
        Link(rel="self", href=self),
        Link(rel="up", href=up),
        *(Link(rel="related", href=href) for href in related),
    ]
    return Entry(content=content, links=links)


def test_the_first_parent_in_document_order_wins_and_duplicates_are_reported() -> None:
    first = link_entry(MeterReading(), "/MR/1", "/MR", "/Blocks")
    second = link_entry(MeterReading(), "/MR/2", "/MR", "/Blocks")
    index = LinkIndex()
    assert index.add(first) is None and index.add(second) is None
    assert index.parent("/Blocks/9", "/Blocks", MeterReading) is first
    assert index.parent("/Blocks/9", "/Blocks", UsagePoint) is None
    again = link_entry(MeterReading(), "https://host/MR/1/", "/MR")
    assert index.add(again) is first
    assert index.entry("/MR/1") is first


def test_children_are_found_by_collection_by_name_and_under_the_parents_href() -> None:
    point = link_entry(UsagePoint(), "/UP/1", "/UP", "/LTP/1", "/UP/1/MeterReading")
    clock = link_entry(LocalTimeParameters(), "/LTP/1", "/LTP")
    meter = link_entry(MeterReading(), "/UP/1/MeterReading/1", "/UP/1/MeterReading")
    block = link_entry(
        IntervalBlock(),
        "/UP/1/MeterReading/1/IntervalBlock/1",
        "/UP/1/MeterReading/1/IntervalBlock",
    )
    other = link_entry(ReadingType(), "/RT/1", "/RT")
    index = LinkIndex([point, clock, meter, block, other])
    assert index.children(point) == [clock, meter, block]
    assert index.children(point, MeterReading) == [meter]
    assert index.local_time_parameters(point) is clock.content
    assert index.only(ReadingType) is other and index.only(UsagePoint) is point
    links = index.block_links(block.self_href, block.up_href)
    assert (links.meter_reading, links.usage_point, links.reading_type) == (meter, point, other)


def test_hrefs_compare_by_path() -> None:
    assert normalize_href("https://utility.example/a/b/") == normalize_href("/a/b") == "/a/b"
