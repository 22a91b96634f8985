"""Recognising what a file is before reading it, so a wrong file gets a one-line reason.

People save the wrong thing: the utility's web page instead of its download (HTML, whose
``<!DOCTYPE html>`` the DTD refusal would otherwise answer with "remove the DTD
declaration"), a news feed (RSS; Green Button is Atom, RFC 4287, ESPI section 3), an empty
file, or a file whose ESPI namespace is misspelt (then no element is ESPI's and a reader
would find nothing: a header-only CSV, issue 18).  These are checked on the first bytes
(the same 64 KiB the DTD check reads), before the parser sees anything.
"""

from __future__ import annotations

import re

from ..errors import ParseError
from .namespaces import ATOM, CUSTOMER, ESPI, SST, XSI

_COMMENTS_AND_PIS = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_HTML_DOCTYPE = re.compile(rb"\A\s*(?:<\?xml[^>]*>\s*)?(<!doctype\s+html\b)", re.IGNORECASE)
_NAMESPACE_DECLARATION = re.compile(rb"""xmlns(?::[\w.\-]+)?\s*=\s*(["'])(.*?)\1""")
_KNOWN = frozenset({ATOM, ESPI, CUSTOMER, SST, XSI, "http://www.w3.org/2001/XMLSchema"})
_ESPI_LIKE = (ESPI, CUSTOMER)
_RSS_ROOTS = (b"rss", b"RDF")


def _text(prefix: bytes) -> bytes:
    for bom in (b"\xef\xbb\xbf",):
        if prefix.startswith(bom):
            return prefix[len(bom) :]
    if prefix[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return prefix[2:].replace(b"\x00", b"")  # UTF-16: the ASCII markup is enough
    return prefix


def sniff(prefix: bytes, name: str) -> None:
    """Refuse, with what the file is, an input that cannot be Green Button XML.

    Raises:
        ParseError: code ``empty``, or ``not_espi`` (HTML, RSS, a misspelt namespace).
    """
    text = _text(prefix)
    if not text.strip():
        raise ParseError(
            "the file is empty; not Green Button XML (download it again)",
            source=name,
            code="empty",
        )
    doctype = _HTML_DOCTYPE.search(text)
    if doctype is not None:
        raise _html(name, _line(text, doctype.start(1)))
    body = _COMMENTS_AND_PIS.sub(lambda m: b"\n" * m.group(0).count(b"\n"), text)
    root = _FIRST_TAG.search(body)
    if root is None:
        return  # not markup at all: the parser words it ("not well-formed")
    local = root.group(2)
    line = _line(body, root.start())
    if local.lower() == b"html":
        raise _html(name, line)
    if local in _RSS_ROOTS:
        raise ParseError(
            "the file is an RSS feed, not Green Button XML (Green Button data is an Atom "
            "<feed> of ESPI resources)",
            source=name,
            line=line,
            code="not_espi",
        )
    _check_namespaces(body, name)


def _line(text: bytes, offset: int) -> int:
    return text.count(b"\n", 0, offset) + 1


def _html(name: str, line: int) -> ParseError:
    return ParseError(
        "the file is an HTML page, not Green Button XML; save the utility's XML download "
        "(Download My Data), not the web page",
        source=name,
        line=line,
        code="not_espi",
    )


def _check_namespaces(body: bytes, name: str) -> None:
    declared = {
        m.group(2).decode("utf-8", "replace").strip() for m in _NAMESPACE_DECLARATION.finditer(body)
    }
    for uri in sorted(declared - _KNOWN):
        expected = _near(uri)
        if expected is not None and expected not in declared:
            declaration = body.find(uri.encode())
            raise ParseError(
                f"the namespace {uri!r} is not ESPI's; expected {expected!r} (misspelt? its "
                "elements cannot be read as Green Button data)",
                source=name,
                line=_line(body, declaration) if declaration >= 0 else None,
                code="not_espi",
            )


def _near(uri: str) -> str | None:
    """The ESPI namespace ``uri`` looks like a misspelling of, if any."""
    import difflib  # only for a namespace we do not know

    lowered = uri.lower().rstrip("/").replace("https://", "http://")
    ratio, expected = max(
        (difflib.SequenceMatcher(None, lowered, known).ratio(), known) for known in _ESPI_LIKE
    )
    if ratio >= 0.85:
        return expected
    if "naesb" in lowered and "espi" in lowered:
        return CUSTOMER if "customer" in lowered else ESPI
    return None
