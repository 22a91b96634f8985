"""Text of a simple-typed element -> Python value, tolerating the deviations real files have.

Each tolerated deviation is named (the ``code`` of its warning) and tested:

* ``milliseconds_timestamp`` -- a TimeType in milliseconds (PG&E statusTimeStamp);
* ``fractional_timestamp`` / ``fractional_number`` -- ``1721154384.66136`` where an
  integer is required (Eversource); rounded to the nearest integer;
* ``empty_value`` -- ``<kind></kind>``: read as absent;
* ``out_of_range`` -- a number outside its schema type (PG&E Authorization durations of
  ~8,000 years): clamped to the type's bound (a duration stays "as long as it gets"); the
  warning quotes the original;
* ``unknown_code`` -- a code missing from its ESPI table (uom 80 in old libraries' eyes,
  quality 19 ...): kept as a plain int;
* ``unknown_value`` / ``enum_case`` -- string enumerations (``token`` response type).

Anything else that is not a value of the type is a ParseError naming the line.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ParseError, RinError
from ..model._fields import CodeEnum, CodeStrEnum, SimpleType
from ..rin import Rin
from ._report import DeviationReport

_NUMBER = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
MILLISECONDS_THRESHOLD = 100_000_000_000
"""Epoch seconds of the year 5138: a TimeType this large is milliseconds."""


def convert(
    text: str | None,
    value_type: Any,
    report: DeviationReport,
    element: str,
    line: int | None,
) -> Any:
    """Convert one element's text; returns None when the value is absent or dropped."""
    raw = "" if text is None else text
    if isinstance(value_type, SimpleType):
        python = value_type.python
        if python is str:
            return raw if value_type.name in ("xs:string", "xs:anyType") or not raw else raw.strip()
        if python is int:
            return to_int(raw, value_type, report, element, line)
        if python is bool:
            return to_bool(raw, report, element, line)
        if python is Decimal or python is float:
            return to_number(raw, python, report, element, line)
        if python is Rin:
            try:
                return Rin.parse(raw)
            except RinError as exc:
                raise ParseError(
                    f"<{element}> {exc.message}",
                    source=report.source,
                    line=line,
                    code="invalid_rin",
                ) from None
        raise AssertionError(f"unhandled simple type {value_type}")
    if issubclass(value_type, CodeEnum):
        number = to_int(raw, None, report, element, line)
        if number is None:
            return None
        try:
            return value_type(number)
        except ValueError:
            report.add(
                "unknown_code",
                f"<{element}> code {number} is not in the {value_type.__name__} table; kept as a number",
                line=line,
                element=element,
                unknown_code=True,
            )
            return number
    if issubclass(value_type, CodeStrEnum):
        value = raw.strip()
        if not value:
            report.add(
                "empty_value", f"<{element}> is empty; read as absent", line=line, element=element
            )
            return None
        try:
            return value_type(value)
        except ValueError:
            for member in value_type:
                if member.value.lower() == value.lower():
                    report.add(
                        "enum_case",
                        f"<{element}> {value!r} read as {member.value!r} (letter case differs)",
                        line=line,
                        element=element,
                    )
                    return member
            report.add(
                "unknown_value",
                f"<{element}> {value!r} is not a {value_type.__name__} "
                f"({', '.join(m.value for m in value_type)}); kept as text",
                line=line,
                element=element,
            )
            return value
    raise AssertionError(f"unhandled value type {value_type!r}")


def to_int(
    raw: str,
    simple: SimpleType | None,
    report: DeviationReport,
    element: str,
    line: int | None,
) -> int | None:
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        if not text:
            report.add(
                "empty_value", f"<{element}> is empty; read as absent", line=line, element=element
            )
            return None
        if not _NUMBER.match(text):
            type_name = simple.name if simple else "integer code"
            raise ParseError(
                f"<{element}> must be an integer ({type_name}), found {text[:40]!r}; fix the value",
                source=report.source,
                line=line,
                code="invalid_value",
            ) from None
        value = round(float(text))
        code = (
            "fractional_timestamp" if simple and simple.name == "TimeType" else "fractional_number"
        )
        report.add(
            code,
            f"<{element}> {text!r} is not a whole number; rounded to {value}",
            line=line,
            element=element,
        )
    if simple is None:
        return value
    if simple.name == "TimeType" and abs(value) >= MILLISECONDS_THRESHOLD:
        seconds = value // 1000
        report.add(
            "milliseconds_timestamp",
            f"<{element}> {value} looks like milliseconds since 1970; read as {seconds} seconds",
            line=line,
            element=element,
        )
        value = seconds
    if (simple.min_value is not None and value < simple.min_value) or (
        simple.max_value is not None and value > simple.max_value
    ):
        clamped = value
        if simple.max_value is not None:
            clamped = min(simple.max_value, clamped)
        if simple.min_value is not None:
            clamped = max(simple.min_value, clamped)
        report.add(
            "out_of_range",
            f"<{element}> {value} is outside {simple.name} "
            f"({simple.min_value}..{simple.max_value}); clamped to {clamped}",
            line=line,
            element=element,
        )
        return clamped
    return value


def to_bool(raw: str, report: DeviationReport, element: str, line: int | None) -> bool | None:
    text = raw.strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    if text.lower() in ("true", "false"):
        report.add(
            "enum_case", f"<{element}> {text!r} read as a boolean", line=line, element=element
        )
        return text.lower() == "true"
    if not text:
        report.add(
            "empty_value", f"<{element}> is empty; read as absent", line=line, element=element
        )
        return None
    raise ParseError(
        f"<{element}> must be true or false, found {text[:40]!r}",
        source=report.source,
        line=line,
        code="invalid_value",
    )


def to_number(
    raw: str, python: type, report: DeviationReport, element: str, line: int | None
) -> Any:
    text = raw.strip()
    if not text:
        report.add(
            "empty_value", f"<{element}> is empty; read as absent", line=line, element=element
        )
        return None
    try:
        return Decimal(text) if python is Decimal else float(text)
    except (InvalidOperation, ValueError):
        raise ParseError(
            f"<{element}> must be a number, found {text[:40]!r}",
            source=report.source,
            line=line,
            code="invalid_value",
        ) from None
