"""What the SST adds to the plain ESPI resources, as far as the grant's scopes allow.

* UsagePoint entries link to the SST resources the grant opens (RateInformation with
  ``sst:rin``, BillComparison with ``sst:bill_comparison``, RateChangeRequest with
  ``sst:rate_change``);
* with ``sst:rin`` ("Release RIN data"), a UsageSummary carries the RIN elements in its
  ``espi:extension`` (1623(c)(1)(A)): ``bundledRin``, or ``deliveryRin`` plus
  ``generationRin`` -- or, when this utility does not cache the CCA's RIN,
  ``generationRinStatus`` saying whom to ask.  Without the scope: none, not even empty.

The RINs are those of the rates in force now, so they go only on the summaries of billing
periods that ended after the current rate took effect: a summary of an older period was
billed on a rate the catalog no longer names, and a wrong RIN is worse than none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy.orm import Session

from espi_sst.model import ModelObject
from espi_sst.model.enums import ServiceKind
from espi_sst.scope import Category, Scope

from ..sst import phases
from ..sst.catalog import catalog_for
from ..storage.models import UsagePoint, UsageSummary

KINDS = (
    (Category.SST_RIN, "RateInformation"),
    (Category.SST_BILL_COMPARISON, "BillComparison"),
    (Category.SST_RATE_CHANGE, "RateChangeRequest"),
)


@dataclass
class SstView:
    """The SST additions one request may show (built from its grant's scope)."""

    scope: Scope
    app: Flask
    session: Session
    _elements: dict[int, list[ModelObject]] = field(default_factory=dict)

    def kinds(self, point: UsagePoint) -> list[str]:
        if point.service_kind != ServiceKind.electricity or not self.app.config.get(
            "SST_ENABLED", True
        ):  # gas has no RIN, no rate comparison, no rate change
            return []
        on = phases.offered(self.app.config)  # a later phase's resources are not linked
        return [kind for category, kind in KINDS if category in on and self.scope.allows(category)]

    def rin_elements(self, point: UsagePoint, summary: UsageSummary) -> list[ModelObject]:
        if (
            not self.scope.allows(Category.SST_RIN)
            or point.tariff_id is None
            or not self.app.config.get("SST_ENABLED", True)
            or Category.SST_RIN not in phases.offered(self.app.config)
        ):
            return []
        period_end = summary.billing_period_start + summary.billing_period_duration
        if period_end <= (point.rate_effective_date or 0):
            return []
        if point.id not in self._elements:
            current = catalog_for(self.app, self.session).current_rates(point)
            elements: list[ModelObject] = list(current.rin_elements())
            if current.generation_status is not None:
                elements.append(current.generation_status)
            self._elements[point.id] = elements
        return self._elements[point.id]
