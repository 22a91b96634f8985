"""The CCA generation-RIN cache: PG&E's cached mode (concept design 7.3), fed by CCA files.

An unbundled customer's generation rate is the CCA's.  A UDC that caches CCA RINs (PG&E) holds
it anyway and serves it with its own delivery RIN; one that does not answers
``generationRinStatus`` (ask the CCA).  ``CACHED_CCA_RINS`` picks the mode (``true``,
``false``, or a list of CCA codes); this module fills the cache.

A CCA publishes a CSV, one row per service agreement it serves::

    service_agreement_or_usage_point, generation_rin, tariff_code, name, effective_date

``espi-sst cca-rins load CCA FILE`` (:func:`load_cca_file`) upserts the generation rates into
``tariff`` (``role`` generation, ``lse`` the CCA; ``definition`` and ``iou_mirror_of`` left
as they are) and sets ``UsagePoint.generation_tariff`` for the listed points that the CCA
serves.  When a point's generation rate changes, its ``rate_effective_date`` becomes the
later of the one it had and the row's ``effective_date`` (the RINs together took effect then).

All or nothing: every row is checked before anything is written, and a bad row (a RIN that is
not a generation RIN, a duplicate point, a code that is another entity's rate, a future date)
refuses the file with its line and column.  Service agreements that are not here, or that
another LSE serves, are listed in the report, not fatal: the CCA's file and the UDC's customer
data are made at different times.  Points the file does not list keep what they have.  The
caller commits (the CLI commits on success); one audit event records the load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.model.enums import ServiceKind
from espi_sst.rin import RinRole

from ..storage.models import Tariff, UsagePoint
from ..storage.rows import audit
from ..storage.zones import zone_of
from ._tables import (
    Row,
    TableError,
    epoch_of,
    fail,
    parse_moment,
    read_table,
    required_text,
    rin_of,
)
from .catalog import GENERATION

CCA_COLUMNS = (
    "service_agreement_or_usage_point",
    "generation_rin",
    "tariff_code",
    "name",
    "effective_date",
)
POINT = CCA_COLUMNS[0]
CHUNK = 1000


class CcaFileError(TableError):
    """A CCA RIN file that cannot be loaded; nothing of it was applied."""

    code = "cca_file_invalid"


@dataclass
class CcaLoadReport:
    cca: str
    listed: int = 0
    tariffs_added: list[str] = field(default_factory=list)
    tariffs_updated: list[str] = field(default_factory=list)
    assigned: int = 0  # points whose generation rate was set or changed
    unchanged: int = 0
    unknown: list[str] = field(default_factory=list)  # no such electric usage point here
    not_served: list[str] = field(default_factory=list)  # served by another LSE

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class _Line:
    row: Row
    point: str
    rin: str
    code: str
    name: str
    effective: date | datetime


def load_cca_file(
    session: Session, path: str | Path, *, cca: str, now: int, actor: str = "system"
) -> CcaLoadReport:
    """Apply a CCA's RIN file (see the module docstring); raises :class:`CcaFileError`."""
    if not cca or len(cca) > 64:
        raise CcaFileError("the CCA code must be 1-64 characters", source=str(path))
    lines = [_line(row) for row in read_table(path, required=CCA_COLUMNS, error=CcaFileError)]
    rates = _rates(session, lines, cca)
    report = CcaLoadReport(cca=cca, listed=len(lines))
    targets = _points(session, lines, cca, now, report)
    # Everything is checked: now write.
    tariffs = {
        t.code: t for t in session.scalars(select(Tariff).where(Tariff.code.in_(list(rates))))
    }
    for code, (rin, name) in rates.items():
        tariff = tariffs.get(code)
        if tariff is None:
            tariffs[code] = Tariff(code=code, name=name, rin=rin, role=GENERATION, lse=cca)
            session.add(tariffs[code])
            report.tariffs_added.append(code)
        elif (tariff.rin, tariff.name) != (rin, name):
            tariff.rin, tariff.name = rin, name
            report.tariffs_updated.append(code)
    session.flush()
    for point, line, effective in targets:
        tariff = tariffs[line.code]
        if point.generation_tariff_id == tariff.id:
            report.unchanged += 1
            continue
        point.generation_tariff = tariff
        point.rate_effective_date = max(point.rate_effective_date or 0, effective)
        report.assigned += 1
    audit(
        session,
        at=now,
        actor=actor,
        action="cca_rins_loaded",
        subject=f"cca:{cca}",
        detail={"file": Path(path).name, **report.as_dict()},
    )
    session.flush()
    return report


def _line(row: Row) -> _Line:
    text = row["generation_rin"]
    rin = rin_of(row, "generation_rin", CcaFileError)
    if rin.role is not RinRole.GENERATION:
        raise fail(
            row,
            "generation_rin",
            f"{text} is a {rin.role.value} RIN; a CCA file lists generation RINs "
            "(USCA-XX..-....-....)",
            CcaFileError,
        )
    effective = parse_moment(row, "effective_date", CcaFileError)
    if effective is None:
        raise fail(row, "effective_date", "required, but empty", CcaFileError)
    return _Line(
        row=row,
        point=required_text(row, POINT, CcaFileError, limit=64),
        rin=str(rin),
        code=required_text(row, "tariff_code", CcaFileError, limit=64),
        name=required_text(row, "name", CcaFileError, limit=256),
        effective=effective,
    )


def _rates(session: Session, lines: list[_Line], cca: str) -> dict[str, tuple[str, str]]:
    """code -> (rin, name), consistent within the file and with the ``tariff`` table."""
    rates: dict[str, tuple[str, str]] = {}
    first: dict[str, _Line] = {}
    code_of_rin: dict[str, str] = {}
    for line in lines:
        known = rates.get(line.code)
        if known is not None and known != (line.rin, line.name):
            raise fail(
                line.row,
                "generation_rin" if known[0] != line.rin else "name",
                f"{line.code} is {known[0]} ({known[1]!r}) on line {first[line.code].row.line}",
                CcaFileError,
            )
        other = code_of_rin.get(line.rin)
        if other is not None and other != line.code:
            raise fail(
                line.row, "tariff_code", f"{line.rin} is {other} on another line", CcaFileError
            )
        rates[line.code] = (line.rin, line.name)
        first.setdefault(line.code, line)
        code_of_rin[line.rin] = line.code
    for tariff in session.scalars(select(Tariff).where(Tariff.code.in_(list(rates)))):
        if tariff.role != GENERATION or tariff.lse != cca:
            raise fail(
                first[tariff.code].row,
                "tariff_code",
                f"{tariff.code} is a {tariff.role} rate of {tariff.lse} here; a {cca} file "
                f"can only name {cca}'s generation rates",
                CcaFileError,
            )
    for tariff in session.scalars(select(Tariff).where(Tariff.rin.in_(list(code_of_rin)))):
        code = code_of_rin[tariff.rin]
        if tariff.code != code:
            raise fail(
                first[code].row,
                "generation_rin",
                f"{tariff.rin} is already the RIN of tariff {tariff.code} here",
                CcaFileError,
            )
    return rates


def _points(
    session: Session, lines: list[_Line], cca: str, now: int, report: CcaLoadReport
) -> list[tuple[UsagePoint, _Line, int]]:
    keys = [line.point for line in lines]
    found: dict[int, UsagePoint] = {}
    for start in range(0, len(keys), CHUNK):  # bound the IN lists (drivers cap parameters)
        chunk = keys[start : start + CHUNK]
        for point in session.scalars(
            select(UsagePoint).where(
                UsagePoint.service_kind == ServiceKind.electricity,
                UsagePoint.uuid.in_(chunk) | UsagePoint.service_agreement.in_(chunk),
            )
        ):
            found[point.id] = point
    by_key: dict[str, list[UsagePoint]] = {}
    for point in found.values():
        by_key.setdefault(point.uuid, []).append(point)
        if point.service_agreement != point.uuid:
            by_key.setdefault(point.service_agreement, []).append(point)
    seen: dict[str, _Line] = {}
    targets: list[tuple[UsagePoint, _Line, int]] = []
    for line in lines:
        if line.point in seen:
            raise fail(
                line.row,
                POINT,
                f"{line.point} is also on line {seen[line.point].row.line}",
                CcaFileError,
            )
        seen[line.point] = line
        matches = by_key.get(line.point, [])
        if len(matches) > 1:
            raise fail(
                line.row,
                POINT,
                f"{line.point} names {len(matches)} electric usage points; give the uuid",
                CcaFileError,
            )
        if not matches:
            report.unknown.append(line.point)
            continue
        point = matches[0]
        if point.lse != cca:
            report.not_served.append(line.point)
            continue
        effective = epoch_of(line.effective, zone_of(point.local_time))
        if effective > now:
            raise fail(
                line.row,
                "effective_date",
                "in the future; the file lists the rates customers are on now",
                CcaFileError,
            )
        targets.append((point, line, effective))
    return targets


def report_lines(report: CcaLoadReport) -> list[str]:
    """The report as the CLI prints it."""
    out = [
        f"{report.cca}: {report.listed} service agreements listed; "
        f"{report.assigned} generation rates set, {report.unchanged} unchanged",
        f"  tariffs: {len(report.tariffs_added)} added, {len(report.tariffs_updated)} updated",
    ]
    if report.unknown:
        out.append("  not usage points here: " + ", ".join(report.unknown))
    if report.not_served:
        out.append("  served by another LSE, left alone: " + ", ".join(report.not_served))
    return out


__all__ = [
    "CCA_COLUMNS",
    "CcaFileError",
    "CcaLoadReport",
    "load_cca_file",
    "report_lines",
]
