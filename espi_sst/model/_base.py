"""The root of every model class, and the ESPI ``extension`` element's content.

ESPI's ``Object`` type gives every resource ``extension*`` (``xs:anyType``), the standard's
own extension point for "custom data ... in a separate namespace" (espi.xsd, Object).  We
keep that content verbatim so that nothing a utility adds is lost on a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["Extension", "ModelObject"]


@dataclass(kw_only=True, eq=True)
class ModelObject:
    """Base of all generated model classes; ``XML_TYPE`` names the XSD complex type."""

    XML_TYPE: ClassVar[str] = ""


@dataclass(frozen=True)
class Extension:
    """One ``<extension>`` element, kept as XML text.

    Attributes:
        elements: each child element, either as a typed model object (elements we know,
            such as the SST RIN elements) or as exclusive-canonical XML text (namespaces it
            uses are declared on it, so it stands alone and compares equal after a round
            trip).
        text: character content directly inside ``<extension>``, whitespace-stripped.
    """

    elements: tuple[str | ModelObject, ...] = field(default=())
    text: str = ""
