"""Atom feeds and entries in the two recorded custodian shapes, written from string templates.

The foreign custodian must not borrow espi-sst's writer: what it serves is what the recorded
responses in ``tests/data/corpus`` look like, byte habits included.

* ``pge`` (``pge-cmd_*.xml``, PG&E Share My Data): no XML declaration; Atom under the
  prefix ``ns1``, ESPI under ``ns0``; every Atom child carries ``xsi:type="ns1:...Type"``
  with its own ``xmlns:xsi``; entry children in the order id, links, title, published,
  updated, content; three-space indentation.  Feeds declare ``ns0`` on the root (as the
  IntervalBlock response does) and the other resources redeclare it (as UsageSummary does).
* ``gba`` (``gba-sandbox_*.xml``, the GBA OpenESPI DataCustodian): an XML declaration and
  the stylesheet processing instruction; Atom as the default namespace, ESPI as ``espi``
  declared on every entry; entry children id, links, title, content, published, updated.

A resource body is a tree of ``(name, text-or-children)`` pairs rendered with the shape's
prefix; interval readings, the bulk of every response, have a template of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SHAPES = ("pge", "gba")

Node = tuple[str, "str | int | Sequence[Node]"]


def atom_time(epoch: float) -> str:
    """``2015-08-20T22:32:37.982Z``, as PG&E writes published/updated (GBA drops the millis)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def entry_uuid(href: str) -> str:
    """A stable UUID per resource href (PG&E and GBA ids are UUIDs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, href))


@dataclass(frozen=True)
class Link:
    href: str
    rel: str


@dataclass(frozen=True)
class EntryParts:
    """What an entry says: its links (up, self, related...), title, times and body."""

    links: Sequence[Link]
    title: str
    published: float
    updated: float
    body: str  # the resource element, already rendered for the shape

    @property
    def self_href(self) -> str:
        return next(link.href for link in self.links if link.rel == "self")


class Shape:
    """One custodian's way of writing Atom + ESPI."""

    def __init__(self, name: str) -> None:
        if name not in SHAPES:
            raise ValueError(f"shape {name!r}: expected one of {', '.join(SHAPES)}")
        self.name = name
        self.pge = name == "pge"
        self.p = "ns0:" if self.pge else "espi:"

    # ---- resource bodies -------------------------------------------------------------
    def resource(self, name: str, children: Sequence[Node], *, declare: bool, depth: int) -> str:
        """``<ns0:Name xmlns:ns0=...>...</ns0:Name>`` (or ``espi:``), indented at ``depth``."""
        ns = f' xmlns:ns0="{ESPI}"' if self.pge and declare else ""
        pad = self._pad(depth)
        inner = "".join(self._node(node, depth + 1) for node in children)
        return f"{pad}<{self.p}{name}{ns}>\n{inner}{pad}</{self.p}{name}>\n"

    def _node(self, node: Node, depth: int) -> str:
        name, value = node
        pad = self._pad(depth)
        if isinstance(value, str | int):
            return f"{pad}<{self.p}{name}>{escape(str(value))}</{self.p}{name}>\n"
        inner = "".join(self._node(child, depth + 1) for child in value)
        return f"{pad}<{self.p}{name}>\n{inner}{pad}</{self.p}{name}>\n"

    def body_depth(self, *, standalone: bool) -> int:
        """The indentation depth of a resource element inside ``content``."""
        return 2 if standalone or not self.pge else 3

    def _pad(self, depth: int) -> str:
        return ("   " if self.pge else "    ") * depth

    def interval_block(
        self,
        start: int,
        duration: int,
        readings: Iterable[tuple[int, int]],
        *,
        declare: bool,
        depth: int,
    ) -> str:
        """An IntervalBlock as PG&E's: interval, then per reading ReadingQuality (17),
        timePeriod and value."""
        p, pad = self.p, self._pad(depth)
        a, b, c = (self._pad(depth + i) for i in range(1, 4))
        ns = f' xmlns:ns0="{ESPI}"' if self.pge and declare else ""
        parts = [
            f"{pad}<{p}IntervalBlock{ns}>\n{a}<{p}interval>\n{b}<{p}duration>{duration}</{p}duration>\n"
            f"{b}<{p}start>{start}</{p}start>\n{a}</{p}interval>\n"
        ]
        for moment, value in readings:
            parts.append(
                f"{a}<{p}IntervalReading>\n{b}<{p}ReadingQuality>\n{c}<{p}quality>17</{p}quality>\n"
                f"{b}</{p}ReadingQuality>\n{b}<{p}timePeriod>\n{c}<{p}duration>3600</{p}duration>\n"
                f"{c}<{p}start>{moment}</{p}start>\n{b}</{p}timePeriod>\n"
                f"{b}<{p}value>{value}</{p}value>\n{a}</{p}IntervalReading>\n"
            )
        parts.append(f"{pad}</{p}IntervalBlock>\n")
        return "".join(parts)

    # ---- entries and feeds -----------------------------------------------------------
    def entry(self, parts: EntryParts, *, standalone: bool) -> str:
        """One ``entry``: standalone (the document root) or inside a feed."""
        if self.pge:
            return self._pge_entry(parts, standalone)
        return self._gba_entry(parts, standalone)

    def feed(self, self_href: str, updated: float, entries: Iterable[str]) -> Iterable[str]:
        """A feed's text in pieces (joined by the caller), entries already rendered."""
        feed_id = entry_uuid(self_href + "#feed")
        if self.pge:
            x = f'xmlns:xsi="{XSI}"'
            yield (
                f'<ns1:feed xmlns:ns0="{ESPI}" xmlns:ns1="{ATOM}">\n'
                f'   <ns1:id xsi:type="ns1:idType" {x}>{feed_id}</ns1:id>\n'
                f'   <ns1:title type="text" xsi:type="ns1:textType" {x}>Green Button Usage Feed</ns1:title>\n'
                f'   <ns1:updated xsi:type="ns1:dateTimeType" {x}>{atom_time(updated)}</ns1:updated>\n'
                f'   <ns1:link href={quoteattr(self_href)} rel="self" xsi:type="ns1:linkType" {x}/>\n'
            )
            yield from entries
            yield "</ns1:feed>\n"
            return
        yield (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<?xml-stylesheet type="text/xsl" href="GreenButtonDataStyleSheet.xslt"?>\n'
            f'<feed xmlns="{ATOM}" xmlns:xsi="{XSI}">\n'
            f"  <id>urn:uuid:{feed_id}</id>\n"
            "  <title>Green Button Usage Feed</title>\n"
            f"  <updated>{atom_time(updated)[:19]}Z</updated>\n"
            f'  <link href={quoteattr(self_href)} rel="self"/>\n'
        )
        yield from entries
        yield "</feed>\n"

    def _pge_entry(self, parts: EntryParts, standalone: bool) -> str:
        x = f'xmlns:xsi="{XSI}"'
        pad = "" if standalone else "   "
        head = f'<ns1:entry xmlns:ns1="{ATOM}">' if standalone else "   <ns1:entry>"
        i = pad + "   "
        lines = [
            head,
            f'{i}<ns1:id xsi:type="ns1:idType" {x}>{entry_uuid(parts.self_href)}</ns1:id>',
        ]
        lines += [
            f'{i}<ns1:link href={quoteattr(link.href)} rel="{link.rel}" xsi:type="ns1:linkType" {x}/>'
            for link in parts.links
        ]
        lines += [
            f'{i}<ns1:title type="text" xsi:type="ns1:textType" {x}>{escape(parts.title)}</ns1:title>',
            f'{i}<ns1:published xsi:type="ns1:dateTimeType" {x}>{atom_time(parts.published)}</ns1:published>',
            f'{i}<ns1:updated xsi:type="ns1:dateTimeType" {x}>{atom_time(parts.updated)}</ns1:updated>',
            f'{i}<ns1:content xsi:type="ns1:contentType" {x}>',
        ]
        return "\n".join(lines) + "\n" + parts.body + f"{i}</ns1:content>\n{pad}</ns1:entry>\n"

    def _gba_entry(self, parts: EntryParts, standalone: bool) -> str:
        pad = "" if standalone else "  "
        i = pad + "    "
        lines = [
            f'{pad}<entry xmlns:espi="{ESPI}" xmlns="{ATOM}">',
            f"{i}<id>urn:uuid:{entry_uuid(parts.self_href)}</id>",
        ]
        lines += [
            f'{i}<link href={quoteattr(link.href)} rel="{link.rel}"/>' for link in parts.links
        ]
        lines += [f"{i}<title>{escape(parts.title)}</title>", f"{i}<content>"]
        tail = (
            f"{i}</content>\n{i}<published>{atom_time(parts.published)[:19]}Z</published>\n"
            f"{i}<updated>{atom_time(parts.updated)[:19]}Z</updated>\n{pad}</entry>\n"
        )
        prolog = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
        return prolog + "\n".join(lines) + "\n" + parts.body + tail
