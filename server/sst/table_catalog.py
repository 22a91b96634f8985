"""A rate catalog read from tables the utility exports (1623(c)(1)(A), (B)): ``TableCatalog``.

Two tables, each a CSV file (or several) or a SQL query on the utility's own database
(:mod:`._tables`), named by ``RATE_TABLE``::

    {"rates": "/srv/exports/rates.csv",
     "assignments": {"url": "postgresql+psycopg://ro@cis/cis", "query": "SELECT ..."},
     "refresh_seconds": 300}

* **rates** -- one row per rate: ``rin, tariff_code, name, role, lse`` and optionally
  ``eligibility`` (``requires_any:ev|heat_pump; excludes:solar``) and ``iou_mirror_of`` (the
  bundled RIN a CCA generation rate mirrors);
* **assignments** (optional) -- who is on what: ``usage_point`` (the UsagePoint uuid or the
  service agreement number), ``tariff_code`` and optionally ``generation_tariff_code``,
  ``effective_date`` and ``features`` (``ev|solar``).

Both are checked strictly when loaded (:func:`load_rate_table`): a bad RIN, a role that
disagrees with its RIN, a duplicate code, RIN or usage point, an assignment naming a rate the
rates table lacks -- each refused with the file, line and column.

**The SST's database follows the export.**  A rate change's target is a ``tariff`` row (the
request keeps a foreign key to it), and the rest of the server reads the usage point's
columns (the RIN cut-off in UsageSummary, the comparison, the billing backend).  So each new
version of the tables is copied in, in its own transaction (:func:`sync_rate_table`): rates
upserted into ``tariff`` by code (``rin``, ``name``, ``role``, ``lse``, ``iou_mirror_of``,
and the ``eligibility`` key of ``definition``; its pricing keys are left alone), and each
listed point's ``tariff``, ``generation_tariff``, ``rate_effective_date`` and ``features``
set.  A row older than the rate the SST already holds (its ``effective_date`` before the
point's ``rate_effective_date``, say a change the billing backend applied after the export
was made) does not undo it.  The catalog then answers like :class:`TariffTableCatalog`,
offering only the table's rates.

A CSV is read again when its modification time or size changes, a query every
``refresh_seconds``: a utility drops in a new export without a restart.  A new version that
fails to load is logged and the last good one served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from espi_sst.model.enums import ServiceKind

from ..storage.models import LocalTimeParameters, Tariff, UsagePoint
from ..storage.zones import zone_of
from ._rate_table import (
    Assignment,
    RateRow,
    RateTable,
    RateTableError,
    check_setting,
    load_rate_table,
)
from ._tables import TableCache, epoch_of, file_stamp
from .adapters import AdapterConfigError
from .catalog import (
    BUNDLED,
    DELIVERY,
    TariffTableCatalog,
)

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 300


# ---- copying into the SST's database ------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync changed, and the assignments it could not apply (none is fatal)."""

    tariffs_added: list[str] = field(default_factory=list)
    tariffs_updated: list[str] = field(default_factory=list)
    points_updated: int = 0
    unknown: list[str] = field(default_factory=list)  # not a usage point of this database
    mismatched: list[str] = field(default_factory=list)  # the rate does not fit the point
    kept_newer: list[str] = field(default_factory=list)  # the SST holds a later rate

    @property
    def changed(self) -> bool:
        return bool(self.tariffs_added or self.tariffs_updated or self.points_updated)


def sync_rate_table(session: Session, table: RateTable) -> SyncReport:
    """Copy ``table`` into the ``tariff`` and ``usage_point`` rows (the caller commits)."""
    report = SyncReport()
    tariffs = _sync_tariffs(session, table, report)
    if table.assignments:
        _sync_points(session, table, tariffs, report)
    return report


def _sync_tariffs(session: Session, table: RateTable, report: SyncReport) -> dict[str, Tariff]:
    existing = {
        t.code: t for t in session.scalars(select(Tariff).where(Tariff.code.in_(list(table.rates))))
    }
    for code, rate in table.rates.items():
        row = existing.get(code)
        values = {
            "name": rate.name,
            "rin": rate.rin,
            "role": rate.role,
            "lse": rate.lse,
            "iou_mirror_of": rate.iou_mirror_of,
            "definition": _with_eligibility(row.definition if row else None, rate.eligibility),
        }
        if row is None:
            existing[code] = Tariff(code=code, **values)
            session.add(existing[code])
            report.tariffs_added.append(code)
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            report.tariffs_updated.append(code)
    session.flush()
    return existing


def _with_eligibility(
    definition: Mapping[str, Any] | None, rules: dict[str, list[str]] | None
) -> dict[str, Any] | None:
    """The definition with the table's eligibility (a new dict: JSON columns see no edits)."""
    updated = dict(definition or {})
    if rules:
        updated["eligibility"] = rules
    else:
        updated.pop("eligibility", None)
    if not updated and definition is None:
        return None
    return updated


def _sync_points(
    session: Session, table: RateTable, tariffs: Mapping[str, Tariff], report: SyncReport
) -> None:
    columns = (
        UsagePoint.id,
        UsagePoint.uuid,
        UsagePoint.service_agreement,
        UsagePoint.udc,
        UsagePoint.lse,
        UsagePoint.tariff_id,
        UsagePoint.generation_tariff_id,
        UsagePoint.rate_effective_date,
        UsagePoint.features,
        UsagePoint.local_time_id,
    )
    points = session.execute(
        select(*columns).where(UsagePoint.service_kind == ServiceKind.electricity)
    ).all()
    by_uuid = {p.uuid: p for p in points}
    by_agreement: dict[str, list[Any]] = {}
    for p in points:
        by_agreement.setdefault(p.service_agreement, []).append(p)
    zones = {ltp.id: zone_of(ltp) for ltp in session.scalars(select(LocalTimeParameters))}
    for a in table.assignments:
        matches = (
            [by_uuid[a.usage_point]]
            if a.usage_point in by_uuid
            else by_agreement.get(a.usage_point, [])
        )
        if not matches:
            report.unknown.append(a.usage_point)
            continue
        if len(matches) > 1:
            report.mismatched.append(f"{a.where}: {a.usage_point} names {len(matches)} points")
            continue
        point = matches[0]
        problem = _misfit(point, table.rates[a.tariff_code], a, table)
        if problem:
            report.mismatched.append(f"{a.where}: {problem}")
            continue
        values: dict[str, Any] = {}
        effective = None
        if a.effective is not None:
            effective = epoch_of(a.effective, zones.get(point.local_time_id, zone_of(None)))
        held = point.rate_effective_date
        if effective is not None and held is not None and effective < held:
            report.kept_newer.append(a.usage_point)
        else:
            values["tariff_id"] = tariffs[a.tariff_code].id
            if a.generation_tariff_code is not None:
                values["generation_tariff_id"] = tariffs[a.generation_tariff_code].id
            if effective is not None:
                values["rate_effective_date"] = effective
        if a.features is not None:
            values["features"] = a.features
        changed = {k: v for k, v in values.items() if getattr(point, k) != v}
        if changed:
            session.execute(update(UsagePoint).where(UsagePoint.id == point.id).values(**changed))
            report.points_updated += 1


def _misfit(point: Any, rate: RateRow, a: Assignment, table: RateTable) -> str | None:
    bundled = point.udc == point.lse
    served = f"{a.usage_point} is delivered by {point.udc} and served by {point.lse}"
    if rate.role == BUNDLED and not (bundled and rate.lse == point.lse):
        return f"{rate.code} is a bundled rate of {rate.lse}; {served}"
    if rate.role == DELIVERY and (bundled or rate.lse != point.udc):
        return f"{rate.code} is a delivery rate of {rate.lse}; {served}"
    generation = table.rates.get(a.generation_tariff_code or "")
    if generation is not None and generation.lse != point.lse:
        return f"{generation.code} is a generation rate of {generation.lse}; {served}"
    return None


# ---- the per-process cache and the sync marker --------------------------------------------

_TABLES: TableCache[RateTable] = TableCache(load_rate_table, "RATE_TABLE")
_SYNCED: dict[str, str] = {}  # database -> fingerprint of the table last copied into it
_SYNC_LOCK = threading.Lock()


def current_table(setting: Mapping[str, Any]) -> RateTable:
    """The setting's tables as of now (read again when changed; see the module docstring)."""
    check_setting(setting)
    stamps = [file_stamp(setting["rates"])]
    if setting.get("assignments") is not None:
        stamps.append(file_stamp(setting["assignments"]))
    stamp = None if None in stamps else tuple(stamps)
    refresh = float(setting.get("refresh_seconds", DEFAULT_REFRESH_SECONDS))
    return _TABLES.get(setting, stamp=stamp, refresh_seconds=refresh)


def ensure_synced(session: Session, table: RateTable, *, force: bool = False) -> None:
    """Copy ``table`` into the session's database once per version and process, in a
    transaction of its own (two processes may race: the loser's INSERT conflicts and it
    tries again, finding the rows)."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    assert isinstance(engine, Engine)
    key = str(engine.url)
    with _SYNC_LOCK:
        if not force and _SYNCED.get(key) == table.fingerprint:
            return
        report = _sync_once(engine, table)
        _SYNCED[key] = table.fingerprint
    if report.changed:
        log.info(
            "rate table copied: tariffs %d added, %d updated; %d usage points updated",
            len(report.tariffs_added),
            len(report.tariffs_updated),
            report.points_updated,
        )
        for obj in list(session.identity_map.values()):  # let the caller see the new rows
            if isinstance(obj, Tariff | UsagePoint) and not session.is_modified(obj):
                session.expire(obj)
    for label, items in (
        ("unknown usage points", report.unknown),
        ("not applied", report.mismatched),
    ):
        if items:
            log.warning("rate table: %d %s: %s", len(items), label, "; ".join(items[:20]))


def _sync_once(engine: Engine, table: RateTable) -> SyncReport:
    for attempt in range(3):
        with Session(engine, expire_on_commit=False) as own:
            try:
                report = sync_rate_table(own, table)
                own.commit()
                return report
            except IntegrityError:
                own.rollback()
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


# ---- the catalog --------------------------------------------------------------------------


class TableCatalog(TariffTableCatalog):
    """:class:`TariffTableCatalog` over the rows a :class:`RateTable` was copied into,
    offering the table's rates only (the eligibility rule is the sample's)."""

    def __init__(self, session: Session, config: Mapping[str, Any], table: RateTable) -> None:
        super().__init__(session, config)
        self.table = table

    def offered_tariffs(self) -> list[Tariff]:
        """The table's rates only (in the table's order)."""
        codes = list(self.table.rates)
        found = {
            t.code: t for t in self.session.scalars(select(Tariff).where(Tariff.code.in_(codes)))
        }
        if len(found) != len(codes):  # rows deleted since the copy: copy again
            ensure_synced(self.session, self.table, force=True)
            found = {
                t.code: t
                for t in self.session.scalars(select(Tariff).where(Tariff.code.in_(codes)))
            }
        return [found[code] for code in codes if code in found]

    def tariff_by_rin(self, rin: str) -> Tariff | None:
        code = self.table.code_by_rin.get(rin)
        if code is None:
            return None
        return next((t for t in self.offered_tariffs() if t.code == code), None)


def table_catalog(session: Session, config: Mapping[str, Any]) -> TableCatalog:
    """``RATE_CATALOG="espi_sst_server.sst.table_catalog:table_catalog"`` with ``RATE_TABLE``."""
    setting = config.get("RATE_TABLE")
    if setting is None:
        raise AdapterConfigError("RATE_CATALOG is the table catalog, but RATE_TABLE is not set")
    table = current_table(setting)
    ensure_synced(session, table)
    return TableCatalog(session, config, table)


__all__ = [
    "Assignment",
    "RateRow",
    "RateTable",
    "RateTableError",
    "SyncReport",
    "TableCatalog",
    "current_table",
    "ensure_synced",
    "load_rate_table",
    "sync_rate_table",
    "table_catalog",
]
