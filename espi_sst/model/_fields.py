"""How a model field maps to XML: the metadata the codec reads, and nothing else.

The data model is plain dataclasses; each field carries an :class:`XmlField` in its
``metadata["xml"]`` entry that names the XML element (or attribute, or text) it comes from,
its namespace, its simple type and its cardinality.  The codec in :mod:`espi_sst.xml` is
driven entirely by these tables, so the model never imports lxml (house style, section 1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "CodeEnum",
    "CodeStrEnum",
    "SimpleType",
    "XmlField",
    "attribute",
    "element",
    "text",
]

XmlKind = Literal["element", "attribute", "text"]


@dataclass(frozen=True)
class SimpleType:
    """An XSD simple type reduced to what reading and writing need.

    ``python`` is the Python type values take (``int``, ``str``, ``bool``, ``Decimal``,
    ``float``); the facets are checked by the writer so that it never emits a value the
    official schema would refuse.
    """

    name: str
    python: type
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    hex: bool = False


class CodeEnum(enum.IntEnum):
    """A numeric ESPI code table (an ``xs:union`` of UInt16 with enumerated values).

    Members are named after the schema's ``appinfo`` and carry its documentation as
    ``description``.  ESPI unions also admit any UInt16, so a code missing from the table is
    valid XML: the reader keeps it as a plain ``int`` and warns.
    """

    description: str

    def __new__(cls, value: int, description: str = "") -> CodeEnum:
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class CodeStrEnum(str, enum.Enum):
    """A string ESPI enumeration (OAuth terms such as ``GrantType``)."""

    description: str

    def __new__(cls, value: str, description: str = "") -> CodeStrEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class XmlField:
    """The XML side of one dataclass field.

    Attributes:
        name: local name of the element or attribute.
        namespace: namespace URI of the element ("" for unqualified attributes).
        kind: ``element``, ``attribute`` or ``text`` (simple content of the owner).
        value_type: a :class:`SimpleType`, an enum class, or a model class for nested content.
        many: the element may repeat (``maxOccurs > 1``); the field is a list.
        required: the schema requires at least ``min_occurs`` occurrences.
        min_occurs: the schema's minOccurs (the writer enforces it).
    """

    name: str
    namespace: str
    kind: XmlKind
    value_type: Any
    many: bool = False
    required: bool = False
    min_occurs: int = 0


def element(
    name: str,
    namespace: str,
    value_type: Any,
    *,
    many: bool = False,
    min_occurs: int = 0,
) -> dict[str, XmlField]:
    """Metadata for a child element field."""
    return {
        "xml": XmlField(name, namespace, "element", value_type, many, min_occurs > 0, min_occurs)
    }


def attribute(name: str, value_type: Any, *, required: bool = False) -> dict[str, XmlField]:
    """Metadata for an (unqualified) attribute field."""
    return {"xml": XmlField(name, "", "attribute", value_type, False, required, int(required))}


def text(value_type: Any) -> dict[str, XmlField]:
    """Metadata for the simple content (text) of an element."""
    return {"xml": XmlField("", "", "text", value_type, False, True, 1)}


# Simple types shared by both ESPI namespaces (espi.xsd / customer.xsd "Common" types).
STRING = SimpleType("xs:string", str)
ANY_TEXT = SimpleType("xs:anyType", str)
"""Untyped elements that hold text in practice (``registration_client_uri`` ...)."""
ANY_URI = SimpleType("xs:anyURI", str)
BOOLEAN = SimpleType("xs:boolean", bool)
INTEGER = SimpleType("xs:integer", int)
FLOAT = SimpleType("xs:float", float)
DECIMAL = SimpleType("xs:decimal", Decimal)
