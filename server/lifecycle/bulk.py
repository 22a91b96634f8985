"""Bulk transfer (ESPI function block 35): one utility-defined bulk per ASP.

ESPI's ``Batch/Bulk/{bulkId}`` delivers, in one feed, the data of many subscriptions of one
third party; the bulk id is "defined by the data custodian" (NAESB REQ.21 FB 35; GBA
DataCustodian).  Here each ASP has exactly one bulk: every subscription of its usable grants
(``usable.grant_refusal``), so the id is derived from the ASP's registration, stable across
restarts and needing no table: a uuid5 of the Application's uuid.  ApplicationInformation's
``dataCustodianBulkRequestURI`` advertises exactly the URL that serves it
(:func:`bulk_url`).  Not done yet: the ``BatchList`` telling the ASP its bulk is ready
(FB 35 with FB 39's notification) -- the bulk is built live on each GET, so "ready" would
mean "new data loaded"; :func:`bulk_url` is what that notification will name.
"""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import resource_base_url
from ..storage.models import Application, Authorization
from .usable import grant_refusal

_BULK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:espi-sst:bulk")


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


__all__ = ["bulk_grants", "bulk_id", "bulk_path", "bulk_url"]
