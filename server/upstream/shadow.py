"""Mirroring an introspected grant locally: the rows rate changes and audit entries hang on.

The upstream authorization server owns the grant; this server keeps an Authorization row
with the same ids (``authorization_id``, ``subscription_id``), the ASP's Application (by
``client_id``: the utility registers ASPs for the SST here too, for their notify URI) and
the customer (by ``sub``; the utility's customer directory provides e-mail addresses for
passcodes).  The mirror follows the upstream on every request: scope and shared usage
points are updated from the latest introspection.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.model.enums import AuthorizationStatus

from ..errors import Refused
from ..lifecycle.usable import grant_refusal
from ..security import now
from ..storage.models import Application, Authorization, RetailCustomer, UsagePoint
from .introspection import Introspected


class ShadowError(Refused):
    """The grant cannot be mirrored (an ASP unknown or withdrawn here): the token is refused
    (401 ``invalid_token``, RFC 6750 section 3.1), the message saying what to do."""

    def __init__(self, description: str) -> None:
        super().__init__(401, "invalid_token", description)


def registered_application(session: Session, client_id: str) -> Application:
    """The ASP's registration here, usable now; else :class:`ShadowError` saying what to do."""
    application = session.scalar(select(Application).where(Application.client_id == client_id))
    if application is None:
        raise ShadowError(
            f"ASP {client_id} is not registered with this SST server: the utility must "
            "register it here too (espi-sst register-client --client-id ID ...)"
        )
    if grant_refusal(application.qualification, None, now()) is not None:
        # withdrawn here, whatever the upstream says: no mirror rows for it (server/lifecycle/usable.py)
        raise ShadowError(
            f"the application {client_id} is no longer allowed here: its access was withdrawn"
        )
    return application


def shadow_authorization(session: Session, found: Introspected) -> Authorization | None:
    """The local mirror of a customer grant; None for an ASP-level (client) token."""
    if found.authorization_id is None or found.subscription_id is None:
        return None
    application = registered_application(session, found.client_id)
    points = (
        list(session.scalars(select(UsagePoint).where(UsagePoint.uuid.in_(found.usage_points))))
        if found.usage_points
        else []
    )
    customer = None
    if found.subject:
        customer = session.scalar(
            select(RetailCustomer).where(RetailCustomer.uuid == found.subject)
        )
    if customer is None and points:
        customer = points[0].customer  # the directory knows the service agreements' owner
    if customer is None and found.subject:  # unknown here: a row without sign-in or e-mail
        customer = RetailCustomer(
            uuid=found.subject,
            username=f"upstream:{found.subject}",
            password_hash="!",  # never matches: customers sign in at the upstream
            display_name="Customer",
            created_at=now(),
        )
        session.add(customer)
    points = [p for p in points if customer is not None and p.customer_id == customer.id]
    authorization = session.scalar(
        select(Authorization).where(Authorization.uuid == found.authorization_id)
    )
    moment = now()
    if authorization is None:
        authorization = Authorization(
            uuid=found.authorization_id,
            subscription_uuid=found.subscription_id,
            application_id=application.id,
            customer=customer,
            scope=found.scope,
            status=AuthorizationStatus.Active,
            created_at=moment,
            updated_at=moment,
            grant_type="upstream",
            usage_points=points,
        )
        session.add(authorization)
    elif (
        authorization.scope != found.scope
        or {p.id for p in authorization.usage_points} != {p.id for p in points}
        or authorization.status != AuthorizationStatus.Active
    ):
        authorization.scope = found.scope
        authorization.usage_points = points
        authorization.status = AuthorizationStatus.Active  # the upstream owns the grant
        authorization.updated_at = moment
    session.commit()
    return authorization
