"""Model -> XML that validates against the official schemas (``espi_sst.serialize``).

The writer is strict where the reader is lenient: it emits children in schema order (the
generated field order), and before it emits anything it checks what the schema checks --
required elements present, numbers in range, strings within length, enumerations known.
A model holding something the schema cannot carry raises :class:`SerializeError` naming
every problem, instead of producing a file that fails validation later.
``allow_invalid=True`` writes it anyway (for debugging a utility's export).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from lxml import etree

from ..document import Document
from ..errors import SerializeError
from ..model._base import Extension, ModelObject
from ..model._fields import CodeEnum, CodeStrEnum, SimpleType
from ..model.atom import Entry, Feed
from ..model.espi import UsageSummary
from ..model.sst import BundledRin
from ..rin import Rin
from ._safety import safe_parser
from ._specs import class_spec
from .namespaces import ATOM, CUSTOMER, ESPI, SST

Serializable = Document | Feed | Entry | ModelObject

NSMAP = {None: ATOM, "espi": ESPI, "cust": CUSTOMER, "sst": SST}
_HEX = re.compile(r"^([0-9A-Fa-f]{2})*$")
_FRAGMENT_PARSER = safe_parser()
MAX_REPORTED = 100
"""Problems spelled out in the message; ``SerializeError.problems`` has all of them."""


def serialize(
    obj: Serializable,
    *,
    pretty: bool = True,
    allow_invalid: bool = False,
    rin_form: Literal["extension", "appendix-b"] = "extension",
) -> bytes:
    """Write a document, feed, entry or single resource as UTF-8 XML bytes.

    Args:
        rin_form: where a UsageSummary's bundled RIN goes. ``"extension"`` (default):
            ``<sst:bundledRin>`` first inside ``<espi:extension>``, valid against the
            official schemas.  ``"appendix-b"``: the concept design's literal
            ``<espi:bundledRin>`` after billingChargeSource, valid only with
            ``xsd/espi-sst-appendix-b.xsd`` (``validate(..., profile="appendix-b")``).

    Raises:
        SerializeError: the model holds values the official schema refuses (missing
            required elements, out-of-range numbers, unknown enumeration text ...), unless
            ``allow_invalid`` is set.
    """
    if rin_form not in ("extension", "appendix-b"):
        raise ValueError(f"rin_form must be 'extension' or 'appendix-b', not {rin_form!r}")
    writer = _Writer(appendix_b=rin_form == "appendix-b")
    root = writer.root(obj)
    if writer.problems and not allow_invalid:
        shown = writer.problems[:MAX_REPORTED]
        more = len(writer.problems) - len(shown)
        lines = "\n  ".join(shown) + (f"\n  ... and {more} more (see .problems)" if more else "")
        error = SerializeError(
            f"cannot write schema-valid ESPI XML; {len(writer.problems)} problem(s):\n  {lines}\n"
            "Fill in or correct these values, or pass allow_invalid=True to write anyway.",
            code="invalid_model",
        )
        error.problems = list(writer.problems)
        raise error
    etree.cleanup_namespaces(root, top_nsmap={"espi": ESPI, "cust": CUSTOMER, "sst": SST})
    output: bytes = etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty
    )
    return output


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


class _Writer:
    def __init__(self, appendix_b: bool = False) -> None:
        self.problems: list[str] = []
        self.appendix_b = appendix_b

    def root(self, obj: Serializable) -> etree._Element:
        if isinstance(obj, Document):
            if obj.feed is not None:
                # The document's entries are what it holds (they may have been filtered).
                return self.feed(obj.feed, obj.entries)
            if len(obj.entries) == 1 and _is_bare(obj.entries[0]):
                return self.resource(obj.entries[0].contents[0], None, "")
            if len(obj.entries) == 1:
                return self.entry(obj.entries[0], None, "entry")
            return self.feed(Feed(entries=obj.entries))
        if isinstance(obj, Feed):
            return self.feed(obj)
        if isinstance(obj, Entry):
            return self.entry(obj, None, "entry")
        if isinstance(obj, ModelObject):
            return self.resource(obj, None, "")
        raise TypeError(
            f"cannot serialize {type(obj).__name__}; give a Document, Feed, Entry or resource"
        )

    def feed(self, feed: Feed, entries: list[Entry] | None = None) -> etree._Element:
        entries = feed.entries if entries is None else entries
        el = etree.Element(f"{{{ATOM}}}feed", nsmap=NSMAP)
        if feed.id is not None:
            etree.SubElement(el, f"{{{ATOM}}}id").text = feed.id
        if feed.title is not None:
            etree.SubElement(el, f"{{{ATOM}}}title").text = feed.title
        if feed.updated is not None:
            etree.SubElement(el, f"{{{ATOM}}}updated").text = format_datetime(feed.updated)
        for link in feed.links:
            self.link(el, link)
        for index, entry in enumerate(entries, 1):
            self.entry(entry, el, f"entry[{index}]")
        if len(el) < 3:
            # atom.xsd: a feed has at least three children (RFC 4287: id, title, updated).
            self.problems.append(
                f"feed: an Atom feed needs at least 3 children (id, title, updated, entries); "
                f"it has {len(el)}: give the Feed an id, a title and an updated time"
            )
        return el

    def link(self, parent: etree._Element, link: Any) -> None:
        el = etree.SubElement(parent, f"{{{ATOM}}}link", href=link.href, rel=link.rel)
        if link.type:
            el.set("type", link.type)

    def entry(self, entry: Entry, parent: etree._Element | None, path: str) -> etree._Element:
        tag = f"{{{ATOM}}}entry"
        el = etree.Element(tag, nsmap=NSMAP) if parent is None else etree.SubElement(parent, tag)
        if entry.id is not None:
            etree.SubElement(el, f"{{{ATOM}}}id").text = entry.id
        for link in entry.links:
            self.link(el, link)
        if len(entry.links) == 1:
            self.problems.append(
                f"{path}: an ESPI entry needs at least two links (self and up); it has one"
            )
        if entry.title is not None:
            etree.SubElement(el, f"{{{ATOM}}}title").text = entry.title
        if entry.contents:
            content = etree.SubElement(el, f"{{{ATOM}}}content", type="xml")
            for resource in entry.contents:
                self.resource(resource, content, path)
        if entry.published is not None:
            etree.SubElement(el, f"{{{ATOM}}}published").text = format_datetime(entry.published)
        if entry.updated is not None:
            etree.SubElement(el, f"{{{ATOM}}}updated").text = format_datetime(entry.updated)
        return el

    def resource(
        self, obj: ModelObject, parent: etree._Element | None, path: str
    ) -> etree._Element:
        name = getattr(type(obj), "XML_ELEMENT", "") or type(obj).__name__
        namespace = _namespace_of(obj)
        tag = f"{{{namespace}}}{name}"
        el = etree.Element(tag, nsmap=NSMAP) if parent is None else etree.SubElement(parent, tag)
        self.fill(el, obj, f"{path}/{name}" if path else name)
        return el

    def fill(self, el: etree._Element, obj: ModelObject, path: str) -> None:
        spec = class_spec(type(obj))
        for name, field in spec.attributes.items():
            value = getattr(obj, field.attr)
            if value is None:
                if field.xml.required:
                    self.problems.append(f"{path}/@{name}: required attribute missing")
                continue
            el.set(name, self.text(value, field.xml.value_type, f"{path}/@{name}"))
        if spec.text is not None:
            value = getattr(obj, spec.text.attr)
            if value is not None:
                el.text = self.text(value, spec.text.xml.value_type, path)
        moved: list[ModelObject] = []
        for field in spec.fields:
            if field.xml.kind != "element":
                continue
            value = getattr(obj, field.attr)
            values = value if field.xml.many else ([] if value is None else [value])
            if field.is_extension and self.appendix_b and isinstance(obj, UsageSummary):
                agency = (
                    obj.billing_charge_source.agency_name if obj.billing_charge_source else None
                )
                values, moved = _split_bundled_rin(values, agency)
            child_path = f"{path}/{field.xml.name}"
            if len(values) < field.xml.min_occurs:
                need = (
                    "is required"
                    if field.xml.min_occurs == 1
                    else f"needs {field.xml.min_occurs} values"
                )
                self.problems.append(f"{child_path}: {need}, but has {len(values) or 'none'}")
            tag = f"{{{field.xml.namespace}}}{field.xml.name}"
            for item in values:
                child = etree.SubElement(el, tag)
                if field.is_extension:
                    self.extension(child, item, child_path)
                elif field.is_model:
                    self.fill(child, item, child_path)
                else:
                    child.text = self.text(item, field.xml.value_type, child_path)
        for rin in moved:  # Appendix B: after billingChargeSource, in the espi namespace
            etree.SubElement(el, f"{{{ESPI}}}bundledRin").text = str(getattr(rin, "value", ""))

    def extension(self, el: etree._Element, ext: Extension, path: str = "extension") -> None:
        if ext.text:
            el.text = ext.text
        for item in ext.elements:
            if isinstance(item, ModelObject):
                self.resource(item, el, path)
            else:
                el.append(etree.fromstring(item.encode(), _FRAGMENT_PARSER))

    def text(self, value: Any, value_type: Any, path: str) -> str:
        if isinstance(value_type, SimpleType):
            return self.simple(value, value_type, path)
        if issubclass(value_type, CodeEnum):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not -32768 <= value <= 65535
            ):
                self.problems.append(f"{path}: {value!r} is not a {value_type.__name__} code")
            return str(int(value))
        if issubclass(value_type, CodeStrEnum):
            text = value.value if isinstance(value, CodeStrEnum) else str(value)
            if text not in value_type._value2member_map_:
                allowed = ", ".join(m.value for m in value_type)
                self.problems.append(f"{path}: {text!r} is not a {value_type.__name__} ({allowed})")
            return text
        raise AssertionError(value_type)

    def simple(self, value: Any, st: SimpleType, path: str) -> str:
        if st.python is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.problems.append(f"{path}: {value!r} is not an integer ({st.name})")
                return str(value)
            if (st.min_value is not None and value < st.min_value) or (
                st.max_value is not None and value > st.max_value
            ):
                self.problems.append(
                    f"{path}: {value} is outside {st.name} ({st.min_value}..{st.max_value})"
                )
            return str(int(value))
        if st.python is bool:
            return "true" if value else "false"
        if st.python is Decimal or st.python is float:
            return str(value)
        if st.python is Rin:
            if not isinstance(value, Rin):
                self.problems.append(f"{path}: {value!r} is not a Rin (use espi_sst.Rin.parse)")
            return str(value)
        text = str(value)
        if st.hex:
            if not _HEX.match(text):
                self.problems.append(
                    f"{path}: {text!r} is not hexadecimal with whole bytes ({st.name})"
                )
            elif st.max_length is not None and len(text) // 2 > st.max_length:
                self.problems.append(
                    f"{path}: {text!r} is longer than {st.max_length} bytes ({st.name})"
                )
        elif st.max_length is not None and len(text) > st.max_length:
            self.problems.append(
                f"{path}: {len(text)} characters, over the {st.max_length} of {st.name}"
            )
        if st.pattern is not None and not re.fullmatch(st.pattern, text):
            self.problems.append(f"{path}: {text!r} does not match the pattern of {st.name}")
        return text


def _namespace_of(obj: ModelObject) -> str:
    module = type(obj).__module__
    if module.endswith(".customer"):
        return CUSTOMER
    if module.endswith(".sst"):
        return SST
    if module.endswith(".espi"):
        return ESPI
    namespace = getattr(type(obj), "XML_NAMESPACE", None)
    if namespace:
        return str(namespace)
    raise TypeError(f"{type(obj).__name__} is not an ESPI resource class")


def _split_bundled_rin(
    extensions: list[Extension], agency: str | None
) -> tuple[list[Extension], list[ModelObject]]:
    """Take bundled RINs out of a UsageSummary's extensions (for Appendix B).

    The Appendix B form cannot say which LSE serves the RIN: it is read as the
    billingChargeSource's agencyName.  A RIN naming another LSE stays in the extension,
    where its ``lse`` is kept, rather than being silently re-attributed.
    """

    def movable(item: object) -> bool:
        return isinstance(item, BundledRin) and item.lse in (None, agency)

    kept: list[Extension] = []
    moved: list[ModelObject] = []
    for ext in extensions:
        rest = tuple(e for e in ext.elements if not movable(e))
        moved.extend(e for e in ext.elements if movable(e))  # type: ignore[misc]
        if rest or ext.text:
            kept.append(Extension(elements=rest, text=ext.text))
    return kept, moved


def _is_bare(entry: Entry) -> bool:
    return (
        len(entry.contents) == 1
        and entry.id is None
        and not entry.links
        and entry.title is None
        and entry.published is None
        and entry.updated is None
    )
