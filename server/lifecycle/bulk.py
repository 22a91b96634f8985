"""Bulk transfer (ESPI function block 35): one utility-defined bulk per ASP.

ESPI's ``Batch/Bulk/{bulkId}`` delivers, in one feed, the data of many subscriptions of one
third party; the bulk id is "defined by the data custodian" (NAESB REQ.21 FB 35; GBA
DataCustodian).  Here each ASP has exactly one bulk: every subscription of its usable grants
(``usable.grant_refusal``), so the id is derived from the ASP's registration, stable across
restarts and needing no table: a uuid5 of the Application's uuid.  ApplicationInformation's
``dataCustodianBulkRequestURI`` advertises exactly the URL that serves it
(:func:`bulk_url`).

Only an ASP whose *registered* scope claims function block 35 has a bulk
(:func:`claims_bulk`): REQ.21 makes bulk transfer a function block an ASP is registered
for, like any other, and the GBA certification tests it (RBK001-RBK004) only for a third
party claiming FB_35.  Another ASP is refused at ``Batch/Bulk`` (403 ``insufficient_scope``
naming FB 35) and its ApplicationInformation names the custodian's bulk endpoint
(:func:`bulk_endpoint_path`, no bulk id): the ESPI schema makes
``dataCustodianBulkRequestURI`` mandatory, so it cannot be left out.

The bulk is built live on each GET, so "ready" means "new data loaded": the ``BatchList``
telling the ASP so (FB 35 with FB 39's notification) names :func:`bulk_url`
(``lifecycle/bulk_notices.py``).
"""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.errors import ScopeError
from espi_sst.scope import Scope

from ..config import resource_base_url
from ..storage.models import Application, Authorization
from .usable import grant_refusal

_BULK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:espi-sst:bulk")
BULK_FUNCTION_BLOCK = 35
"""ESPI / NAESB REQ.21 function block 35: bulk transfer (``Batch/Bulk/{bulkId}``)."""


def claims_bulk(application: Application) -> bool:
    """Whether the ASP's registered scope claims FB 35 (an unparsable scope claims nothing)."""
    try:
        scope = Scope.parse(application.scope)
    except ScopeError:
        return False
    return BULK_FUNCTION_BLOCK in scope.function_blocks


def bulk_refusal(application: Application) -> str | None:
    """Why this ASP may not read a bulk (an error description), or None when it may."""
    if claims_bulk(application):
        return None
    return (
        "Batch/Bulk is ESPI function block 35 (bulk transfer) and this application's "
        "registered scope does not claim it: ask the data custodian to register FB 35 "
        "(FB=..._35), or read each grant's Batch/Subscription"
    )


def bulk_endpoint_path() -> str:
    """The custodian's bulk endpoint without a bulk id (named to an ASP without FB 35)."""
    return "/Batch/Bulk"


def bulk_id(application: Application) -> str:
    """The ASP's bulk id (the same on every request and every restart)."""
    return str(uuid.uuid5(_BULK_NAMESPACE, application.uuid))


def bulk_path(application: Application) -> str:
    """The bulk's path under the resource base (``Batch/Bulk/{bulkId}``)."""
    return f"/Batch/Bulk/{bulk_id(application)}"


def bulk_url(application: Application) -> str:
    """The bulk's absolute URL under the configured resource base (for notifications)."""
    return resource_base_url(current_app.config) + bulk_path(application)


def bulk_grants(session: Session, application: Application, now: int) -> list[Authorization]:
    """The grants whose subscriptions the bulk delivers: the ASP's own, usable now."""
    rows = session.scalars(
        select(Authorization)
        .where(Authorization.application_id == application.id)
        .order_by(Authorization.id)
    )
    return [grant for grant in rows if grant_refusal(application.qualification, grant, now) is None]


__all__ = [
    "BULK_FUNCTION_BLOCK",
    "bulk_endpoint_path",
    "bulk_grants",
    "bulk_id",
    "bulk_path",
    "bulk_refusal",
    "bulk_url",
    "claims_bulk",
]
