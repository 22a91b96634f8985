"""May this service agreement switch to that rate?  One rule, asked twice (1623(c)(1)(D);
concept design 7.9).

The rate-change API asks **before** it creates a request: a target the billing system would
refuse anyway (the current rate, a CCA's generation product or a rate of another LSE or
role, a rate not open to the premise) must not cost the customer a passcode e-mail for a
change that cannot happen (issue 11, item 18).  :class:`~.billing.SampleBillingBackend` asks
again when it decides, as the second line: the service agreement may have changed between
the request and the decision.

The rules, in the concept design's order, each with the rejection reason billing records
and the stable error code the API answers with (422):

=====================================  =================================  ===============================
rule                                   ``RejectionReason``                API error
=====================================  =================================  ===============================
no open electric service               ``notEligible``                    ``not_eligible``
the target is a current rate           ``alreadyOnRate``                  ``already_on_rate``
a (CCA) generation product             ``generationProductBelongsToCca``  ``generation_product_belongs_to_cca``
another LSE's rate, or another role    ``lseSwitchNotAllowed``            ``lse_switch_not_allowed``
not a switchable catalog option        ``notEligible``                    ``not_eligible``
=====================================  =================================  ===============================

The 12-month rule (``twelveMonthRestriction``) is not here: when the last voluntary change
happened is the billing system's knowledge (the SST's copy, ``last_voluntary_change_at``, is
only as fresh as the last CIS load), so billing alone decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from espi_sst.model import sst

from ..storage.models import Tariff, UsagePoint
from .catalog import GENERATION, RateCatalog, RateOption, same_lse_and_role


@dataclass(frozen=True)
class Ineligible:
    """Why a target is refused: the API's error code, billing's reason, words for people."""

    error: str
    reason: sst.RejectionReason
    message: str


def ineligibility(catalog: RateCatalog, point: UsagePoint, target: Tariff) -> Ineligible | None:
    """None when ``point`` may switch to ``target``; else the first rule it breaks."""
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
    return None


def switchable(catalog: RateCatalog, point: UsagePoint) -> list[RateOption]:
    """The catalog's options the SST may ask billing for (no CCA products, no mirrors)."""
    return [o for o in catalog.eligible_rates(point) if o.switchable and o.tariff is not None]


def eligible_targets(catalog: RateCatalog, point: UsagePoint) -> str:
    """The RINs a request may name for ``point`` (switchable, not current), for error text."""
    current = {str(rate.rin) for rate in catalog.current_rates(point).rates}
    offered = [
        f"{o.rate.rin} ({o.rate.tariff_code})"
        for o in switchable(catalog, point)
        if str(o.rate.rin) not in current
    ]
    return ", ".join(offered) if offered else "none at the moment"
