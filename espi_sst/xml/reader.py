"""Read a whole Green Button document into the model (``espi_sst.parse``).

The reader streams entry by entry (lxml ``iterparse``), decodes each ``atom:entry`` into
an :class:`~espi_sst.model.Entry` and frees its XML, so peak memory is the model plus one
entry.  It accepts a feed, a single entry, or a bare ESPI resource (``BatchList``...).
Entry-level deviations it tolerates (named in warnings, see ``_decode`` and ``_values`` for
the rest):

* ``atom_metadata_in_content`` -- ``published``/``updated`` inside ``content`` (UtilityAPI);
* ``missing_up_link`` -- an entry with a ``self`` link but no ``up`` link (Opower 2012):
  ESPI entries always name their collection, so ``up`` is derived from ``self``;
* ``unknown_content`` -- content in a namespace that is neither espi nor customer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from ..document import Document, normalize_href, time_zone_of
from ..errors import EspiWarning, ParseError
from ..model import customer, espi, sst
from ..model._base import ModelObject
from ..model.atom import Entry, Feed, Link
from ..model.espi import LocalTimeParameters
from ._decode import decode
from ._report import DeviationReport
from ._safety import (
    ReadLimits,
    Source,
    opened_source,
    read_all,
    refuse_doctype,
    safe_iterparse,
    safe_parser,
)
from .namespaces import ATOM, CUSTOMER, ESPI, SST, split_tag

FEED = f"{{{ATOM}}}feed"
ENTRY = f"{{{ATOM}}}entry"
_ROOTS: dict[str, dict[str, type[ModelObject]]] = {
    ESPI: espi.ROOT_ELEMENTS,
    CUSTOMER: customer.ROOT_ELEMENTS,
    SST: sst.ROOT_ELEMENTS,
}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building the model.

    Reading allocates hundreds of thousands of small acyclic objects that all stay alive;
    each automatic collection would walk the whole growing model again (measured: 12 us
    per reading instead of 2 on a 5-year file).  Nothing built here forms cycles, so
    nothing is left for the collector when it resumes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def syntax_error(exc: etree.XMLSyntaxError, name: str) -> ParseError:
    message = str(exc.msg or exc).split(" (<string>")[0]
    message = message.rsplit(", line ", 1)[0]
    return ParseError(
        f"not well-formed XML: {message}; the file is damaged or not XML",
        source=name,
        line=exc.lineno or None,
        code="malformed_xml",
    )


def parse_tree(
    source: Source, limits: ReadLimits | None = None
) -> tuple[bytes, etree._ElementTree, str]:
    """Read a document into an lxml tree with the hardened parser, comments dropped.

    For readers that need the tree itself (schema validation walks it with xmlschema);
    the same refusals as :func:`parse`: no DTD or entities, the size limit, a
    ``malformed_xml`` ParseError with its line.

    Returns:
        The document's bytes, its tree and the name errors call it by.
    """
    with opened_source(source, limits or ReadLimits()) as (stream, name):
        data = read_all(stream)
    try:
        tree = etree.ElementTree(etree.fromstring(data, safe_parser(remove_comments=True)))
    except etree.XMLSyntaxError as exc:
        raise syntax_error(exc, name) from None
    refuse_doctype(tree.getroot(), name)
    return data, tree, name


def parse(source: Source, *, strict: bool = False, limits: ReadLimits | None = None) -> Document:
    """Read an ESPI document (feed, entry or bare resource) from a path, bytes or binary file.

    Args:
        source: a path, the document's bytes, or a binary file object.
        strict: refuse tolerated deviations (each becomes a ParseError) instead of warning.
        limits: size bounds; the default refuses inputs over 1 GiB.

    Returns:
        A :class:`~espi_sst.document.Document`; ``document.warnings`` lists the tolerated
        deviations.

    Raises:
        ParseError: the input is not well-formed XML or not an ESPI document (with line).
        UnsafeXmlError: the input declares a DTD/entities or exceeds the size limit.
    """
    with opened_source(source, limits or ReadLimits()) as (stream, name), gc_paused():
        report = DeviationReport(name, strict)
        try:
            return _read(stream, name, report)
        except etree.XMLSyntaxError as exc:
            raise syntax_error(exc, name) from None


def _read(stream: Any, name: str, report: DeviationReport) -> Document:
    entries: list[Entry] = []
    feed_element = None
    context = safe_iterparse(stream, events=("start", "end"), tag=(FEED, ENTRY))
    checked = False
    for event, element in context:
        if not checked:
            refuse_doctype(element, name)
            checked = True
        if event == "start":
            if element.tag == FEED and feed_element is None:
                feed_element = element
            continue
        if element.tag == ENTRY:
            entries.append(read_entry(element, report))
            _free(element)
    root = context.root
    if root is None:
        raise ParseError("document is empty", source=name, code="malformed_xml")
    if not checked:
        refuse_doctype(root, name)
    _check_document(entries, report)
    if root.tag == FEED:
        feed = _read_feed(root, entries, report)
        return Document(feed=feed, entries=entries, warnings=report.warnings(), source=name)
    if root.tag == ENTRY:
        return Document(feed=None, entries=entries, warnings=report.warnings(), source=name)
    namespace, local = split_tag(root.tag)
    cls = _ROOTS.get(namespace, {}).get(local)
    if cls is None:
        raise ParseError(
            f"root element <{local}> (namespace {namespace or 'none'}) is not a Green Button "
            "document; expected atom:feed, atom:entry or an ESPI resource",
            source=name,
            line=root.sourceline,
            code="not_espi",
        )
    entry = Entry(content=decode(root, cls, report), line=root.sourceline)
    _check_document([entry], report)
    return Document(feed=None, entries=[entry], warnings=report.warnings(), source=name)


def _check_document(entries: list[Entry], report: DeviationReport) -> None:
    """Document-level deviations, found while reading (so ``strict`` sees them too)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.self_href:
            key = normalize_href(entry.self_href)
            if key in seen:
                report_duplicate_self(entry, report)
            seen.add(key)
        for content in entry.contents:
            if isinstance(content, LocalTimeParameters):
                found: list[EspiWarning] = []
                time_zone_of(content, found)
                for warning in found:
                    report.add(
                        warning.code, warning.message, line=entry.line, element=warning.element
                    )


def report_duplicate_self(entry: Entry, report: DeviationReport) -> None:
    """``duplicate_self_link``: a second entry claims an entry's self link (the first wins)."""
    report.add(
        "duplicate_self_link",
        f"two entries claim the self link {entry.self_href!r}; the first is used",
        line=entry.line,
        element="link",
    )


def _free(element: etree._Element) -> None:
    """Release a decoded entry and the entries before it (bounded memory)."""
    element.clear(keep_tail=False)
    previous = element.getprevious()
    parent = element.getparent()
    while previous is not None and previous.tag == ENTRY and parent is not None:
        parent.remove(previous)
        previous = element.getprevious()


def _read_atom_metadata(
    child: etree._Element, target: Feed | Entry, report: DeviationReport
) -> bool:
    """Read id, title, published, updated or a link into a feed or entry; False if none."""
    namespace, local = split_tag(child.tag)
    if namespace != ATOM:
        return False
    if local == "id":
        target.id = (child.text or "").strip()
    elif local == "title":
        target.title = child.text or ""
    elif local in ("published", "updated") and hasattr(target, local):
        setattr(target, local, _datetime(child, report))
    elif local == "link":
        link = _link(child, report)
        if link is not None:
            target.links.append(link)
    else:
        return False
    return True


def _read_feed(root: etree._Element, entries: list[Entry], report: DeviationReport) -> Feed:
    feed = Feed(entries=entries)
    for child in root:
        if child.tag != ENTRY and isinstance(child.tag, str):
            _read_atom_metadata(child, feed, report)
    return feed


def read_entry(element: etree._Element, report: DeviationReport) -> Entry:
    entry = Entry(line=element.sourceline)
    for child in element:
        if not isinstance(child.tag, str) or _read_atom_metadata(child, entry, report):
            continue
        if child.tag == f"{{{ATOM}}}content":
            _read_content(child, entry, report)
    if entry.self_href and not entry.up_href:
        up = entry.self_href.rstrip("/").rsplit("/", 1)[0]
        if up and up != entry.self_href:
            entry.links.append(Link(href=up, rel="up"))
            report.add(
                "missing_up_link",
                f"entry has a self link but no up link; up derived from self as {up!r}",
                line=entry.line,
                element="link",
            )
    return entry


def _read_content(content: etree._Element, entry: Entry, report: DeviationReport) -> None:
    for child in content:
        if not isinstance(child.tag, str):
            continue
        namespace, local = split_tag(child.tag)
        if namespace == ATOM and local in ("published", "updated"):
            report.add(
                "atom_metadata_in_content",
                f"atom:{local} stands inside atom:content; read as the entry's {local}",
                line=child.sourceline,
                element=local,
            )
            value = _datetime(child, report)
            if getattr(entry, local) is None:
                setattr(entry, local, value)
            continue
        cls = _ROOTS.get(namespace, {}).get(local)
        if cls is None:
            report.add(
                "unknown_content",
                f"<{local}> (namespace {namespace or 'none'}) in atom:content is not an ESPI "
                "resource; ignored",
                line=child.sourceline,
                element=local,
            )
            continue
        if entry.contents:
            report.add(
                "several_resources",
                f"atom:content holds more than one resource (<{local}>); all are kept",
                line=child.sourceline,
                element=local,
            )
        entry.contents.append(decode(child, cls, report))


def _link(element: etree._Element, report: DeviationReport) -> Link | None:
    href = element.get("href")
    if href is None:
        report.add(
            "link_without_href",
            "atom:link without href; ignored",
            line=element.sourceline,
            element="link",
        )
        return None
    return Link(
        href=href.strip(), rel=element.get("rel") or "alternate", type=element.get("type") or None
    )


def _datetime(element: etree._Element, report: DeviationReport) -> datetime | None:
    text = (element.text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ParseError(
            f"<{split_tag(element.tag)[1]}> {text[:40]!r} is not an ISO 8601 date-time "
            "(e.g. 2024-01-31T08:00:00Z)",
            source=report.source,
            line=element.sourceline,
            code="invalid_value",
        ) from None
    if value.tzinfo is None:
        report.add(
            "naive_datetime",
            f"<{split_tag(element.tag)[1]}> has no time zone; read as UTC",
            line=element.sourceline,
            element=split_tag(element.tag)[1],
        )

        value = value.replace(tzinfo=UTC)
    return value
