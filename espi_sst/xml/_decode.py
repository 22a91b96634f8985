"""One XML element -> one model object, driven by the class's field metadata.

Lenient on purpose where real files deviate (each case named in a warning):

* ``element_order`` -- children out of schema order (UtilityAPI, GBA sandbox): read anyway;
* ``element_name_case`` -- ``ServiceDeliveryPoint`` for ``serviceDeliveryPoint`` (SCE, GBA);
* ``unknown_element_kept`` -- an element the schema does not know (``thirdPartyName``,
  ``timePeriod/timezone``): kept in the nearest object's ``extension`` list, so nothing is
  lost and the writer still emits valid XML;
* ``repeated_element`` -- a single-valued element given twice: the first is kept;
* ``empty_element`` -- an optional structure with no values at all (Eversource's
  ``<ServiceCategory><kind></kind></ServiceCategory>``): read as absent.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lxml import etree

from ..errors import ParseError, SerializeError, ValidationError
from ..model import sst
from ..model._base import Extension, ModelObject
from ..model.espi import IntervalBlock, IntervalReading, UsageSummary
from ._columns import build_readings, extract_columns
from ._report import DeviationReport
from ._safety import safe_parser
from ._specs import ClassSpec, FieldSpec, class_spec
from ._values import convert
from .namespaces import ATOM, CUSTOMER, ESPI, ESPI_NAMESPACES, SST, split_tag

APPENDIX_B_RIN = f"{{{ESPI}}}bundledRin"
READING_TAG = f"{{{ESPI}}}IntervalReading"
FAST_BLOCKS = True
"""Read regular IntervalBlocks column-wise (tests turn it off to prove both paths agree)."""


CANONICAL_PREFIXES = {ESPI: "espi", CUSTOMER: "cust", ATOM: "atom", SST: "sst"}


def canonical_xml(element: etree._Element) -> str:
    """Exclusive C14N of a copy whose prefixes are canonical (espi, cust, atom, ns1...).

    The same content then compares equal whatever prefixes the file used, and keeps
    comparing equal after the writer re-emits it.
    """
    prefixes = dict(CANONICAL_PREFIXES)

    def prefix_of(namespace: str) -> str:
        if namespace not in prefixes:
            prefixes[namespace] = f"ns{len(prefixes) - len(CANONICAL_PREFIXES) + 1}"
        return prefixes[namespace]

    def rebuild(source: etree._Element) -> etree._Element:
        namespaces = {split_tag(source.tag)[0]} | {split_tag(name)[0] for name in source.attrib}
        nsmap = {prefix_of(ns): ns for ns in namespaces if ns}
        copy = etree.Element(source.tag, attrib=dict(source.attrib), nsmap=nsmap)
        copy.text = source.text
        for child in source:
            if isinstance(child.tag, str):
                new_child = rebuild(child)
                new_child.tail = child.tail
                copy.append(new_child)
        return copy

    copy = rebuild(element)
    canonical: bytes = etree.tostring(copy, method="c14n", exclusive=True, with_comments=False)
    return canonical.decode()


def make_extension(*elements: str | ModelObject, text: str = "") -> Extension:
    """An :class:`Extension` for code to attach to a resource, in the reader's canonical form.

    Give each foreign element as XML text with any prefixes (or a typed model object such
    as ``sst.BundledRin``); the text is canonicalised as the reader would, so the resource
    compares equal to itself after a write-and-read round trip.
    """
    parser = safe_parser()
    canonical: list[str | ModelObject] = []
    for item in elements:
        if isinstance(item, str):
            try:
                canonical.append(canonical_xml(etree.fromstring(item.encode(), parser)))
            except etree.XMLSyntaxError as exc:
                raise SerializeError(f"extension element is not well-formed XML: {exc}") from None
        else:
            canonical.append(item)
    return Extension(elements=tuple(canonical), text=text.strip())


def extension_of(element: etree._Element, report: DeviationReport) -> Extension:
    """An ``<extension>``'s content: typed where we know the element, else verbatim XML."""
    children: list[str | ModelObject] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tail and child.tail.strip():
            report.add(
                "extension_text_dropped",
                f"text {child.tail.strip()[:30]!r} after an element inside <extension> is not "
                "kept (only the text before the first element and the elements are)",
                line=child.sourceline,
                element="extension",
            )
        namespace, local = split_tag(child.tag)
        typed = sst.EXTENSION_ELEMENTS.get(local) if namespace == SST else None
        children.append(decode(child, typed, report) if typed else canonical_xml(child))
    return Extension(elements=tuple(children), text=(element.text or "").strip())


def unknown_as_extension(element: etree._Element) -> Extension:
    """Wrap an unknown element itself as extension content."""
    return Extension(elements=(canonical_xml(element),))


def decode(element: etree._Element, cls: type[ModelObject], report: DeviationReport) -> Any:
    """Build ``cls`` from ``element``'s children and attributes."""
    spec = class_spec(cls)
    values: dict[str, Any] = {}
    last_index = -1
    order_warned = False
    columns = extract_columns(element) if cls is IntervalBlock and FAST_BLOCKS else None
    if columns is not None:
        values["interval_reading"] = build_readings(columns)
    legacy = getattr(cls, "XML_LEGACY_FORM", None)
    if legacy and not any(isinstance(child.tag, str) for child in element):
        _legacy_form(element, spec, legacy, values, report)
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions
        if columns is not None and tag == READING_TAG:
            continue  # read column-wise above
        field = spec.by_tag.get(tag)
        if field is None:
            field = _deviant_field(child, spec.by_lower_name, report)
            if field is None:
                if tag == APPENDIX_B_RIN and cls is UsageSummary and spec.extension is not None:
                    _appendix_b_rin(child, values, spec.extension, report)
                    continue
                _keep_unknown(child, element, spec.extension, values, report)
                continue
        if field.index < last_index and not order_warned:
            order_warned = True
            report.add(
                "element_order",
                f"<{split_tag(tag)[1]}> is out of schema order inside <{split_tag(element.tag)[1]}>; read anyway",
                line=child.sourceline,
                element=split_tag(element.tag)[1],
            )
        last_index = field.index
        value = _value_of(child, field, report)
        if field.xml.many:
            if value is not None:
                values.setdefault(field.attr, []).append(value)
        elif field.attr in values:
            report.add(
                "repeated_element",
                f"<{field.xml.name}> appears more than once; the first is kept",
                line=child.sourceline,
                element=field.xml.name,
            )
        elif value is not None:
            values[field.attr] = value
    if spec.attributes:
        for name, field in spec.attributes.items():
            raw = element.get(name)
            if raw is not None:
                values[field.attr] = convert(
                    raw, field.xml.value_type, report, name, element.sourceline
                )
    if spec.text is not None:
        value = convert(
            element.text,
            spec.text.xml.value_type,
            report,
            split_tag(element.tag)[1],
            element.sourceline,
        )
        if value is not None:
            values[spec.text.attr] = value
    if cls is IntervalReading:
        period = values.get("time_period")
        if period is None or period.start is None:
            report.add(
                "reading_without_time",
                "IntervalReading without timePeriod/start; kept in the model, skipped as a reading",
                line=element.sourceline,
                element="IntervalReading",
            )
    try:
        return cls(**values)
    except ValidationError as exc:
        # Our own namespace's rules (SST) are enforced on reading: no lenience there.
        raise ParseError(
            exc.message, source=report.source, line=element.sourceline, code=exc.code
        ) from None


_DEFAULTS: dict[type, tuple[tuple[str, Any], ...] | None] = {}


def _is_empty(obj: Any) -> bool:
    """True when every field still has its default (nothing was read into it)."""
    cls = type(obj)
    if cls not in _DEFAULTS:
        defaults: list[tuple[str, Any]] = []
        for f in dataclasses.fields(obj):
            if f.default is not dataclasses.MISSING:
                defaults.append((f.name, f.default))
            elif f.default_factory is not dataclasses.MISSING:
                defaults.append((f.name, f.default_factory()))
            else:
                _DEFAULTS[cls] = None
                break
        else:
            _DEFAULTS[cls] = tuple(defaults)
    known = _DEFAULTS[cls]
    return known is not None and all(getattr(obj, name) == value for name, value in known)


def _value_of(child: etree._Element, field: FieldSpec, report: DeviationReport) -> Any:
    if field.is_extension:
        return extension_of(child, report)
    if field.is_model:
        value = decode(child, field.xml.value_type, report)
        if field.xml.min_occurs == 0 and _is_empty(value):
            report.add(
                "empty_element",
                f"<{field.xml.name}> carries no values; read as absent",
                line=child.sourceline,
                element=field.xml.name,
            )
            return None
        return value
    if len(child) and any(isinstance(c.tag, str) for c in child):
        report.add(
            "unexpected_children",
            f"<{field.xml.name}> should hold text but has child elements; only its text is read",
            line=child.sourceline,
            element=field.xml.name,
        )
    return convert(child.text, field.xml.value_type, report, field.xml.name, child.sourceline)


def _deviant_field(
    child: etree._Element, by_lower_name: dict[str, FieldSpec], report: DeviationReport
) -> FieldSpec | None:
    namespace, local = split_tag(child.tag)
    if namespace not in ESPI_NAMESPACES:
        return None
    field = by_lower_name.get(local.lower())
    if field is None:
        return None
    if field.xml.name != local:
        report.add(
            "element_name_case",
            f"<{local}> read as <{field.xml.name}> (letter case differs from the schema)",
            line=child.sourceline,
            element=local,
        )
    else:
        report.add(
            "element_namespace",
            f"<{local}> is in namespace {namespace}, expected {field.xml.namespace}; read anyway",
            line=child.sourceline,
            element=local,
        )
    return field


def _legacy_form(
    element: etree._Element,
    spec: ClassSpec,
    legacy: dict[str, str],
    values: dict[str, Any],
    report: DeviationReport,
) -> None:
    """A 1.0 RIN element: the RIN as text, the entity as an attribute (still valid, still read).

    ``<sst:bundledRin lse="PGE">USCA-PGPG-0505-0000</sst:bundledRin>`` reads as the 1.1 form
    ``<sst:bundledRin><sst:rin>...</sst:rin><sst:lse>PGE</sst:lse></sst:bundledRin>``
    (docs/sst-extension.md, "RIN elements"); the writer emits only the 1.1 form.
    """
    by_attr = {f.attr: f for f in spec.fields}
    name = split_tag(element.tag)[1]
    rin = convert(element.text, by_attr["value"].xml.value_type, report, name, element.sourceline)
    if rin is not None:
        values["value"] = rin
    for attribute, attr in legacy.items():
        raw = element.get(attribute)
        if raw is not None:
            values[attr] = convert(
                raw, by_attr[attr].xml.value_type, report, attribute, element.sourceline
            )


def _appendix_b_rin(
    child: etree._Element, values: dict[str, Any], extension: FieldSpec, report: DeviationReport
) -> None:
    """The concept design's ``<espi:bundledRin>`` after billingChargeSource (section 11.4).

    Read as our ``sst:bundledRin`` so callers see one form; its LSE is the UsageSummary's
    billingChargeSource/agencyName.  The writer emits our valid form unless asked for
    Appendix B.
    """
    source = values.get("billing_charge_source")
    lse = getattr(source, "agency_name", None)
    rin = convert(child.text, sst.RIN, report, "bundledRin", child.sourceline)
    try:
        typed = sst.BundledRin(value=rin, lse=lse if lse and sst_entity_ok(lse) else None)
    except ValidationError as exc:
        raise ParseError(
            exc.message, source=report.source, line=child.sourceline, code=exc.code
        ) from None
    values.setdefault(extension.attr, []).insert(0, Extension(elements=(typed,)))
    report.add(
        "appendix_b_rin",
        "<bundledRin> in the concept design's Appendix B position (after billingChargeSource); "
        "read as sst:bundledRin",
        line=child.sourceline,
        element="bundledRin",
    )


def sst_entity_ok(code: str) -> bool:
    return re.fullmatch(sst.ENTITY_CODE.pattern or ".*", code) is not None


def _keep_unknown(
    child: etree._Element,
    parent: etree._Element,
    extension: FieldSpec | None,
    values: dict[str, Any],
    report: DeviationReport,
) -> None:
    local = split_tag(child.tag)[1]
    parent_name = split_tag(parent.tag)[1]
    if extension is None:
        report.add(
            "unknown_element_dropped",
            f"<{local}> is not part of <{parent_name}> in ESPI and has no extension point; ignored",
            line=child.sourceline,
            element=local,
        )
        return
    values.setdefault(extension.attr, []).append(unknown_as_extension(child))
    report.add(
        "unknown_element_kept",
        f"<{local}> is not part of <{parent_name}> in ESPI; kept in its <extension>",
        line=child.sourceline,
        element=local,
    )
