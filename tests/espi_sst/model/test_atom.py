"""The Atom layer of the model (espi_sst/model/atom.py): entries and their links.

An entry names itself and its relatives by links, and usually carries one resource; real
files put several IntervalBlocks in one entry (Texas, Eversource), so ``contents`` keeps
them all and ``content`` is the first.  The source line is where an entry came from, not
part of what it is.
"""

from __future__ import annotations

from espi_sst.model import IntervalBlock, MeterReading
from espi_sst.model.atom import Entry, Feed, Link


def test_links_are_read_by_rel_the_first_of_each_winning() -> None:
    entry = Entry(
        links=[
            Link(rel="related", href="/ReadingType/1"),
            Link(rel="self", href="/MeterReading/1"),
            Link(rel="up", href="/MeterReading"),
            Link(rel="self", href="/MeterReading/2"),
            Link(rel="related", href="/MeterReading/1/IntervalBlock"),
        ]
    )
    assert entry.self_href == "/MeterReading/1" and entry.up_href == "/MeterReading"
    assert entry.related_hrefs == ["/ReadingType/1", "/MeterReading/1/IntervalBlock"]
    assert entry.link("alternate") is None
    assert (Entry().self_href, Entry().up_href, Entry().related_hrefs) == (None, None, [])


def test_content_is_the_first_of_the_contents() -> None:
    first, second = IntervalBlock(), IntervalBlock(interval_reading=[])
    several = Entry(contents=[first, second])
    assert several.content is first and several.contents == [first, second]
    one = Entry(content=MeterReading())
    assert one.contents == [MeterReading()]
    assert Entry().content is None and Entry().contents == []


def test_entries_compare_by_what_they_hold_not_where_they_were_read() -> None:
    link = Link(rel="self", href="/MeterReading/1")
    assert Entry(links=[link], content=MeterReading(), line=3) == Entry(
        links=[link], content=MeterReading(), line=40
    )
    assert Entry(links=[link]) != Entry(links=[Link(rel="self", href="/MeterReading/2")])


def test_a_feed_keeps_its_entries_in_order() -> None:
    entries = [Entry(id="urn:1"), Entry(id="urn:2")]
    feed = Feed(id="urn:feed", title="t", entries=entries)
    assert [e.id for e in feed.entries] == ["urn:1", "urn:2"]
    assert Feed().entries == [] and Feed().links == []
