"""Schema violations in plain words, at an element path (issue 18).

libxml2 words a violation for the schema's author ("Element 'espi:UsagePoint': Missing
child element(s). Expected is ( espi:ServiceCategory )."); a person fixing a file wants
where and what, in one sentence: "/feed/entry/content/UsagePoint: ServiceCategory is
required here but missing".  The common shapes of libxml2's messages (XML Schema 1.0
part 1, section 3.4.4 "element locally valid (complex type)", and part 2's facets,
section 4.3) are translated here; anything else is kept as libxml2 words it, with the
namespaces as their usual prefixes.

The path is the element's local names from the root, without positions: the line
already says which one, and without positions the same mistake in 300 entries reads as
one path, which the report deduplicates (``espi_sst.validation.deduplicated``).
"""

from __future__ import annotations

import re

from lxml import etree

__all__ = ["element_path", "find_element", "plain_words"]

_TYPE_HINTS = {
    "TimeType": "a whole number of seconds",
    "UInt8": "a whole number from 0 to 255",
    "UInt16": "a whole number from 0 to 65,535",
    "UInt32": "a whole number from 0 to 4,294,967,295",
    "UInt48": "a whole number from 0 to 2^48 - 1",
    "Int16": "a whole number from -32,768 to 32,767",
    "Int32": "a whole number from -2,147,483,648 to 2,147,483,647",
    "Int48": "a whole number from -2^47 to 2^47 - 1",
    "Int64": "a whole number (64 bits)",
    "HexBinary8": "2 hexadecimal digits",
    "HexBinary16": "4 hexadecimal digits",
    "HexBinary32": "8 hexadecimal digits",
    "HexBinary128": "32 hexadecimal digits",
    "UUIDType": "a UUID such as 1f1e3f0c-5e4b-4a55-9b1d-0c2bd3ee5a4b",
    "boolean": "true, false, 1 or 0",
    "dateTime": "a date and time such as 2024-01-31T00:00:00Z",
    "anyURI": "a URI",
}
"""What a value of the ESPI simple types (espi.xsd) looks like, for the message."""

_LOCAL = r"(?:[\w.\-]+:)?([\w.\-]+)"
_NOT_EXPECTED = re.compile(
    rf"^Element '{_LOCAL}': This element is not expected\.?"
    r"(?: Expected is(?: one of)? \( (.*?) \))?\.?$"
)
_MISSING = re.compile(
    rf"^Element '{_LOCAL}': Missing child element\(s\)\. Expected is(?: one of)? \( (.*?) \)\.?$"
)
_NOT_VALID = re.compile(
    rf"^Element '{_LOCAL}'(?:, attribute '{_LOCAL}')?: '(.*)' is not a valid value of the "
    rf"(?:atomic|union|list) type '{_LOCAL}'\.?$"
)
_ENUMERATION = re.compile(
    rf"^Element '{_LOCAL}'(?:, attribute '{_LOCAL}')?: \[facet 'enumeration'\] The value '(.*)' "
    r"is not an element of the set \{(.*)\}\.?$"
)
_PATTERN = re.compile(
    rf"^Element '{_LOCAL}'(?:, attribute '{_LOCAL}')?: \[facet 'pattern'\] The value '(.*)' "
    r"is not accepted by the pattern '(.*)'\.?$"
)
_LENGTH = re.compile(
    rf"^Element '{_LOCAL}'(?:, attribute '{_LOCAL}')?: \[facet '(maxLength|minLength|length)'\] "
    r"The value(?: '.*')? has a length of '(\d+)'; this (?:exceeds|underruns|differs from) "
    r"the allowed (?:maximum |minimum )?length of '(\d+)'\.?$"
)
_RANGE = re.compile(
    rf"^Element '{_LOCAL}'(?:, attribute '{_LOCAL}')?: \[facet '(max|min)(Inclusive|Exclusive)'\] "
    r"The value '(.*)' is (?:greater|less) than(?: or equal to)? the (?:maximum|minimum) "
    r"value allowed \('(.*)'\)\.?$"
)
_ATTRIBUTE_MISSING = re.compile(
    rf"^Element '{_LOCAL}': The attribute '{_LOCAL}' is required but missing\.?$"
)
_ATTRIBUTE_NOT_ALLOWED = re.compile(
    rf"^Element '{_LOCAL}', attribute '{_LOCAL}': The attribute '.*' is not allowed\.?$"
)
_TEXT_NOT_ALLOWED = re.compile(
    rf"^Element '{_LOCAL}': Character content other than whitespace is not allowed because "
    r"the content type is 'element-only'\.?$"
)
_NOT_EMPTY = re.compile(
    rf"^Element '{_LOCAL}': Element content is not allowed, because the content type is "
    r"(?:a simple type definition|empty)\.?$"
)
_UNDECLARED = re.compile(
    rf"^Element '{_LOCAL}': No matching global element declaration available, but demanded "
    r"by the strict wildcard\.?$"
)
_NO_ROOT = re.compile(
    rf"^Element '{_LOCAL}': No matching global declaration available for the validation root\.?$"
)


def _names(listed: str) -> str:
    """``espi:status, espi:isSdp`` as ``status, isSdp`` (##other: "an element of another
    namespace")."""
    names = []
    for item in listed.split(","):
        item = item.strip()
        if item.startswith("##other"):
            names.append("an element of another namespace")
        elif item:
            names.append(item.rpartition("}")[2].rpartition(":")[2])
    return ", ".join(names)


def _or(names: str) -> str:
    head, comma, last = names.rpartition(", ")
    return f"{head} or {last}" if comma else names


def _of(attribute: str | None) -> str:
    return f"attribute {attribute}: " if attribute else ""


def plain_words(message: str) -> tuple[str, str]:
    """``(where, sentence)`` for libxml2's ``message`` (its namespaces written as prefixes):
    ``where`` is ``"parent"`` when the sentence is about a child of the element libxml2
    names (an unexpected element: said at its parent's path), else ``"self"``."""
    text = " ".join(message.split())
    if m := _MISSING.match(text):
        names = _names(m.group(2))
        if "," not in names:
            return "self", f"{names} is required here but missing"
        return "self", f"one of {_or(names)} is required here but missing"
    if m := _NOT_EXPECTED.match(text):
        element, expected = m.group(1), m.group(2)
        if expected:
            return "parent", (
                f"{element} is not expected here (misplaced, misspelt or unknown); expected "
                f"at this point: {_or(_names(expected))}"
            )
        return "parent", f"{element} is not expected here (nothing more is allowed at this point)"
    if m := _NOT_VALID.match(text):
        attribute, value, type_name = m.group(2), m.group(3), m.group(4)
        hint = _TYPE_HINTS.get(type_name)
        shown = f"value '{value}'" if value else "an empty value"
        if hint:
            return "self", f"{_of(attribute)}{shown} is not a valid {type_name} ({hint})"
        return "self", f"{_of(attribute)}{shown} is not a valid {type_name}"
    if m := _ENUMERATION.match(text):
        values = [v.strip().strip("'") for v in m.group(4).split(",")]
        allowed = (
            f"the only allowed value is {values[0]}"
            if len(values) == 1
            else f"the allowed values are {_or(', '.join(values))}"
        )
        return "self", f"{_of(m.group(2))}value '{m.group(3)}' is not allowed; {allowed}"
    if m := _PATTERN.match(text):
        return "self", (
            f"{_of(m.group(2))}value '{m.group(3)}' does not have the required form "
            f"(pattern {m.group(4)})"
        )
    if m := _LENGTH.match(text):
        facet, actual, limit = m.group(3), m.group(4), m.group(5)
        bound = {"maxLength": "at most", "minLength": "at least", "length": "exactly"}[facet]
        return "self", (
            f"{_of(m.group(2))}the value's length is {actual}; it must be {bound} {limit} "
            "(characters, or bytes for a hexadecimal value)"
        )
    if m := _RANGE.match(text):
        side, kind, value, limit = m.group(3), m.group(4), m.group(5), m.group(6)
        relation = {
            ("max", "Inclusive"): "at most",
            ("max", "Exclusive"): "below",
            ("min", "Inclusive"): "at least",
            ("min", "Exclusive"): "above",
        }[(side, kind)]
        return "self", f"{_of(m.group(2))}value '{value}' must be {relation} {limit}"
    if m := _ATTRIBUTE_MISSING.match(text):
        return "self", f"the attribute {m.group(2)} is required but missing"
    if m := _ATTRIBUTE_NOT_ALLOWED.match(text):
        return "self", f"the attribute {m.group(2)} is not allowed here"
    if _TEXT_NOT_ALLOWED.match(text):
        return "self", "holds text, but may hold only elements"
    if _NOT_EMPTY.match(text):
        return "self", "holds elements, but may hold only a value"
    if m := _UNDECLARED.match(text):
        return "self", (
            f"{m.group(1)} is declared by none of the schemas in use (a misspelt name or "
            "namespace? an extension needs its schema: the SST ones, profile sst)"
        )
    if m := _NO_ROOT.match(text):
        return "self", f"{m.group(1)} is not a document the schemas describe (wrong root element)"
    without_element = re.sub(r"^Element '[^']*'(, attribute '[^']*')?: ", "", text)
    return "self", without_element[:-1] if without_element.endswith(".") else without_element


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None
    return tag.rpartition("}")[2]


def find_element(scope: etree._Element, line: int | None, local: str) -> etree._Element | None:
    """The element named ``local`` at ``line`` in ``scope`` (libxml2 reports both)."""
    if line is None:
        return None
    fallback = None
    for element in scope.iter():
        if element.sourceline == line:
            if _local(element.tag) == local:
                return element
            if fallback is None and isinstance(element.tag, str):
                fallback = element
    return fallback


def element_path(element: etree._Element | None, where: str = "self") -> str | None:
    """``/feed/entry/content/UsagePoint``: local names from the root (``where="parent"``:
    the parent's path)."""
    if element is None:
        return None
    if where == "parent" and element.getparent() is not None:
        element = element.getparent()
    names = []
    node: etree._Element | None = element
    while node is not None:
        name = _local(node.tag)
        if name:
            names.append(name)
        node = node.getparent()
    return "/" + "/".join(reversed(names))
