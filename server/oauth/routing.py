"""Unbundled routing (concept design 7.3.5): an ASP may send a customer to the wrong entity.

An ASP picks the entity (IOU, POU or CCA) a customer authorizes at, and may pick wrong:

* a **CCA without online accounts** cannot verify anyone; its customers are always also
  customers of their distribution utility (UDC), which verifies identity for them.  The
  CCA's server answers the authorization request at once with an error to the ASP naming
  the UDC and where to send the customer (``sst_route_to``, ``sst_route_url``);
* a customer who signs in at an entity that serves none of their service agreements
  (their UDC and LSE are both someone else) gets the same kind of answer naming the entity
  that does serve them, when this server knows it (their usage points' UDC or LSE).

An IOU reached for a CCA customer is *not* wrong: the IOU is the customer's UDC (7.3.5).

Settings: ``ENTITY_ID`` (this server's entity code; unset: no routing checks, a single
utility), ``ENTITY_KIND`` (IOU, POU, CCA), ``ONLINE_ACCOUNTS`` (a CCA's customers can sign
in here), ``UDC_ENTITY`` (a CCA's distribution utility), and ``ENTITIES`` for names/URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..sst.catalog import entity_name, entity_url
from ..storage.models import RetailCustomer


@dataclass(frozen=True)
class RoutingProblem:
    """Where the ASP should have sent the customer, and why."""

    route_to: str
    route_url: str
    description: str

    def params(self) -> list[tuple[str, str]]:
        return [("sst_route_to", self.route_to), ("sst_route_url", self.route_url)]


def _label(config: Mapping[str, Any], code: str) -> str:
    name = entity_name(config, code)
    return f"{name} ({code})" if name and name != code else code


def before_sign_in(config: Mapping[str, Any]) -> RoutingProblem | None:
    """A CCA that cannot verify customers sends every authorization to its UDC."""
    if config.get("ENTITY_KIND") != "CCA" or config.get("ONLINE_ACCOUNTS", True):
        return None
    udc = config.get("UDC_ENTITY")
    if not udc:
        return None
    here = _label(config, str(config.get("ENTITY_ID") or "this CCA"))
    return RoutingProblem(
        udc,
        entity_url(config, udc),
        f"{here} has no customer online accounts; its customers authorize at their "
        f"distribution utility {_label(config, udc)}, which verifies identity for them",
    )


def after_sign_in(config: Mapping[str, Any], customer: RetailCustomer) -> RoutingProblem | None:
    """The signed-in customer has no service agreement this entity serves."""
    here = config.get("ENTITY_ID")
    if not here:
        return None
    points = [p for p in customer.usage_points if p.closed_at is None]
    if any(here in (p.udc, p.lse) for p in points):
        return None
    served_by = next((p.udc for p in points if p.udc), None)  # the UDC always serves them
    if served_by is None:
        return RoutingProblem(
            "", "", f"{_label(config, here)} serves none of this customer's service agreements"
        )
    return RoutingProblem(
        served_by,
        entity_url(config, served_by),
        f"{_label(config, here)} does not serve this customer's service agreements; "
        f"{_label(config, served_by)} does: send the customer there",
    )
