"""Schema validation as a report, separate from reading (libxml2 first, xmlschema second).

Two engines, one verdict.  libxml2 (through lxml, :mod:`.xml.libxml2_validation`) validates
while it streams the document: about xmllint's speed, memory bounded whatever the size
(issue 17: the 46 MB 5-year file took 26 s and 654 MB with xmlschema alone).  xmlschema
stays for what it adds: the rare document libxml2 rejects as a whole but whose entries
it cannot place (its report words them), and the differential tests that prove both
engines agree on every corpus file (tests/espi_sst/test_validation_engines.py).

A whole Green Button document mixes three namespaces; Atom's ``content`` is ``##other``
with strict processing, so Atom, espi and customer must be loaded as ONE schema set or
every resource fails.  We build that set once, from the schemas shipped inside the package,
so validation works offline from an installed wheel.  More schemas (our SST extension) can
be added to the set by namespace.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import ParseError, ValidationError
from .xml._safety import ReadLimits, Source, opened_source
from .xml.libxml2_validation import located_issues, lxml_schema, stream_errors
from .xml.namespaces import ATOM, CUSTOMER, ESPI, SST, split_tag
from .xml.reader import parse_tree

if TYPE_CHECKING:
    import xmlschema
    from lxml import etree

APPENDIX_B_RIN = f"{{{ESPI}}}bundledRin"
_SST_MARKERS = (SST.encode(), b"bundledRin")
"""Bytes whose presence means the SST rules pass must run (a superset of its elements)."""

__all__ = [
    "OFFICIAL_SCHEMAS",
    "RepeatedIssue",
    "ValidationIssue",
    "deduplicated",
    "schema_dir",
    "schema_set",
    "validate",
    "xmlschema_issues",
]

OFFICIAL_SCHEMAS = ((ATOM, "atom.xsd"), (ESPI, "espi.xsd"), (CUSTOMER, "customer.xsd"))
PROFILES: dict[str, tuple[tuple[str, str], ...]] = {
    "official": OFFICIAL_SCHEMAS,
    "sst": OFFICIAL_SCHEMAS + ((SST, "espi-sst.xsd"),),
    "appendix-b": (
        (ATOM, "atom.xsd"),
        (ESPI, "espi-sst-appendix-b.xsd"),
        (CUSTOMER, "customer.xsd"),
    ),
}
"""Schema sets by name: the official ESPI 4.0 set; plus our SST extension (default: it
only adds a namespace, so a plain ESPI document validates the same); or the concept
design's literal Appendix B form (espi.xsd's UsageSummary redefined)."""


@dataclass(frozen=True)
class ValidationIssue:
    """One schema violation: where (line, element path) and what.

    Attributes:
        line: the line of the element, when known.
        element: its local name.
        message: what is wrong, as the schema engine words it (namespaces as prefixes).
        path: the element's path from the root without positions
            (``/feed/entry/content/UsagePoint``), when known; for an element that is not
            allowed where it is, its parent's.
        plain: what is wrong in plain words ("ServiceCategory is required here but
            missing"); the engine's message when it has no plainer wording.
    """

    line: int | None
    element: str
    message: str
    path: str | None = None
    plain: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "?"
        return f"{where}: {self.element}: {self.message}"

    def describe(self) -> str:
        """One sentence for people: "line 42, /feed/entry/content/UsagePoint: ServiceCategory
        is required here but missing"."""
        where = f"line {self.line}" if self.line is not None else "line ?"
        return f"{where}, {self.path or self.element}: {self.plain or self.message}"


_QUOTED_VALUE = re.compile(r"^(Element '[^']*'(?:, attribute '[^']*')?: )'[^']*'")
_PLAIN_VALUE = re.compile(r"value '[^']*'")


@dataclass(frozen=True)
class RepeatedIssue:
    """Issues of one kind (same element path, same message but for the offending value)."""

    count: int
    first_lines: tuple[int | None, ...]
    element: str
    message: str
    path: str | None = None
    plain: str | None = None


def deduplicated(issues: Sequence[ValidationIssue], lines: int = 3) -> list[RepeatedIssue]:
    """The report grouped by kind, in order of first appearance, with the first ``lines``
    line numbers of each (the CLI prints "x73 ..." instead of 73 lines).  Issues of one
    kind are those at the same path (or element, when the path is unknown) whose messages
    differ only in the offending value, shown then as ``'...'``."""
    groups: dict[tuple[str, str, str], list[ValidationIssue]] = {}
    for issue in issues:
        key = (
            issue.path or issue.element,
            issue.element,
            _QUOTED_VALUE.sub(r"\1'...'", issue.message),
        )
        groups.setdefault(key, []).append(issue)
    repeated = []
    for (_where, element, message), found in groups.items():
        first = found[0]
        plain = first.plain
        if len(found) > 1 and plain is not None:
            plain = _PLAIN_VALUE.sub("value '...'", plain)
        repeated.append(
            RepeatedIssue(
                len(found),
                tuple(i.line for i in found[:lines]),
                element,
                first.message if len(found) == 1 else message,
                first.path,
                plain,
            )
        )
    return repeated


def _sst_rule_issues(data: bytes, tree: etree._ElementTree) -> list[ValidationIssue]:
    """The SST rules a schema cannot state (12 months of history, one billing cycle of
    validity, role of each RIN, a reason for every rejection ...), checked by reading the
    document with the model, which enforces them."""
    from .xml.reader import parse

    try:
        parse(data)
    except ParseError as exc:
        if exc.code in ("invalid_sst", "invalid_rin"):
            from .xml._plain_issues import element_path

            element, path = "?", None
            if exc.line is not None:
                for el in tree.iter():
                    if getattr(el, "sourceline", None) == exc.line and isinstance(el.tag, str):
                        element, path = split_tag(el.tag)[1], element_path(el)
                        break
            return [ValidationIssue(exc.line, element, exc.reason, path, exc.reason)]
    return []


def schema_dir() -> Path:
    """The folder of the schemas shipped with the package."""
    return Path(str(resources.files("espi_sst") / "xsd"))


def _profile_files(profile: str, extra: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if profile not in PROFILES:
        raise ValueError(
            f"unknown validation profile {profile!r}; use one of {', '.join(PROFILES)}"
        )
    return PROFILES[profile] + extra


@lru_cache(maxsize=8)
def schema_set(
    profile: str = "sst", extra: tuple[tuple[str, str], ...] = ()
) -> xmlschema.XMLSchema:
    """The profile's schemas (+ ``extra`` (namespace, file in xsd/)) loaded as one set by
    xmlschema (the second engine)."""
    files = _profile_files(profile, extra)
    folder = schema_dir()
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(folder / name).as_uri()}"/>'
        for ns, name in files
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    import xmlschema  # here, not at import: readers that never validate skip its ~19 MB

    return xmlschema.XMLSchema(
        wrapper, base_url=folder.as_uri() + "/", allow="sandbox", defuse="always"
    )


def _xmlschema_tree_issues(
    tree: etree._ElementTree, profile: str, extra: tuple[tuple[str, str], ...]
) -> list[ValidationIssue]:
    from .xml._plain_issues import element_path

    issues = []
    for error in schema_set(profile, extra).iter_errors(tree):
        elem = error.elem
        line = getattr(elem, "sourceline", None) if elem is not None else None
        element = split_tag(elem.tag)[1] if elem is not None and isinstance(elem.tag, str) else "?"
        reason = " ".join((error.reason or str(error.message)).split())
        path = element_path(elem) if elem is not None and hasattr(elem, "getparent") else None
        issues.append(ValidationIssue(line, element, reason, path, reason))
    return issues


def xmlschema_issues(
    source: Source,
    *,
    profile: str = "sst",
    extra_schemas: Sequence[tuple[str, str]] = (),
    limits: ReadLimits | None = None,
) -> list[ValidationIssue]:
    """The schema issues as xmlschema reports them (the whole tree in memory: slow on
    big files).  The second engine: the differential tests compare its verdict with
    :func:`validate`'s on every corpus file."""
    _data, tree, _name = parse_tree(source, limits)
    return _xmlschema_tree_issues(tree, profile, tuple(extra_schemas))


class _Tee:
    """The stream pass 1 reads: remembers whether the SST markers went by and, for a
    caller's stream (which cannot be read twice), spools what it read to a temporary
    file (memory stays bounded) so pass 2 and the SST rules can read it again."""

    def __init__(self, stream: Any, spool: IO[bytes] | None) -> None:
        self._stream = stream
        self._spool = spool
        self._tail = b""
        self.has_sst_markers = False

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size)
        if self._spool is not None:
            self._spool.write(data)
        if not self.has_sst_markers and data:
            window = self._tail + data
            self.has_sst_markers = any(marker in window for marker in _SST_MARKERS)
            self._tail = window[-32:]
        return data


def validate(
    source: Source,
    *,
    profile: str = "sst",
    extra_schemas: Sequence[tuple[str, str]] = (),
    limits: ReadLimits | None = None,
    raise_on_error: bool = False,
    sst_rules: bool = True,
) -> list[ValidationIssue]:
    """Validate a document against the official ESPI 4.0 schema set.

    Args:
        source: a path, bytes, or binary file object.
        profile: ``"sst"`` (official ESPI 4.0 + our extension, the default),
            ``"official"`` (the official schemas alone) or ``"appendix-b"``.
        extra_schemas: more (namespace, schema file in ``xsd/``) to load into the set.
        raise_on_error: raise ValidationError instead of returning a non-empty list.
        sst_rules: after a clean schema pass, also check the SST rules a schema cannot
            state (a RIN's role, history, validity; the default).  ``False`` checks the
            schemas alone: the conformance kit's schema verdict, which must not fail for
            a semantic SST error the SST scenarios own.

    Returns:
        The issues found, in document order; empty when the document is valid.

    Raises:
        ParseError: the input is not well-formed XML (validation needs a tree).
    """
    files = _profile_files(profile, tuple(extra_schemas))
    schema = lxml_schema(schema_dir(), files)
    limits = limits or ReadLimits()
    reopenable = isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview))
    with ExitStack() as cleanup:
        spool = None if reopenable else cleanup.enter_context(tempfile.TemporaryFile())
        with opened_source(source, limits) as (stream, name):
            tee = _Tee(stream, spool)
            first_errors = stream_errors(tee, schema, name)
            if spool is not None:
                shutil.copyfileobj(stream, spool)  # pass 1 stopped early: keep the rest
        again: Source = source if spool is None else spool
        issues: list[ValidationIssue] = []
        if first_errors is not None:  # invalid, or not proven valid by the stream
            issues = _placed_issues(_rewound(again), limits, schema, first_errors, profile, files)
        if not issues and sst_rules and profile in ("sst", "appendix-b") and tee.has_sst_markers:
            issues = _sst_rules_of(_rewound(again), limits)
    if issues and raise_on_error:
        raise ValidationError(f"{name}: {len(issues)} schema issue(s); first: {issues[0]}")
    return issues


def _rewound(source: Source) -> Source:
    if hasattr(source, "seek"):
        source.seek(0)
    return source


def _sst_rules_of(source: Source, limits: ReadLimits) -> list[ValidationIssue]:
    data, tree, _name = parse_tree(source, limits)
    if any(
        isinstance(el.tag, str) and (el.tag.startswith(f"{{{SST}}}") or el.tag == APPENDIX_B_RIN)
        for el in tree.iter()
    ):
        return _sst_rule_issues(data, tree)
    return []


def _placed_issues(
    source: Source,
    limits: ReadLimits,
    schema: Any,
    first_errors: list[str],
    profile: str,
    files: tuple[tuple[str, str], ...],
) -> list[ValidationIssue]:
    """Pass 2: the issues with their lines (a malformed document raises ParseError here).
    When libxml2 rejects the document as a whole but no entry nor the feed alone fails
    (a constraint across entries), xmlschema words the report on the whole tree."""
    with opened_source(source, limits) as (stream, name):
        placed = located_issues(stream, schema, name)
    if placed or not first_errors:  # no first errors: the stream could not vouch, pass 2 did
        return [ValidationIssue(*issue) for issue in placed]
    if hasattr(source, "seek"):
        source.seek(0)
    _data, tree, _name = parse_tree(source, limits)
    extra = files[len(PROFILES[profile]) :]
    worded = _xmlschema_tree_issues(tree, profile, extra)
    if worded:
        return worded
    return [ValidationIssue(None, "?", message) for message in first_errors[:1] or ["invalid"]]
