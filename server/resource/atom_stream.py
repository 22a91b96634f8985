"""Writing an Atom feed as a stream: the head, then entry after entry, then ``</feed>``.

The big feeds (Subscription, Batch/Subscription, IntervalBlock, Batch/Bulk) may hold years
of interval data; building the whole model and serializing it at once held the document
three times in memory and sent nothing before the last byte was ready.  Here:

* the feed's head (id, title, updated, self link) and every entry other than an
  IntervalBlock are written by ``espi_sst.serialize`` -- the same checked writer as
  before -- one entry at a time;
* an IntervalBlock entry, nearly all of the bytes, is written from a template prepared
  once per meter reading (its hrefs escaped once) and one formatted string per reading,
  in exactly the bytes ``espi_sst.serialize`` writes (``tests/server/resource/
  test_streamed_feeds.py`` compares them); a reading the template cannot prove valid
  (a value outside Int48, an unknown quality code ...) goes through ``espi_sst.serialize``
  instead, which refuses it with its usual message.

The document is XML-equivalent to the one-piece serialization, and byte-identical when no
entry carries the SST namespace (an entry that does declares it on itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import espi_sst
from espi_sst.model import Entry, Feed
from espi_sst.model import espi as espi_types

from .blocks import DayBlock
from .build import EntryBuilder
from .urls import urn_for_path

ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
_ROOT_OPEN = f'<feed xmlns="{ATOM_NS}">'.encode()
_ROOT_OPEN_WITH_ESPI = f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">'.encode()
_ENTRY_OPEN = f'<entry xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">'.encode()
_FEED_CLOSE = b"</feed>"

# The schema's bounds, as the checked writer applies them (espi.xsd Int48, UInt32, TimeType).
INT48 = (int(espi_types.INT48.min_value or 0), int(espi_types.INT48.max_value or 0))
UINT32_MAX = int(espi_types.UINT32.max_value or 0)
INT64 = (int(espi_types.TIME_TYPE.min_value or 0), int(espi_types.TIME_TYPE.max_value or 0))
QUALITY_CODES = range(-32768, 65536)
"""What the checked writer takes for a QualityOfReading code (the schema's unions allow
values beyond the listed ones)."""


@dataclass(frozen=True)
class BlockEntry:
    """An IntervalBlock entry still to be written (``subscription.py`` yields these)."""

    builder: EntryBuilder
    point_uuid: str
    reading_uuid: str
    block: DayBlock

    @property
    def id(self) -> str:
        return urn_for_path(f"MeterReading/{self.reading_uuid}/IntervalBlock/{self.block.start}")


FeedItem = Entry | BlockEntry


def feed_head(feed: Feed) -> bytes:
    """The feed's XML declaration, start tag (Atom and ESPI namespaces) and its own
    elements, without ``</feed>``."""
    whole = espi_sst.serialize(feed, pretty=False)
    assert whole.endswith(_FEED_CLOSE) and not feed.entries
    head = whole[: -len(_FEED_CLOSE)]
    return head.replace(_ROOT_OPEN, _ROOT_OPEN_WITH_ESPI, 1)


def entry_bytes(entry: Entry) -> bytes:
    """One entry as it appears inside the feed (namespaces the feed declares left out)."""
    text = espi_sst.serialize(entry, pretty=False)
    if text.startswith(_DECLARATION):
        text = text[len(_DECLARATION) :]
    if text.startswith(_ENTRY_OPEN):
        text = b"<entry>" + text[len(_ENTRY_OPEN) :]
    return text


def _stamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class BlockTemplate:
    """The fixed text of one meter reading's IntervalBlock entries, escaped once."""

    def __init__(self, builder: EntryBuilder, point_uuid: str, reading_uuid: str) -> None:
        u, sid = builder.urls, builder.sid
        collection = u.interval_blocks(sid, point_uuid, reading_uuid)
        self.self_prefix = "<link href=" + quoteattr(collection + "/")[:-1]
        self.rest_of_links = (
            '" rel="self" type="espi-entry/IntervalBlock"/>'
            f'<link href={quoteattr(collection)} rel="up" type="espi-feed/IntervalBlock"/>'
            f"<link href={quoteattr(u.meter_reading(sid, point_uuid, reading_uuid))} "
            'rel="related" type="espi-entry/MeterReading"/>'
            '<title>IntervalBlock</title><content type="xml"><espi:IntervalBlock>'
        )
        self.id_path = f"MeterReading/{reading_uuid}/IntervalBlock/"

    def render(self, block: DayBlock) -> str | None:
        """The entry's text, or None when a reading is outside what the template checks."""
        low48, high48 = INT48
        low64, high64 = INT64
        parts = [
            f"<entry><id>{urn_for_path(self.id_path + str(block.start))}</id>",
            f"{self.self_prefix}{block.start}{self.rest_of_links}",
            f"<espi:interval><espi:duration>{block.end - block.start}</espi:duration>"
            f"<espi:start>{block.start}</espi:start></espi:interval>",
        ]
        append = parts.append
        updated = low64  # the end of its last reading (DayBlock.updated)
        for start, duration, value, cost, quality in block.readings:
            # Stored starts are 64-bit integers (TimeType's range) by the column's type.
            if not (low48 <= value <= high48 and 0 <= duration <= UINT32_MAX):
                return None
            if cost is None and quality is None:  # the common reading: one format
                append(
                    "<espi:IntervalReading><espi:timePeriod>"
                    f"<espi:duration>{duration}</espi:duration><espi:start>{start}</espi:start>"
                    f"</espi:timePeriod><espi:value>{value}</espi:value></espi:IntervalReading>"
                )
            else:
                if not (
                    (cost is None or low48 <= cost <= high48)
                    and (quality is None or quality in QUALITY_CODES)
                    and low64 <= start <= high64
                ):
                    return None
                head = "<espi:IntervalReading>"
                if cost is not None:
                    head += f"<espi:cost>{cost}</espi:cost>"
                if quality is not None:
                    head += (
                        "<espi:ReadingQuality>"
                        f"<espi:quality>{quality}</espi:quality></espi:ReadingQuality>"
                    )
                append(
                    f"{head}<espi:timePeriod><espi:duration>{duration}</espi:duration>"
                    f"<espi:start>{start}</espi:start></espi:timePeriod>"
                    f"<espi:value>{value}</espi:value></espi:IntervalReading>"
                )
            end = start + duration
            if end > updated:
                updated = end
        if block.start < 0 or block.end > UINT32_MAX + block.start:
            return None
        append(
            f"</espi:IntervalBlock></content><published>{_stamp(block.start)}</published>"
            f"<updated>{_stamp(updated)}</updated></entry>"
        )
        return "".join(parts)


class FeedWriter:
    """Renders a feed's items to bytes; one template per meter reading."""

    def __init__(self) -> None:
        self._templates: dict[tuple[str, str, str, str], BlockTemplate] = {}

    def item(self, item: FeedItem) -> bytes:
        if isinstance(item, Entry):
            return entry_bytes(item)
        key = (item.builder.urls.base, item.builder.sid, item.point_uuid, item.reading_uuid)
        template = self._templates.get(key)
        if template is None:
            template = BlockTemplate(item.builder, item.point_uuid, item.reading_uuid)
            self._templates[key] = template
        text = template.render(item.block)
        if text is None:  # the checked writer says what is wrong
            return entry_bytes(
                item.builder.interval_block(item.point_uuid, item.reading_uuid, item.block)
            )
        return text.encode()


def feed_bytes(feed: Feed, items: Iterable[FeedItem]) -> Iterator[bytes]:
    """The whole document, piece by piece (``feed`` without entries: its head)."""
    writer = FeedWriter()
    yield feed_head(feed)
    for item in items:
        yield writer.item(item)
    yield _FEED_CLOSE
