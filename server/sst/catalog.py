"""The rate catalog: which RINs apply to a service agreement, and which rates it may switch to.

1623(c)(1)(A) and (B).  A utility answers both from its own systems (a RIN table, a rate
eligibility engine); :class:`RateCatalog` is the interface it implements, speaking the
library's SST model (``espi_sst.model.sst``).  :class:`TariffTableCatalog` is the sample: it
reads the ``tariff`` table and the usage point's current tariffs.

Unbundled (CCA) customers: the UDC always knows its own delivery rate.  Whether it also
knows the CCA's generation RIN depends on the utility: PG&E caches CCA RINs, others do not
(concept design 7.3).  ``CACHED_CCA_RINS`` says which: ``True`` (every CCA), ``False`` (none)
or a list of CCA codes.  When the generation RIN is not cached the answer says so
explicitly (``generationRinStatus``: not available here, ask the CCA at ``referTo``).

Eligibility in the sample: a rate is open to a service agreement when it is of the same
role and LSE as its current rate and its definition's ``eligibility`` allows the premise's
``features`` (``requires_any``: at least one of them, as E-ELEC requires an EV, battery or
heat pump; ``excludes``: none of them, as Net Billing customers cannot take a tiered rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst import Rin
from espi_sst.model import sst

from ..storage.models import Tariff, UsagePoint

BUNDLED = "bundled"
DELIVERY = "delivery"
GENERATION = "generation"


@dataclass(frozen=True)
class CurrentRates:
    """What a service agreement is on now: one bundled rate, or delivery (+ generation)."""

    rates: list[sst.CurrentRate]
    generation_status: sst.GenerationRinStatus | None = None

    def rin_elements(self) -> list[sst.ServedRin]:
        """The RIN elements for ``espi:UsageSummary/espi:extension`` (1623(c)(1)(A))."""
        elements: list[sst.ServedRin] = []
        for rate in self.rates:
            if rate.role is sst.Role.bundled:
                elements.append(sst.BundledRin(value=rate.rin, lse=rate.lse))
            elif rate.role is sst.Role.delivery:
                elements.append(sst.DeliveryRin(value=rate.rin, udc=rate.lse))
            else:
                elements.append(sst.GenerationRin(value=rate.rin, lse=rate.lse))
        return elements


@dataclass(frozen=True)
class RateOption:
    """An eligible rate and what is behind it (the tariff row, when the catalog has one)."""

    rate: sst.EligibleRate
    tariff: Tariff | None
    switchable: bool
    """True when the SST may ask the billing system for it (not a CCA product or a mirror)."""


class RateCatalog(Protocol):
    """What a utility plugs in to answer "which rate, which RIN, which alternatives"."""

    def current_rates(self, point: UsagePoint) -> CurrentRates: ...

    def eligible_rates(self, point: UsagePoint) -> list[RateOption]: ...

    def tariff_by_rin(self, rin: str) -> Tariff | None: ...


def caches_generation_rin(config: Mapping[str, Any], lse: str) -> bool:
    setting = config.get("CACHED_CCA_RINS", True)
    if isinstance(setting, bool):
        return setting
    return lse in set(setting)


def entity_name(config: Mapping[str, Any], code: str) -> str | None:
    entry = config.get("ENTITIES", {}).get(code)
    return None if entry is None else str(entry.get("name") or code)


def entity_url(config: Mapping[str, Any], code: str) -> str:
    """Where to ask an entity (the statewide gateway's entry for it, by default)."""
    entry = config.get("ENTITIES", {}).get(code) or {}
    if entry.get("url"):
        return str(entry["url"])
    return str(config["ENTITY_URL_TEMPLATE"]).format(entity=code)


def allowed_by_features(definition: Mapping[str, Any] | None, features: Sequence[str]) -> bool:
    rules = (definition or {}).get("eligibility") or {}
    have = set(features)
    requires_any = rules.get("requires_any") or []
    if requires_any and not have & set(requires_any):
        return False
    return not have & set(rules.get("excludes") or [])


def same_lse_and_role(tariff: Tariff, current: Tariff) -> bool:
    """A rate change stays with the LSE and the role of the current rate: changing LSE is
    not a rate change (the catalog offers only these; eligibility refuses the rest)."""
    return tariff.lse == current.lse and tariff.role == current.role


class TariffTableCatalog:
    """The sample catalog: the ``tariff`` table and each usage point's current tariffs."""

    def __init__(self, session: Session, config: Mapping[str, Any]) -> None:
        self.session = session
        self.config = config

    # ---- current --------------------------------------------------------------------------
    def current_rates(self, point: UsagePoint) -> CurrentRates:
        effective = point.rate_effective_date or 0
        rates: list[sst.CurrentRate] = []
        if point.tariff is not None:
            rates.append(self._current(point.tariff, effective))
        if point.bundled or point.tariff is None:
            return CurrentRates(rates)
        generation = point.generation_tariff
        if generation is not None and caches_generation_rin(self.config, point.lse):
            rates.append(self._current(generation, effective))
            return CurrentRates(rates)
        status = sst.GenerationRinStatus(
            availability=sst.GenerationRinAvailability.notAvailableHere,
            lse=point.lse,
            lse_name=entity_name(self.config, point.lse),
            refer_to=entity_url(self.config, point.lse),
            message=(
                f"{point.lse} sets this customer's generation rate; "
                f"{point.udc} does not hold its RIN: ask {point.lse}"
            ),
        )
        return CurrentRates(rates, status)

    def _current(self, tariff: Tariff, effective: int) -> sst.CurrentRate:
        return sst.CurrentRate(
            rin=Rin.parse(tariff.rin),
            role=sst.Role(tariff.role),
            lse=tariff.lse,
            lse_name=entity_name(self.config, tariff.lse),
            tariff_code=tariff.code,
            tariff_name=tariff.name[:256],
            effective_date=effective,
        )

    # ---- eligible -------------------------------------------------------------------------
    def offered_tariffs(self) -> list[Tariff]:
        """The rates this catalog offers at all: every row of the ``tariff`` table."""
        return list(self.session.scalars(select(Tariff).order_by(Tariff.id)))

    def eligible_rates(self, point: UsagePoint) -> list[RateOption]:
        current = point.tariff
        if current is None:
            return []
        features = point.features or []
        tariffs = self.offered_tariffs()
        options = [
            RateOption(self._eligible(t), t, switchable=True)
            for t in tariffs
            if same_lse_and_role(t, current) and allowed_by_features(t.definition, features)
        ]
        if point.bundled or not caches_generation_rin(self.config, point.lse):
            return options
        by_rin = {t.rin: t for t in tariffs}
        for product in tariffs:  # the CCA's products, and the IOU rates they mirror
            if product.role != GENERATION or product.lse != point.lse:
                continue
            mirror = by_rin.get(product.iou_mirror_of or "")
            if mirror is not None and not allowed_by_features(mirror.definition, features):
                continue
            options.append(RateOption(self._eligible(product), product, switchable=False))
            if mirror is not None:
                rate = self._eligible(mirror, mirror_of=product.rin)
                options.append(RateOption(rate, mirror, switchable=False))
        return options

    def _eligible(self, tariff: Tariff, mirror_of: str | None = None) -> sst.EligibleRate:
        return sst.EligibleRate(
            rin=Rin.parse(tariff.rin),
            tariff_code=tariff.code,
            name=tariff.name[:256],
            role=sst.Role(tariff.role),
            lse=tariff.lse,
            iou_mirror=mirror_of is not None,
            mirror_of=None if mirror_of is None else Rin.parse(mirror_of),
        )

    def tariff_by_rin(self, rin: str) -> Tariff | None:
        return self.session.scalar(select(Tariff).where(Tariff.rin == rin))


def catalog_for(app: Flask, session: Session) -> RateCatalog:
    """The configured catalog (``RATE_CATALOG``: "module:attribute" of a factory
    ``(session, config) -> RateCatalog``), else the sample."""
    from .adapters import load_factory

    factory = load_factory(app.config, "RATE_CATALOG", TariffTableCatalog)
    catalog: RateCatalog = factory(session, app.config)
    return catalog
