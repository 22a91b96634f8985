"""What the dashboard shows of one electric service agreement, gathered from the utility
(through the customer's grant) and from MIDAS (today's price of each RIN).

Only what the customer shared is asked for: the grant's scope says which consent-page items
they ticked, and a missing one is named on the page instead of failing the whole page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from espi_sst.client import CustomerConnection, UsagePointInfo
from espi_sst.midas import MidasClient, MidasError, PriceInterval
from espi_sst.model import sst
from espi_sst.scope import Category

from .chart import Chart, bill_chart


@dataclass
class RinView:
    rin: str
    role: str  # bundled | delivery | generation
    party: str  # who sets this part of the rate (the utility, the CCA)
    price: PriceInterval | None = None
    price_problem: str | None = None


@dataclass
class Agreement:
    """One electric service agreement as the dashboard shows it."""

    point: UsagePointInfo
    rins: list[RinView] = field(default_factory=list)
    ask_cca: sst.GenerationRinStatus | None = None
    rates: sst.RateInformation | None = None
    comparison: sst.BillComparison | None = None
    chart: Chart | None = None
    switchable: list[sst.EligibleRate] = field(default_factory=list)
    not_shared: list[str] = field(default_factory=list)


def gather(customer: CustomerConnection, point: UsagePointInfo, shared: set[str]) -> Agreement:
    """RINs, rates, bill comparison and the rates one may switch to, as far as ``shared``
    (the grant's scope) allows."""
    agreement = Agreement(point)
    if Category.SST_RIN.value in shared:
        agreement.rins = [_rin_view(served) for served in customer.rins(point)]
        agreement.ask_cca = customer.generation_rin_status(point)
        agreement.rates = customer.rate_information(point)
    else:
        agreement.not_shared.append(Category.SST_RIN.label)
    if Category.SST_BILL_COMPARISON.value in shared:
        agreement.comparison = customer.bill_comparison(point)
        agreement.chart = bill_chart(agreement.comparison)
    else:
        agreement.not_shared.append(Category.SST_BILL_COMPARISON.label)
    if agreement.rates is not None and Category.SST_RATE_CHANGE.value in shared:
        current = set(agreement.rates.rins)
        agreement.switchable = [
            rate
            for rate in agreement.rates.eligible_rate
            # Generation rates and IOU mirrors of CCA rates are changed at the CCA, not here.
            if rate.role is not sst.Role.generation
            and not rate.iou_mirror
            and rate.rin not in current
        ]
    elif Category.SST_RATE_CHANGE.value not in shared:
        agreement.not_shared.append(Category.SST_RATE_CHANGE.label)
    return agreement


def _rin_view(served: sst.ServedRin) -> RinView:
    if isinstance(served, sst.DeliveryRin):
        return RinView(str(served.value), "delivery", served.udc or "your utility")
    if isinstance(served, sst.GenerationRin):
        return RinView(str(served.value), "generation", served.lse or "your CCA")
    return RinView(str(served.value), "bundled", served.lse or "your utility")


def add_price(midas: MidasClient, view: RinView) -> None:
    """Today's price of the RIN, or a note: MIDAS being down never breaks the page."""
    try:
        view.price = midas.prices(view.rin).current()
    except MidasError as exc:
        current_app.logger.info("MIDAS: no price for %s: %s", view.rin, exc)
        view.price_problem = "price not available"
        return
    if view.price is None:
        view.price_problem = "price not available"
