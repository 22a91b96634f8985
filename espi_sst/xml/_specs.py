"""Per-class lookup tables built once from the model's field metadata.

The reader maps a child element to a field by ``{namespace}local`` tag (prefix-free); the
writer walks fields in declaration order, which the generator made the schema's order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..model._base import Extension, ModelObject
from ..model._fields import XmlField


@dataclass(frozen=True)
class FieldSpec:
    attr: str
    xml: XmlField
    index: int

    @property
    def is_model(self) -> bool:
        vt = self.xml.value_type
        return isinstance(vt, type) and issubclass(vt, ModelObject)

    @property
    def is_extension(self) -> bool:
        return self.xml.value_type is Extension


@dataclass(frozen=True)
class ClassSpec:
    cls: type[ModelObject]
    fields: tuple[FieldSpec, ...]
    by_tag: dict[str, FieldSpec]
    by_lower_name: dict[str, FieldSpec]
    attributes: dict[str, FieldSpec]
    text: FieldSpec | None
    extension: FieldSpec | None


_SPECS: dict[type, ClassSpec] = {}


def class_spec(cls: type[ModelObject]) -> ClassSpec:
    """The lookup tables of a model class (built once per class)."""
    spec = _SPECS.get(cls)
    if spec is None:
        spec = _SPECS[cls] = _build_spec(cls)
    return spec


def _build_spec(cls: type[ModelObject]) -> ClassSpec:
    fields: list[FieldSpec] = []
    for index, f in enumerate(dataclasses.fields(cls)):
        xml = f.metadata.get("xml")
        if xml is not None:
            fields.append(FieldSpec(f.name, xml, index))
    elements = [f for f in fields if f.xml.kind == "element"]
    return ClassSpec(
        cls=cls,
        fields=tuple(fields),
        by_tag={f"{{{f.xml.namespace}}}{f.xml.name}": f for f in elements},
        by_lower_name={f.xml.name.lower(): f for f in elements},
        attributes={f.xml.name: f for f in fields if f.xml.kind == "attribute"},
        text=next((f for f in fields if f.xml.kind == "text"), None),
        extension=next((f for f in elements if f.is_extension), None),
    )


def field_values(obj: Any) -> list[tuple[FieldSpec, Any]]:
    """The (spec, value) pairs of an instance, in schema order."""
    spec = class_spec(type(obj))
    return [(f, getattr(obj, f.attr)) for f in spec.fields]
