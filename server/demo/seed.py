"""Fill an empty database with the demo utility: tariffs, customers, 13+ months of readings,
usage summaries and ASP registrations, so the demo and the tests have a realistic custodian.

``seed(session, now=..., seed=2026)`` is deterministic: the same seed and ``now`` give the
same rows (UUIDs, readings, summaries) on every machine; only the argon2 password hashes
differ (their salts are random, as they must be).  UUIDs are uuid5 of fixed names, so URLs
stay the same across runs and seeds.  Readings end at local midnight of ``now``'s day and
start on the 1st of the month 14 months earlier (>= 13 complete billing cycles for every
read day).  Interval costs are left empty: the SST computes bills from the tariffs.

The data has the imperfections real feeds have and consumers must handle -- an electric day
estimated from a reference day (quality 8), four 15-minute intervals and one gas day filled
by linear interpolation (quality 9) -- but no gaps: a missing day would break bills.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from espi_sst.model.enums import (
    AccumulationKind,
    CommodityKind,
    DataQualifierKind,
    FlowDirectionKind,
    MeasurementKind,
    PhaseCodeKind,
    ServiceKind,
    TimeAttributeKind,
    UnitMultiplierKind,
    UnitSymbolKind,
)

from ..errors import ConfigurationError
from ..security import hash_secret
from ..sst.pricing import DayUsage, combined_cycle_cost, cycle_cost
from ..storage.interval_data import write_readings
from ..storage.models import (
    Application,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    Tariff,
    UsagePoint,
    UsageSummary,
)
from . import _timeline as timeline
from .clients import CLIENTS, DEMO_SCOPE, ClientSpec
from .customers import CUSTOMERS, UDC, CustomerSpec
from .data import DemoClient, DemoCustomer, DemoData
from .readings import Series, electric_series, gas_series
from .tariffs import (
    CURRENCY_USD,
    EXPORT_CREDIT_PER_KWH,
    GAS_G1,
    GAS_TARIFF_PROFILE,
    TARIFFS,
)

NAMESPACE = uuid.UUID("5b0c3e58-6a43-5d1e-9a39-2f6e0d5c7a11")  # espi-sst demo data
THERM_WH = 29_307.107  # 1 therm = 100,000 BTU


def demo_uuid(*name: str) -> str:
    """A stable UUID for a demo object, from its path-like name."""
    return str(uuid.uuid5(NAMESPACE, "/".join(name)))


class AlreadySeededError(ConfigurationError):
    """The database already holds data; the demo seed only fills an empty one."""

    code = "already_seeded"


def seed(session: Session, *, now: int, seed: int = 2026) -> DemoData:
    """Seed the demo utility into an empty database (the caller commits)."""
    _require_empty(session)
    zone = timeline.pacific()
    first, end = timeline.history_bounds(now, zone)
    days = timeline.local_days(first, end, zone)
    tariffs = {spec.code: Tariff(**asdict(spec)) for spec in TARIFFS}
    session.add_all(tariffs.values())
    local_time = LocalTimeParameters(
        uuid=demo_uuid("local-time", "us-pacific"),
        title=timeline.TITLE,
        tz_offset=timeline.TZ_OFFSET,
        dst_offset=timeline.DST_OFFSET,
        dst_start_rule=timeline.DST_START_RULE,
        dst_end_rule=timeline.DST_END_RULE,
    )
    session.add(local_time)
    hasher = PasswordHasher()
    seeder = _Seeder(session, seed, now, days, tariffs, local_time, hasher)
    customers = tuple(seeder.customer(spec) for spec in CUSTOMERS)
    clients = tuple(_add_client(session, spec, seed, now) for spec in CLIENTS)
    session.flush()
    return DemoData(seed, days[0].start, days[-1].end, customers, clients)


def _require_empty(session: Session) -> None:
    found = {
        table: session.scalar(select(func.count()).select_from(model)) or 0
        for table, model in (
            ("retail_customer", RetailCustomer),
            ("tariff", Tariff),
            ("application", Application),
        )
    }
    present = {table: count for table, count in found.items() if count}
    if present:
        listed = ", ".join(f"{count} {table} rows" for table, count in present.items())
        raise AlreadySeededError(
            f"the database is not empty ({listed}); the demo seed only fills an empty database: "
            "point DATABASE_URL at a new database or drop the existing one first"
        )


class _Seeder:
    """Adds one customer at a time, with usage points, readings and summaries."""

    def __init__(
        self,
        session: Session,
        seed: int,
        now: int,
        days: list[timeline.LocalDay],
        tariffs: dict[str, Tariff],
        local_time: LocalTimeParameters,
        hasher: PasswordHasher,
    ) -> None:
        self.session = session
        self.seed = seed
        self.now = now
        self.days = days
        self.tariffs = tariffs
        self.local_time = local_time
        self.hasher = hasher
        self.zone = timeline.pacific()

    def rng(self, *name: str) -> random.Random:
        # str seeds are hashed with SHA-512: the same stream on every run and platform.
        return random.Random("/".join(("espi-sst-demo", str(self.seed), *name)))

    def customer(self, spec: CustomerSpec) -> DemoCustomer:
        first = self.days[0].day
        password = spec.password(self.seed)
        customer = RetailCustomer(
            uuid=demo_uuid("customer", spec.username),
            username=spec.username,
            password_hash=self.hasher.hash(password),
            totp_secret=None,
            display_name=spec.display_name,
            email=spec.email,
            phone=spec.phone,
            passcode_channel=spec.passcode_channel,
            service_address=spec.service_address,
            created_at=timeline.local_midnight(timeline.add_months(first, -36), self.zone),
        )
        self.session.add(customer)
        temperatures = spec.climate.daily_means(self.days, self.rng("weather", spec.climate.name))
        rate_since = timeline.add_months(first.replace(day=spec.read_day), -spec.on_rate_months)
        electric = self._usage_point(spec, customer, "electric", ServiceKind.electricity)
        electric.tariff = self.tariffs[spec.tariff]
        if spec.generation_tariff:
            electric.generation_tariff = self.tariffs[spec.generation_tariff]
        if spec.switched_from is not None:  # a voluntary change inside the data
            last_cycle = self.days[-1].day.replace(day=spec.read_day)
            if last_cycle > self.days[-1].day:
                last_cycle = timeline.add_months(last_cycle, -1)
            rate_since = timeline.add_months(last_cycle, -spec.switched_months_ago)
        electric.rate_effective_date = timeline.local_midnight(rate_since, self.zone)
        if spec.switched_from is not None:
            electric.last_voluntary_change_at = electric.rate_effective_date
        series = electric_series(spec, self.days, temperatures, self.rng(spec.username, "electric"))
        channels = [("delivered", series.delivered, FlowDirectionKind.forward)]
        if series.received is not None:
            channels.append(("received", series.received, FlowDirectionKind.reverse))
        for name, values, flow in channels:
            reading = self._meter_reading(electric, name, _electric_type(flow))
            self._insert(
                reading.id, series.starts, series.durations, values, series.qualities[name]
            )
        self._summaries(spec, electric, series)
        points = [electric]
        if spec.gas:
            gas = self._usage_point(spec, customer, "gas", ServiceKind.gas)
            gas.rate_effective_date = electric.rate_effective_date
            daily = gas_series(spec, self.days, temperatures, self.rng(spec.username, "gas"))
            reading = self._meter_reading(gas, "delivered", _gas_type())
            self._insert(
                reading.id,
                daily.starts,
                daily.durations,
                daily.delivered,
                daily.qualities["delivered"],
            )
            self._summaries(spec, gas, daily)
            points.append(gas)
        return DemoCustomer(
            username=spec.username,
            password=password,
            kind=spec.kinds[0],
            kinds=spec.kinds,
            display_name=spec.display_name,
            uuid=customer.uuid,
            usage_point_uuids=tuple(point.uuid for point in points),
            email=spec.email,
            phone=spec.phone or "",
            passcode_channel=spec.passcode_channel,
        )

    def _usage_point(
        self, spec: CustomerSpec, customer: RetailCustomer, service: str, kind: int
    ) -> UsagePoint:
        point_uuid = demo_uuid("usage-point", spec.username, service)
        point = UsagePoint(
            uuid=point_uuid,
            customer=customer,
            title=f"{service.capitalize()} service, {spec.service_address.split(',')[0]}",
            service_kind=kind,
            service_agreement=str(uuid.UUID(point_uuid).int % 10**10).zfill(10),
            local_time=self.local_time,
            udc=UDC,
            lse=spec.lse if service == "electric" else UDC,
            read_day=spec.read_day,
            baseline_territory=spec.baseline_territory,
            features=list(spec.features) if service == "electric" else [],
        )
        self.session.add(point)
        return point

    def _meter_reading(self, point: UsagePoint, name: str, kind: ReadingType) -> MeterReading:
        kind.uuid = demo_uuid("reading-type", point.uuid, name)
        reading = MeterReading(
            uuid=demo_uuid("meter-reading", point.uuid, name),
            usage_point=point,
            reading_type=kind,
            title=f"{point.title}: {name}",
        )
        self.session.add(reading)
        self.session.flush()
        return reading

    def _insert(
        self,
        meter_reading_id: int,
        starts: Sequence[int],
        durations: Sequence[int],
        values: Sequence[int],
        qualities: dict[int, int],
    ) -> None:
        """Packed per local day by the storage layer (``storage/interval_data.py``)."""
        readings = [
            (start, duration, value, None, qualities.get(index))
            for index, (start, duration, value) in enumerate(
                zip(starts, durations, values, strict=True)
            )
        ]
        write_readings(self.session, meter_reading_id, readings, zone=self.zone)

    def _summaries(self, spec: CustomerSpec, point: UsagePoint, series: Series) -> None:
        gas = point.service_kind == ServiceKind.gas
        profile: str | None
        by_day = {day.day: index for index, day in enumerate(self.days)}
        for start, stop in timeline.billing_cycles(
            self.days[0].day, self.days[-1].day + _ONE_DAY, spec.read_day
        ):
            span = range(by_day[start], by_day[stop] if stop in by_day else len(self.days))
            usage = [series.day_usage(i) for i in span]
            if gas:
                cost = cycle_cost(GAS_G1, usage, territory=spec.baseline_territory).total
                consumption = round(sum(sum(day.by_hour) for day in usage) * THERM_WH)
                profile = GAS_TARIFF_PROFILE
            else:
                tariff = point.tariff
                if spec.switched_from and self.days[span[0]].start < (
                    point.rate_effective_date or 0
                ):
                    tariff = self.tariffs[spec.switched_from]  # billed on the old rate
                cost, consumption = self._electric_bill(spec, point, tariff, usage, series, span)
                profile = tariff.code if tariff else None
            period_start = self.days[span[0]].start
            period_end = self.days[span[-1]].end
            self.session.add(
                UsageSummary(
                    uuid=demo_uuid("usage-summary", point.uuid, start.isoformat()),
                    usage_point=point,
                    billing_period_start=period_start,
                    billing_period_duration=period_end - period_start,
                    bill_last_period=round(cost * 100_000),  # ESPI cost: 1e-5 of the currency
                    currency=CURRENCY_USD,
                    consumption_wh=consumption,
                    status_time_stamp=min(period_end + 2 * 86400, self.now),
                    tariff_profile=profile,
                    read_cycle="M",
                    agency_name=point.lse,
                )
            )

    def _electric_bill(
        self,
        spec: CustomerSpec,
        point: UsagePoint,
        tariff: Tariff | None,
        usage: list[DayUsage],
        series: Series,
        span: range,
    ) -> tuple[float, int]:
        assert tariff is not None and tariff.definition is not None
        definitions = [tariff.definition]
        generation = point.generation_tariff
        if generation is not None and generation.definition is not None:
            definitions.append(generation.definition)
        cost = combined_cycle_cost(definitions, usage, territory=spec.baseline_territory)
        if series.received is not None:  # Net Billing: credits offset energy, not the fixed charge
            exported_kwh = series.total_wh(series.received, span) / 1000
            cost = replace(cost, export_credit=exported_kwh * EXPORT_CREDIT_PER_KWH)
        return cost.total, series.total_wh(series.delivered, span)


_ONE_DAY = timedelta(days=1)


def _electric_type(flow_direction: FlowDirectionKind) -> ReadingType:
    delivered = flow_direction == FlowDirectionKind.forward
    return ReadingType(
        title="15-minute energy, Wh, " + ("delivered" if delivered else "received"),
        accumulation_behaviour=AccumulationKind.deltaData,
        commodity=CommodityKind.electricity_SecondaryMetered,
        currency=CURRENCY_USD,
        data_qualifier=DataQualifierKind.normal,
        flow_direction=flow_direction,
        interval_length=timeline.INTERVAL,
        kind=MeasurementKind.energy,
        phase=PhaseCodeKind.S12N_769,  # US residential split phase
        power_of_ten_multiplier=UnitMultiplierKind.none,
        time_attribute=TimeAttributeKind.none,
        uom=UnitSymbolKind.Wh,
    )


def _gas_type() -> ReadingType:
    return ReadingType(
        title="Daily gas, therm x 10^-3, delivered",
        accumulation_behaviour=AccumulationKind.deltaData,
        commodity=CommodityKind.naturalGas,
        currency=CURRENCY_USD,
        data_qualifier=DataQualifierKind.normal,
        flow_direction=FlowDirectionKind.forward,
        interval_length=86400,
        kind=MeasurementKind.energy,
        phase=PhaseCodeKind.none,
        power_of_ten_multiplier=UnitMultiplierKind.m,  # millitherms: a summer day is under one
        time_attribute=TimeAttributeKind.none,
        uom=UnitSymbolKind.therm,
    )


def _add_client(session: Session, spec: ClientSpec, seed: int, now: int) -> DemoClient:
    secret = spec.secret(seed)
    session.add(
        Application(
            uuid=demo_uuid("application", spec.client_id),
            client_id=spec.client_id,
            client_secret_hash=hash_secret(secret) if secret is not None else None,
            client_name=spec.name,
            client_uri=spec.client_uri,
            redirect_uris=list(spec.redirect_uris),
            notify_uri=spec.notify_uri,
            scope=DEMO_SCOPE,
            grant_types=list(spec.grant_types),
            token_endpoint_auth_method=spec.token_endpoint_auth_method,
            qualification=spec.qualification,
            asp_class=spec.asp_class,
            software_id=spec.software_id,
            software_version="1.0",
            contacts=[f"operations@{spec.client_id}.example"],
            created_at=now - 90 * 86400,
        )
    )
    return DemoClient(
        spec.client_id, secret, spec.redirect_uris, spec.name, spec.qualification, spec.asp_class
    )
