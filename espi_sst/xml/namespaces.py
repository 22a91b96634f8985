"""Namespace URIs of Green Button documents and the prefixes the writer uses.

The reader matches namespace URIs, never prefixes: real files use ``espi:``, ``ns:``,
``ns0:`` or a default namespace for the same elements, and change them between releases.
"""

from __future__ import annotations

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
CUSTOMER = "http://naesb.org/espi/customer"
SST = "urn:espi-sst:sst:1"
"""Our extension namespace (xsd/espi-sst.xsd, docs/sst-extension.md)."""
XSI = "http://www.w3.org/2001/XMLSchema-instance"

ESPI_NAMESPACES = frozenset({ESPI, CUSTOMER})

WRITE_PREFIXES = {"atom": ATOM, "espi": ESPI, "cust": CUSTOMER, "sst": SST}
"""Prefixes of the writer's output (the GBA's own examples use the same)."""


def split_tag(tag: str) -> tuple[str, str]:
    """``{ns}local`` -> ``(ns, local)``; an unqualified tag has namespace ``""``."""
    if tag[:1] == "{":
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag
