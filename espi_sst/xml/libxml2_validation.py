"""Schema validation by libxml2 (through lxml), streaming: the fast engine of ``validate``.

Why two passes: libxml2 validates while it parses (lxml plugs the validator into the SAX
stream of ``iterparse``), so the verdict costs one parse with bounded memory when each
Atom entry is dropped as soon as it ends.  But a validator plugged into a stream reports
no line numbers (libxml2 only knows a line when it validates a tree node), so when the
verdict is "invalid" a second pass validates each entry as a tree of its own (``entry``
is a global element of atom.xsd, RFC 4287 section 4.1.2) and the feed without its entries,
which gives every message its line.  The first pass stays the authority: the report is
its error count, the second only places them.

Imports resolve to the schemas shipped in the package (xsd/catalog.xml's mapping of the
W3C ``xml.xsd``), never the network; parsing uses the hardened settings of ``_safety``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from lxml import etree

from ._plain_issues import element_path, find_element, plain_words
from ._safety import refuse_doctype, safe_parser, validating_iterparse
from .namespaces import ATOM

ENTRY = f"{{{ATOM}}}entry"
FEED = f"{{{ATOM}}}feed"

_W3C_XML_SCHEMA = frozenset(
    {
        "https://www.w3.org/2001/03/xml.xsd",
        "http://www.w3.org/2001/03/xml.xsd",
        "http://www.w3.org/2001/xml.xsd",
    }
)
"""The locations atom.xsd may name for the XML namespace schema (xsd/catalog.xml)."""

_PREFIXES = {
    "http://www.w3.org/2005/Atom": "atom",
    "http://naesb.org/espi": "espi",
    "http://naesb.org/espi/customer": "cust",
    "urn:espi-sst:sst:1": "sst",
}
_QNAME = re.compile(r"\{([^}]*)\}")
_ELEMENT_MESSAGE = re.compile(r"^Element '([^']*)'")


class _ShippedSchemas(etree.Resolver):  # type: ignore[misc]
    """Resolves the W3C ``xml.xsd`` to the shipped copy; every other import is a file
    URI in the package's xsd/ folder already, and the parser never uses the network."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        if system_url in _W3C_XML_SCHEMA:
            return self.resolve_filename(str(self._folder / "xml.xsd"), context)
        return None


@lru_cache(maxsize=8)
def lxml_schema(folder: Path, files: tuple[tuple[str, str], ...]) -> etree.XMLSchema:
    """The (namespace, file in ``folder``) schemas loaded by libxml2 as one set."""
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(folder / name).as_uri()}"/>'
        for ns, name in files
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    parser = safe_parser()
    parser.resolvers.add(_ShippedSchemas(folder))
    document = etree.fromstring(wrapper.encode(), parser, base_url=folder.as_uri() + "/")
    return etree.XMLSchema(document)


def _drop(element: etree._Element) -> None:
    """Free an entry once seen: the memory bound of both passes."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


def stream_errors(stream: IO[bytes] | Any, schema: etree.XMLSchema, name: str) -> list[str] | None:
    """Pass 1: libxml2 validates the whole document as it streams by (one parse, entries
    freed as they end).  ``None`` when valid; else libxml2's first messages, or ``[]``
    when this pass cannot vouch for the document: its root is not an Atom feed (small
    documents: pass 2 validates them whole) or the feed never closed.  lxml's
    ``iterparse`` with both ``schema`` and ``resolve_entities=False`` (6.1) does not raise
    for a document truncated at its end, so a feed counts only once its end tag is seen;
    pass 2, without the plugged validator, reports the truncation.

    Raises:
        UnsafeXmlError: from the stream (size limit) or a DTD in the document.
    """
    events = validating_iterparse(stream, events=("end",), tag=(ENTRY, FEED), schema=schema)
    closed = False
    try:
        for _event, element in events:
            if element.getparent() is None:
                closed = element.tag == FEED
            else:
                _drop(element)
    except etree.XMLSyntaxError as exc:
        return [entry.message for entry in exc.error_log]
    refuse_doctype(events.root, name)
    return None if closed else []


def _tidy(message: str) -> tuple[str, str]:
    """libxml2's "Element '{ns}local': reason" as (local name, the message with the
    namespaces written as their usual prefixes, "Element 'espi:value': ...")."""
    text = " ".join(message.split())
    match = _ELEMENT_MESSAGE.match(text)
    element = match.group(1).rpartition("}")[2] if match is not None else "?"
    text = _QNAME.sub(
        lambda m: f"{_PREFIXES[m.group(1)]}:" if m.group(1) in _PREFIXES else m.group(0), text
    )
    return element, text[:-1] if text.endswith(".") else text


PlacedIssue = tuple[int | None, str, str, str | None, str]
"""(line, element local name, libxml2's message, element path, the message in plain words)."""


def _log_issues(log: Iterable[Any], scope: etree._Element) -> list[PlacedIssue]:
    """The log's issues, placed in ``scope`` (still in its tree: the path reaches the root)."""
    issues: list[PlacedIssue] = []
    for entry in log:
        element, text = _tidy(entry.message)
        line = entry.line or None
        where, plain = plain_words(text)
        path = element_path(find_element(scope, line, element), where)
        issues.append((line, element, text, path, plain))
    return issues


def located_issues(
    stream: IO[bytes] | Any, schema: etree.XMLSchema, name: str
) -> list[PlacedIssue]:
    """Pass 2: every entry validated as a tree of its own, then the document without its
    entries; each violation (:data:`PlacedIssue`: line, element, reason, path, plain
    words) in document order (the feed's own come last).

    Raises:
        ParseError: the document is not well-formed (libxml2's reason and line).
    """
    try:
        return _located_issues(stream, schema, name)
    except etree.XMLSyntaxError as exc:
        from .reader import syntax_error

        raise syntax_error(exc, name) from None


def _located_issues(
    stream: IO[bytes] | Any, schema: etree.XMLSchema, name: str
) -> list[PlacedIssue]:
    found: list[PlacedIssue] = []
    events = validating_iterparse(stream, events=("end",), tag=ENTRY)
    root: etree._Element | None = None
    for _event, element in events:
        parent = element.getparent()
        if parent is None or parent.tag != FEED or parent.getparent() is not None:
            continue  # an entry document, or an entry nested elsewhere: the tree decides
        root = parent
        if not schema.validate(element):
            found.extend(_log_issues(schema.error_log, element))
        _drop(element)
    tree_root = events.root if root is None else root
    refuse_doctype(tree_root, name)
    if not schema.validate(tree_root):
        found.extend(_log_issues(schema.error_log, tree_root))
    return found
