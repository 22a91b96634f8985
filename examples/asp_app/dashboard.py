"""What the dashboard shows of one electric service agreement, gathered from the utility
(through the customer's grant) and from MIDAS (today's price of each RIN).

Only what the customer shared is asked for: the grant's scope says which consent-page items
they ticked, and a missing one is named on the page instead of failing the whole page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from espi_sst.client import CustomerConnection, RateChange, UsagePointInfo
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
class Unavailable:
    """A rate the customer may not choose now, and why, in plain words."""

    rate: sst.EligibleRate
    reason: str


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
    """The rates that can be chosen now (offered in the form when rate changes are shared)."""
    unavailable: list[Unavailable] = field(default_factory=list)
    """The other eligible rates, each with why it cannot be chosen now."""
    in_progress: RateChange | None = None
    """A rate change asked for and not yet decided (the utility allows one at a time)."""
    not_shared: list[str] = field(default_factory=list)
    shared: set[str] = field(default_factory=set)  # the grant's scope values


def gather(customer: CustomerConnection, point: UsagePointInfo, shared: set[str]) -> Agreement:
    """RINs, rates, bill comparison and the rates one may switch to, as far as ``shared``
    (the grant's scope) allows."""
    agreement = Agreement(point, shared=shared)
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
    changes: list[RateChange] = []
    if Category.SST_RATE_CHANGE.value in shared:
        changes = customer.rate_changes(point)
    else:
        agreement.not_shared.append(Category.SST_RATE_CHANGE.label)
    if agreement.rates is not None:
        sort_rates(agreement, changes)
    return agreement


PACIFIC = ZoneInfo("America/Los_Angeles")
OPEN = {
    sst.RateChangeStatus.awaitingConfirmation: "waiting for the code your utility sent you",
    sst.RateChangeStatus.confirmed: "confirmed, waiting for your utility",
    sst.RateChangeStatus.submitted: "with your utility's billing system",
}
"""Rate changes still in progress, in the customer's words.  The utility takes one at a
time per service agreement, so while one is open no other rate is offered."""


def sort_rates(agreement: Agreement, changes: list[RateChange], now: float | None = None) -> None:
    """Split the eligible rates into those the customer can choose now and the others,
    each with its reason: the customer never starts a change that cannot happen.

    The utility's own answer comes first (``availability``, SST RateInformation: what a
    request would be refused with now); then what this app knows besides -- a change
    already asked for (in progress, or accepted and not yet in force) is not offered again.
    """
    assert agreement.rates is not None
    moment = time.time() if now is None else now
    current = set(agreement.rates.rins)
    agreement.in_progress = next((c for c in changes if c.request.status in OPEN), None)
    accepted = {
        str(c.request.target_rin): c.request.effective_date
        for c in changes
        if c.request.status is sst.RateChangeStatus.accepted
        and (c.request.effective_date or 0) > moment
    }
    for rate in agreement.rates.eligible_rate:
        reason = _why_not(rate, current, agreement.in_progress, accepted)
        if reason is None:
            agreement.switchable.append(rate)
        else:
            agreement.unavailable.append(Unavailable(rate, reason))


def _why_not(
    rate: sst.EligibleRate,
    current: set[object],
    in_progress: RateChange | None,
    accepted: dict[str, int | None],
) -> str | None:
    rin = str(rate.rin)
    if rate.rin in current:
        return "This is your rate now."
    if rin in accepted:
        return f"Your change to this rate is accepted: it starts on {_day(accepted[rin])}."
    if in_progress is not None:
        words = OPEN[in_progress.request.status]
        if str(in_progress.request.target_rin) == rin:
            return f"You asked for this rate; the change is {words}."
        return (
            f"Your change to {in_progress.request.target_tariff_code or 'another rate'} is "
            f"{words}; your utility takes one change at a time."
        )
    if rate.role is sst.Role.generation or rate.iou_mirror:
        who = rate.lse or "your CCA"
        return f"Your generation rate is set by {who}: ask {who} to change it."
    availability = rate.availability
    if availability is None or availability.selectable_now is not False:
        return None
    reason = availability.reason
    if reason is sst.RejectionReason.twelveMonthRestriction:
        since = (
            f" You can choose it from {_day(availability.available_from)}."
            if availability.available_from
            else ""
        )
        return "You changed your rate less than 12 months ago." + since
    if reason is sst.RejectionReason.alreadyOnRate:
        return "This is your rate now."
    if reason is sst.RejectionReason.notEligible:
        return "Your home does not qualify for this rate" + _detail(availability.message)
    if reason is sst.RejectionReason.generationProductBelongsToCca:
        return "Your generation rate is set by your CCA: ask them to change it."
    if reason is sst.RejectionReason.lseSwitchNotAllowed:
        return "This rate is another provider's: switching providers is not done here."
    return "Your utility says it cannot be chosen now" + _detail(availability.message)


def _detail(message: str | None) -> str:
    return f": {message.rstrip('.')}." if message else "."


def _day(epoch: int | None) -> str:
    if not epoch:
        return "a date your utility will tell you"
    return datetime.fromtimestamp(epoch, PACIFIC).strftime("%B %-d, %Y")


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
