"""Reading and checking a utility's rate and assignment tables (for :mod:`.table_catalog`).

The columns are drawn in :mod:`.table_catalog`'s docstring and in
``examples/utility-adapters/README.md``.  Everything a table says is checked here, before
anything is copied: RINs parse and agree with their role, codes, RINs and usage points are
unique, assignments name rates of the rates table (a generation rate only beside a delivery
rate), a mirror is a bundled rate of the table.  A problem is a :class:`RateTableError`
naming the file (or query), line and column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ._tables import (
    Row,
    TableError,
    fail,
    fingerprint,
    parse_moment,
    read_table,
    required_text,
    rin_of,
    split_list,
)
from .adapters import AdapterConfigError
from .catalog import BUNDLED, DELIVERY, GENERATION

RATE_COLUMNS = ("rin", "tariff_code", "name", "role", "lse")
RATE_OPTIONAL = ("eligibility", "iou_mirror_of")
ASSIGNMENT_COLUMNS = ("usage_point", "tariff_code")
ASSIGNMENT_OPTIONAL = ("generation_tariff_code", "effective_date", "features")
ROLES = (BUNDLED, DELIVERY, GENERATION)
RULES = ("requires_any", "excludes")
_FEATURE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class RateTableError(TableError):
    """A rate or assignment table that cannot be used (file, line and column named)."""

    code = "rate_table_invalid"


E = RateTableError  # short, for the many checks below


@dataclass(frozen=True)
class RateRow:
    code: str
    name: str
    rin: str
    role: str
    lse: str
    eligibility: dict[str, list[str]] | None
    iou_mirror_of: str | None


@dataclass(frozen=True)
class Assignment:
    usage_point: str  # uuid or service agreement
    tariff_code: str
    generation_tariff_code: str | None
    effective: date | datetime | None
    features: list[str] | None  # None: the table has no features column
    where: str  # "rates.csv, line 4", for reports


@dataclass(frozen=True)
class RateTable:
    """A checked export: rates by code (in table order), who is on which."""

    rates: dict[str, RateRow]
    code_by_rin: dict[str, str]
    assignments: tuple[Assignment, ...]
    fingerprint: str


# ---- loading ------------------------------------------------------------------------------


def load_rate_table(setting: Mapping[str, Any]) -> RateTable:
    """Read and check ``RATE_TABLE``'s tables; raises :class:`RateTableError`."""
    check_setting(setting)
    rates: dict[str, RateRow] = {}
    lines: dict[str, Row] = {}
    code_by_rin: dict[str, str] = {}
    for row in read_table(
        setting["rates"], required=RATE_COLUMNS, optional=RATE_OPTIONAL, error=RateTableError
    ):
        rate = _rate(row)
        if rate.code in rates:
            raise fail(row, "tariff_code", f"{rate.code} is also on {_at(lines[rate.code])}", E)
        if rate.rin in code_by_rin:
            other = lines[code_by_rin[rate.rin]]
            raise fail(row, "rin", f"{rate.rin} is also the RIN of {_at(other)}", E)
        rates[rate.code] = rate
        lines[rate.code] = row
        code_by_rin[rate.rin] = rate.code
    if not rates:
        raise RateTableError("no rates", source=_name(setting["rates"]))
    for code, rate in rates.items():
        mirrored = code_by_rin.get(rate.iou_mirror_of or "")
        if rate.iou_mirror_of and (mirrored is None or rates[mirrored].role != BUNDLED):
            raise fail(
                lines[code],
                "iou_mirror_of",
                f"{rate.iou_mirror_of} is not a bundled rate of this table",
                E,
            )
    assignments: list[Assignment] = []
    seen: dict[str, Row] = {}
    if setting.get("assignments") is not None:
        for row in read_table(
            setting["assignments"],
            required=ASSIGNMENT_COLUMNS,
            optional=ASSIGNMENT_OPTIONAL,
            error=RateTableError,
        ):
            assignment = _assignment(row, rates)
            if assignment.usage_point in seen:
                problem = f"{assignment.usage_point} is also on {_at(seen[assignment.usage_point])}"
                raise fail(row, "usage_point", problem, E)
            seen[assignment.usage_point] = row
            assignments.append(assignment)
    digest = fingerprint([[vars(r) for r in rates.values()], [vars(a) for a in assignments]])
    return RateTable(rates, code_by_rin, tuple(assignments), digest)


def check_setting(setting: object) -> None:
    """``RATE_TABLE`` has the expected shape (else :class:`AdapterConfigError`)."""
    if not isinstance(setting, Mapping) or "rates" not in setting:
        raise AdapterConfigError(
            'RATE_TABLE must be {"rates": SOURCE, "assignments": SOURCE (optional), '
            '"refresh_seconds": N (optional)}; a SOURCE is a CSV path, a list of paths or '
            f'{{"url": ..., "query": ...}}; got {setting!r}'
        )
    unknown = set(setting) - {"rates", "assignments", "refresh_seconds"}
    if unknown:
        raise AdapterConfigError(f"RATE_TABLE: unknown keys {sorted(unknown)}")


def _at(row: Row) -> str:
    return f"line {row.line}"


def _name(source: object) -> str:
    return source if isinstance(source, str) else repr(source)


def _rate(row: Row) -> RateRow:
    text = row["rin"]
    rin = rin_of(row, "rin", E)
    role = row["role"]
    if role not in ROLES:
        raise fail(row, "role", f"{role!r} is not one of {', '.join(ROLES)}", E)
    if rin.role.value != role:
        raise fail(row, "role", f"{role} disagrees with the RIN {text}, a {rin.role.value} RIN", E)
    mirror = row["iou_mirror_of"] or None
    if mirror is not None:
        if role != GENERATION:
            raise fail(row, "iou_mirror_of", "only a generation rate mirrors an IOU rate", E)
        rin_of(row, "iou_mirror_of", E)
    return RateRow(
        code=required_text(row, "tariff_code", E, limit=64),
        name=required_text(row, "name", E, limit=256),
        rin=str(rin),
        role=role,
        lse=required_text(row, "lse", E, limit=64),
        eligibility=_eligibility(row),
        iou_mirror_of=mirror,
    )


def _eligibility(row: Row) -> dict[str, list[str]] | None:
    """``requires_any:ev|heat_pump; excludes:solar`` -> the definition's ``eligibility``."""
    rules: dict[str, list[str]] = {}
    for part in row["eligibility"].split(";"):
        if not part.strip():
            continue
        name, colon, values = part.partition(":")
        name = name.strip()
        if not colon or name not in RULES:
            raise fail(
                row,
                "eligibility",
                f"{part.strip()!r}: expected requires_any:FEATURE|... or excludes:FEATURE|...",
                E,
            )
        if name in rules:
            raise fail(row, "eligibility", f"{name} is given twice", E)
        rules[name] = _features(row, "eligibility", values)
        if not rules[name]:
            raise fail(row, "eligibility", f"{name} names no feature", E)
    return rules or None


def _features(row: Row, column: str, value: str) -> list[str]:
    features = split_list(value)
    for feature in features:
        if not _FEATURE.fullmatch(feature):
            raise fail(
                row, column, f"{feature!r} is not a feature name (lower case, like heat_pump)", E
            )
    return features


def _assignment(row: Row, rates: Mapping[str, RateRow]) -> Assignment:
    point = required_text(row, "usage_point", E, limit=64)
    code = required_text(row, "tariff_code", E, limit=64)
    rate = rates.get(code)
    if rate is None:
        raise fail(row, "tariff_code", f"{code} is not in the rates table", E)
    if rate.role == GENERATION:
        raise fail(
            row, "tariff_code", f"{code} is a generation rate; put it in generation_tariff_code", E
        )
    generation = row["generation_tariff_code"] or None
    if generation is not None:
        found = rates.get(generation)
        if found is None:
            raise fail(row, "generation_tariff_code", f"{generation} is not in the rates table", E)
        if found.role != GENERATION:
            raise fail(row, "generation_tariff_code", f"{generation} is a {found.role} rate", E)
        if rate.role != DELIVERY:
            raise fail(
                row,
                "generation_tariff_code",
                f"{code} is a bundled rate; only delivery service has a generation rate",
                E,
            )
    return Assignment(
        usage_point=point,
        tariff_code=code,
        generation_tariff_code=generation,
        effective=parse_moment(row, "effective_date", E),
        features=_features(row, "features", row["features"]) if row.has("features") else None,
        where=f"{row.source}, line {row.line}",
    )
