"""The consent page's contents, shared by the flow's consent (Mode 2, ``oauth/routes.py``)
and the portal's pre-authorization (Mode 1, ``onboarding.py``), concept design 7.2.

Everything PG&E Share My Data's consent shows, in plain words (issue 13): who asks (name,
qualification, class), each data category, the service agreements with their numbers and
address, how much history at which granularity, one-time or ongoing access, for how long
(one choice: :class:`~.forms.ConsentForm`), the terms, and where to revoke later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app, render_template

from espi_sst.scope import Category, Scope

from ..lifecycle.terms import current_terms
from ..storage.models import Application, RetailCustomer, UsagePoint
from .forms import ConsentForm, end_date_range
from .scope_words import access_words, asp_words, describe_scope

_SERVICE_KIND = {0: "Electric", 1: "Gas", 2: "Water"}  # ESPI ServiceKind


@dataclass(frozen=True)
class PointWords:
    """One service agreement as the consent page lists it."""

    uuid: str
    title: str
    kind: str
    service_agreement: str
    account_number: str | None
    service_address: str | None


def point_words(point: UsagePoint) -> PointWords:
    return PointWords(
        uuid=point.uuid,
        title=point.title,
        kind=_SERVICE_KIND.get(point.service_kind, "Utility"),
        service_agreement=point.service_agreement,
        account_number=point.account.account_number if point.account is not None else None,
        service_address=point.customer.service_address if point.customer is not None else None,
    )


def render_consent(
    *,
    client: Application,
    customer: RetailCustomer,
    scope: Scope,
    categories: Iterable[Category],
    usage_points: Iterable[UsagePoint],
    form: ConsentForm,
    error: str | None = None,
) -> str:
    """The consent page for ``client`` asking ``scope`` (its ``categories`` as checkboxes)."""
    config = current_app.config
    utility = str(config.get("UTILITY_NAME") or "your utility")
    chosen = frozenset(categories)
    earliest, latest = end_date_range()
    return render_template(
        "portal/consent.html",
        client=client,
        customer=customer,
        asp=asp_words(client.qualification, client.asp_class, utility),
        access=access_words(client.grant_types, int(config["ACCESS_TOKEN_SECONDS"])),
        words=describe_scope(scope.narrowed_to(chosen)),
        usage_points=[point_words(p) for p in usage_points],
        form=form,
        error=error,
        terms=current_terms(),
        earliest=earliest,
        latest=latest,
    )
