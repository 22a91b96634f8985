"""Reading an ESPI ``BatchList`` (a data custodian's notification: resource URLs to GET).

A BatchList is not an Atom document, so :func:`espi_sst.parse` does not take it; this
reads it with the same safety rules (no DTD, no entities, no network, a size cap).
"""

from __future__ import annotations

from lxml import etree

from ..errors import ParseError
from ._safety import check_prolog, safe_parser
from .namespaces import ESPI

MAX_BATCH_LIST_BYTES = 1 << 20


def read_batch_list(body: bytes, *, source: str = "<BatchList>") -> list[str]:
    """The resource URLs of an ``espi:BatchList``; ParseError (or UnsafeXmlError) otherwise."""
    if len(body) > MAX_BATCH_LIST_BYTES:
        raise ParseError(
            f"a BatchList of {len(body)} bytes is over the {MAX_BATCH_LIST_BYTES} byte limit",
            source=source,
        )
    check_prolog(body[:65536], source)
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed XML: {exc}", source=source) from None
    if root.tag != f"{{{ESPI}}}BatchList":
        raise ParseError(f"expected espi:BatchList, found {root.tag}", source=source)
    urls = [(r.text or "").strip() for r in root.iter(f"{{{ESPI}}}resources")]
    return [url for url in urls if url]
