"""The customer's RINs in the online account (Title 20 1623(c)(4)).

1623(c)(4): a utility shows each customer the RIN(s) of their current rate in the customer's
online account.  The portal asks the same :class:`~espi_sst_server.sst.catalog.RateCatalog`
the resource API asks for ``espi:UsageSummary``'s RIN elements (1623(c)(1)(A)), so the page
and what an ASP receives cannot disagree, and a utility's own catalog (``RATE_CATALOG``)
feeds both.  An unbundled (CCA) customer has two: the delivery RIN of the utility and the
generation RIN of the CCA, each labelled with who sets it; when the utility does not cache
the CCA's RIN (``CACHED_CCA_RINS``) the page says whom to ask instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from markupsafe import Markup
from sqlalchemy import select

from espi_sst.model import sst as model

from ..sst.catalog import catalog_for
from ..storage import db
from ..storage.models import RetailCustomer, UsagePoint
from .qr import qr_svg

ROLE_LABELS = {
    model.Role.bundled: "Rate identification number (RIN)",
    model.Role.delivery: "Delivery RIN",
    model.Role.generation: "Generation RIN",
}
"""What the page calls each kind of RIN (1623(c)(4): the customer's own words, not XML's)."""

ROLE_HINTS = {
    model.Role.bundled: "{lse} delivers and generates your electricity on this rate.",
    model.Role.delivery: "{lse} delivers your electricity (the wires) on this rate.",
    model.Role.generation: "{lse} buys or generates your electricity on this rate.",
}


@dataclass(frozen=True)
class ShownRin:
    """One RIN as the page shows it: text, a label, whose rate, and its QR code."""

    label: str
    hint: str
    rin: str
    tariff_code: str
    tariff_name: str
    qr: Markup


@dataclass(frozen=True)
class PointRins:
    """One service agreement (usage point) and its RINs, or why none is shown."""

    title: str
    service_agreement: str
    address: str | None
    rins: list[ShownRin]
    notice: str | None
    """When a RIN is missing: whom to ask (a CCA that is not cached) or why there is none."""


def customer_rins(customer: RetailCustomer) -> list[PointRins]:
    """Each open service agreement of ``customer`` with the RINs the catalog gives it."""
    points = db.session.scalars(
        select(UsagePoint)
        .where(UsagePoint.customer_id == customer.id, UsagePoint.closed_at.is_(None))
        .order_by(UsagePoint.id)
    ).all()
    catalog = catalog_for(current_app, db.session)
    shown = []
    for point in points:
        current = catalog.current_rates(point)
        rins = [_shown(rate) for rate in current.rates if rate.rin is not None]
        notice = None
        status = current.generation_status
        if status is not None:
            who = status.lse_name or status.lse or "your electricity provider"
            notice = (
                f"Your generation rate is set by {who}. Its RIN is not held here: "
                f"ask {who} ({status.refer_to})."
            )
        elif not rins:
            notice = "This service has no rate with a RIN (RINs are given to electric rates)."
        shown.append(
            PointRins(
                title=point.title,
                service_agreement=point.service_agreement,
                address=customer.service_address,
                rins=rins,
                notice=notice,
            )
        )
    return shown


def _shown(rate: model.CurrentRate) -> ShownRin:
    role = rate.role or model.Role.bundled
    text = str(rate.rin)
    label = ROLE_LABELS[role]
    return ShownRin(
        label=label,
        hint=ROLE_HINTS[role].format(lse=rate.lse_name or rate.lse or "Your provider"),
        rin=text,
        tariff_code=rate.tariff_code or "",
        tariff_name=rate.tariff_name or "",
        qr=qr_svg(text, f"QR code of the {label}: {text}"),
    )
