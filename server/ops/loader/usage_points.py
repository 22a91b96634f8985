"""``usage-points.csv``: the metered services (``usage_point``), by uuid, under accounts.

Columns: ``usage_point`` (the ESPI UsagePoint uuid, its mRID; the natural key),
``account`` (an ``account_number`` loaded before; the usage point's customer is the
account's), ``service_agreement`` (the CIS's number, unique: ``service-agreements.csv``
finds the point by it), ``service_kind`` (``electricity``, ``gas``, ``water``), ``title``,
``udc`` (the utility distribution company's code, ``PGE``); optional ``lse`` (who supplies
the energy; default the UDC: bundled), ``time_zone`` (``US/Pacific``, ``US/Mountain``,
``US/Central``, ``US/Eastern``; empty: UTC -- the local days interval data is stored and
served in, ESPI LocalTimeParameters), ``uom`` (an ESPI UnitSymbolKind name: ``Wh``,
``therm``, ``m3``), ``power_of_ten_multiplier``, ``interval_length`` (seconds): the reading
type of the point's ``delivered`` channel (:mod:`.channels`).

The server holds one service agreement per usage point (``UsagePoint`` is both,
``storage/models.py``): this file says where and what is metered, ``service-agreements.csv``
on which terms (rates, read day ...)."""

from __future__ import annotations

from collections.abc import Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.model.enums import ServiceKind, UnitSymbolKind

from ...storage.models import CustomerAccount, LocalTimeParameters, UsagePoint
from . import values
from .channels import DEFAULT_UNITS, PRIMARY, Units, ensure_channel, reading_type_fields
from .csv_rows import Row
from .kinds import LoadContext, NothingStaged, Outcome, assign, derived_uuid
from .problems import RowError

US_DST_START = "360E2000"  # second Sunday of March, 02:00 (ESPI DstRuleType)
US_DST_END = "B40E2000"  # first Sunday of November, 02:00
TIME_ZONES: dict[str, int] = {
    "US/Pacific": -28_800,
    "US/Mountain": -25_200,
    "US/Central": -21_600,
    "US/Eastern": -18_000,
}
SERVICE_KINDS: dict[str, int | str] = {
    "electricity": int(ServiceKind.electricity),
    "gas": int(ServiceKind.gas),
    "water": int(ServiceKind.water),
}


def local_time(session: Session, name: str) -> LocalTimeParameters:
    """The shared LocalTimeParameters row of a named zone, created once."""
    ltp_uuid = derived_uuid("local-time", name)
    found = session.scalar(select(LocalTimeParameters).where(LocalTimeParameters.uuid == ltp_uuid))
    if found is None:
        found = LocalTimeParameters(
            uuid=ltp_uuid,
            title=name,
            tz_offset=TIME_ZONES[name],
            dst_offset=3_600,
            dst_start_rule=US_DST_START,
            dst_end_rule=US_DST_END,
        )
        session.add(found)
        session.flush()
    return found


class UsagePoints(NothingStaged):
    name = "usage-points"
    required = ("usage_point", "account", "service_agreement", "service_kind", "title", "udc")
    optional = ("lse", "time_zone", "uom", "power_of_ten_multiplier", "interval_length")
    key_column = "usage_point"

    def key(self, row: Row) -> Hashable:
        return values.a_uuid(row, "usage_point")

    def apply(self, session: Session, row: Row, context: LoadContext) -> Outcome:
        point_uuid = values.a_uuid(row, "usage_point")
        number = values.required_text(row, "account", limit=64)
        account = session.scalar(
            select(CustomerAccount).where(CustomerAccount.account_number == number)
        )
        if account is None:
            raise RowError(
                "account", f"no account {number!r}; load it first (espi-sst load accounts)"
            )
        agreement = values.required_text(row, "service_agreement", limit=64)
        kind = int(values.choice(row, "service_kind", SERVICE_KINDS))
        udc = values.required_text(row, "udc", limit=64)
        zone_name = row["time_zone"]
        if zone_name and zone_name not in TIME_ZONES:
            raise RowError(
                "time_zone",
                f"{zone_name!r} is not one of {', '.join(TIME_ZONES)} (empty: UTC)",
            )
        units = self._units(row, kind)
        fields: dict[str, object] = {
            "customer_id": account.customer_id,
            "account_id": account.id,
            "title": values.required_text(row, "title", limit=200),
            "service_kind": kind,
            "service_agreement": agreement,
            "udc": udc,
            "lse": values.text(row, "lse", limit=64, required=False) or udc,
            "local_time_id": local_time(session, zone_name).id if zone_name else None,
        }
        other = session.scalar(
            select(UsagePoint.uuid).where(
                UsagePoint.service_agreement == agreement, UsagePoint.uuid != point_uuid
            )
        )
        if other is not None:
            raise RowError(
                "service_agreement",
                f"{agreement!r} is already usage point {other}'s service agreement; each "
                "usage point has its own",
            )
        point = session.scalar(select(UsagePoint).where(UsagePoint.uuid == point_uuid))
        outcome: Outcome = "unchanged"
        if point is None:
            point = UsagePoint(uuid=point_uuid, **fields)
            session.add(point)
            session.flush()
            outcome = "inserted"
        elif assign(point, fields):
            outcome = "updated"
        channel = ensure_channel(
            session, point, PRIMARY, f"{fields['title']}: {PRIMARY}", reading_type_fields(units)
        )
        if outcome == "unchanged" and channel != "unchanged":
            outcome = "updated"
        return outcome

    def _units(self, row: Row, kind: int) -> Units:
        default = DEFAULT_UNITS.get(kind, DEFAULT_UNITS[ServiceKind.electricity])
        uom = default.uom
        if row["uom"]:
            try:
                uom = int(UnitSymbolKind[row["uom"]])
            except KeyError:
                raise RowError(
                    "uom", f"{row['uom']!r} is not an ESPI UnitSymbolKind name (Wh, therm, m3 ...)"
                ) from None
        multiplier = values.integer(row, "power_of_ten_multiplier", low=-9, high=9, required=False)
        length = values.integer(row, "interval_length", low=1, high=31 * 86_400, required=False)
        return Units(
            uom,
            default.power_of_ten_multiplier if multiplier is None else multiplier,
            default.interval_length if length is None else length,
            default.commodity,
        )
