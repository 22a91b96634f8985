"""Schema validation as a report, separate from reading (xmlschema, schemas cached).

A whole Green Button document mixes three namespaces; Atom's ``content`` is ``##other``
with strict processing, so Atom, espi and customer must be loaded as ONE schema set or
every resource fails.  We build that set once, from the schemas shipped inside the package,
so validation works offline from an installed wheel.  More schemas (our SST extension) can
be added to the set by namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ParseError, ValidationError
from .xml._safety import ReadLimits, Source
from .xml.namespaces import ATOM, CUSTOMER, ESPI, SST, split_tag
from .xml.reader import parse_tree

if TYPE_CHECKING:
    import xmlschema
    from lxml import etree

APPENDIX_B_RIN = f"{{{ESPI}}}bundledRin"

__all__ = ["OFFICIAL_SCHEMAS", "ValidationIssue", "schema_dir", "schema_set", "validate"]

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
    """One schema violation: where (line, element path) and what."""

    line: int | None
    element: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "?"
        return f"{where}: {self.element}: {self.message}"


def _sst_rule_issues(data: bytes, tree: etree._ElementTree) -> list[ValidationIssue]:
    """The SST rules a schema cannot state (12 months of history, one billing cycle of
    validity, role of each RIN, a reason for every rejection ...), checked by reading the
    document with the model, which enforces them."""
    from .xml.reader import parse

    try:
        parse(data)
    except ParseError as exc:
        if exc.code in ("invalid_sst", "invalid_rin"):
            element = "?"
            if exc.line is not None:
                for el in tree.iter():
                    if getattr(el, "sourceline", None) == exc.line and isinstance(el.tag, str):
                        element = split_tag(el.tag)[1]
                        break
            return [ValidationIssue(exc.line, element, exc.reason)]
    return []


def schema_dir() -> Path:
    """The folder of the schemas shipped with the package."""
    return Path(str(resources.files("espi_sst") / "xsd"))


@lru_cache(maxsize=8)
def schema_set(
    profile: str = "sst", extra: tuple[tuple[str, str], ...] = ()
) -> xmlschema.XMLSchema:
    """The profile's schemas (+ ``extra`` (namespace, file in xsd/)) loaded as one set."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown validation profile {profile!r}; use one of {', '.join(PROFILES)}"
        )
    folder = schema_dir()
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(folder / name).as_uri()}"/>'
        for ns, name in PROFILES[profile] + extra
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    import xmlschema  # here, not at import: readers that never validate skip its ~19 MB

    return xmlschema.XMLSchema(
        wrapper, base_url=folder.as_uri() + "/", allow="sandbox", defuse="always"
    )


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
    data, tree, name = parse_tree(source, limits)
    schema = schema_set(profile, tuple(extra_schemas))
    issues = []
    for error in schema.iter_errors(tree):
        elem = error.elem
        line = getattr(elem, "sourceline", None) if elem is not None else None
        element = split_tag(elem.tag)[1] if elem is not None and isinstance(elem.tag, str) else "?"
        reason = (error.reason or str(error.message)).strip()
        issues.append(ValidationIssue(line, element, " ".join(reason.split())))
    if (
        sst_rules
        and not issues
        and profile in ("sst", "appendix-b")
        and any(
            isinstance(el.tag, str)
            and (el.tag.startswith(f"{{{SST}}}") or el.tag == APPENDIX_B_RIN)
            for el in tree.iter()
        )
    ):
        issues.extend(_sst_rule_issues(data, tree))
    if issues and raise_on_error:
        raise ValidationError(f"{name}: {len(issues)} schema issue(s); first: {issues[0]}")
    return issues
