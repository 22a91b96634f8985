"""May this service agreement switch to that rate, now?  One rule, asked three times
(1623(c)(1)(D); concept design 7.9; issue 12, "eligibility up front").

* RateInformation states it for each eligible rate (``eligibleRate/availability``:
  selectable now, or the reason and, for the 12-month rule, the date from which it is);
* the rate-change API asks **before** it creates a request: a target the billing system
  would refuse anyway must not cost the customer a passcode e-mail for a change that cannot
  happen (issue 11, item 18; issue 12) -- 409 with the reason;
* :class:`~.billing.SampleBillingBackend` asks again when it decides, as the second line:
  the service agreement may have changed between the request and the decision.

The rules, in the concept design's order, each with the rejection reason billing records
and the stable error code the API answers with (409):

=====================================  =================================  ===============================
rule                                   ``RejectionReason``                API error
=====================================  =================================  ===============================
no open electric service               ``notEligible``                    ``not_eligible``
the target is a current rate           ``alreadyOnRate``                  ``already_on_rate``
a (CCA) generation product             ``generationProductBelongsToCca``  ``generation_product_belongs_to_cca``
another LSE's rate, or another role    ``lseSwitchNotAllowed``            ``lse_switch_not_allowed``
not a switchable catalog option        ``notEligible``                    ``not_eligible``
a voluntary change < 12 months ago     ``twelveMonthRestriction``         ``twelve_month_restriction``
=====================================  =================================  ===============================

The 12-month rule reads the SST's copy of the last voluntary change
(``UsagePoint.last_voluntary_change_at``, loaded from the CIS and set when billing applies a
change): it is the only rule that depends on time, so it alone has an ``available_from``.
Billing still decides with its own knowledge; a copy older than billing's can only let a
request through that billing then rejects with the same reason (never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from espi_sst.model import sst
from espi_sst.model.sst import add_months

from ..storage.models import Tariff, UsagePoint
from .catalog import GENERATION, RateCatalog, RateOption, same_lse_and_role


@dataclass(frozen=True)
class Ineligible:
    """Why a target is refused: the API's error code, billing's reason, words for people."""

    error: str
    reason: sst.RejectionReason
    message: str
    available_from: int | None = None
    """When the target becomes selectable, if only time stands in the way (12-month rule)."""


VOLUNTARY_CHANGE_MONTHS = 12
"""One voluntary rate change per 12 months (the tariff rules billing applies)."""


def ineligibility(
    catalog: RateCatalog, point: UsagePoint, target: Tariff, *, now: int
) -> Ineligible | None:
    """None when ``point`` may switch to ``target`` at ``now``; else the first rule it breaks."""
    reason = sst.RejectionReason
    current = point.tariff
    if current is None or point.closed_at is not None:
        return Ineligible("not_eligible", reason.notEligible, "no open electric service")
    current_rins = {str(rate.rin) for rate in catalog.current_rates(point).rates}
    if target.id == current.id or target.rin in current_rins:
        return Ineligible(
            "already_on_rate", reason.alreadyOnRate, f"already on {target.code} ({target.rin})"
        )
    if target.role == GENERATION:
        return Ineligible(
            "generation_product_belongs_to_cca",
            reason.generationProductBelongsToCca,
            f"{target.code} is a {target.lse} generation product: ask {target.lse}",
        )
    if not same_lse_and_role(target, current):
        return Ineligible(
            "lse_switch_not_allowed",
            reason.lseSwitchNotAllowed,
            f"{target.code} is a {target.role} rate of {target.lse}; this service is on a "
            f"{current.role} rate of {current.lse}, and changing LSE is not a rate change",
        )
    if target.id not in {o.tariff.id for o in switchable(catalog, point) if o.tariff}:
        return Ineligible(
            "not_eligible",
            reason.notEligible,
            f"{target.code} is not open to this service agreement",
        )
    return twelve_month_restriction(point, now=now)


def twelve_month_restriction(point: UsagePoint, *, now: int) -> Ineligible | None:
    """The 12-month rule: a voluntary change less than 12 months ago blocks the next one."""
    last = point.last_voluntary_change_at
    if last is None:
        return None
    allowed_from = int(
        add_months(datetime.fromtimestamp(last, UTC), VOLUNTARY_CHANGE_MONTHS).timestamp()
    )
    if allowed_from <= now:
        return None
    return Ineligible(
        "twelve_month_restriction",
        sst.RejectionReason.twelveMonthRestriction,
        f"the rate was changed on {_day(last)}; the next voluntary change is possible from "
        f"{_day(allowed_from)}",
        available_from=allowed_from,
    )


def availability(
    catalog: RateCatalog, point: UsagePoint, option: RateOption, *, now: int
) -> sst.ChangeAvailability:
    """What RateInformation says of one eligible rate: selectable now, or why not and from
    when -- exactly what a rate-change request for it would be answered now."""
    if option.tariff is None:  # a rate the catalog knows no tariff row of: not the SST's
        return sst.ChangeAvailability(
            selectable_now=False,
            reason=sst.RejectionReason.notEligible,
            message="not a rate the SST can change to",
        )
    refused = ineligibility(catalog, point, option.tariff, now=now)
    if refused is None:
        return sst.ChangeAvailability(selectable_now=True)
    return sst.ChangeAvailability(
        selectable_now=False,
        reason=refused.reason,
        message=refused.message[:256],
        available_from=refused.available_from,
    )


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def switchable(catalog: RateCatalog, point: UsagePoint) -> list[RateOption]:
    """The catalog's options the SST may ask billing for (no CCA products, no mirrors)."""
    return [o for o in catalog.eligible_rates(point) if o.switchable and o.tariff is not None]


def eligible_targets(catalog: RateCatalog, point: UsagePoint, *, now: int) -> str:
    """The RINs a request may name for ``point`` now (switchable, not current, not held
    back by the 12-month rule), for error text."""
    current = {str(rate.rin) for rate in catalog.current_rates(point).rates}
    if twelve_month_restriction(point, now=now) is not None:
        return "none at the moment"
    offered = [
        f"{o.rate.rin} ({o.rate.tariff_code})"
        for o in switchable(catalog, point)
        if str(o.rate.rin) not in current
    ]
    return ", ".join(offered) if offered else "none at the moment"
