"""A new consent replaces the customer's earlier grants to the same ASP for the same service
agreements (issue 12; concept design 7.4-7.5, 7.10).

Before, every reconnect of an ASP stacked another identical active authorization: the
customer's portal listed the same company several times, each "active", and revoking one
left the others running.  Now an earlier grant of the same customer and ASP whose usage
points are all among the new grant's ends with reason ``replaced``, through the one
grant-ending function (:func:`~.access.end_authorization`: its tokens revoked, its open rate
changes cancelled, the customer and the ASP told).

What each side sees:

* the customer: one active row per ASP and service agreements; the earlier one reads
  "replaced by your newer permission";
* the ASP: the new grant is a new ESPI Authorization with a new Subscription id, named in
  the token response of the new code (``resourceURI``, ``authorizationURI``); the tokens and
  ids of the earlier grant stop working.  Reusing the earlier row instead would keep the ids
  but silently change what an already-issued token may see (a changed scope or end date);
  a new row keeps every token tied to exactly the consent it was issued under.

Kept: a grant that also covers a service agreement the new one does not (the customer did
not take that one back), and a grant already past its end date (the expiry sweep ends it,
as ``expired``).
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..storage.models import Authorization, RetailCustomer
from .access import ACTIVE, end_authorization


def replace_earlier_grants(
    session: Session, grant: Authorization, *, actor: str, now: int
) -> list[str]:
    """End the grants ``grant`` replaces (reason ``replaced``); their uuids.

    Race-safe: the customer's row is locked first (``SELECT ... FOR NO KEY UPDATE`` on
    PostgreSQL -- the new grant's INSERT already holds a KEY SHARE lock on it through its
    foreign key, with which a plain FOR UPDATE would deadlock two parallel consents; SQLite
    has one writer at a time and the caller has already written), so of parallel consents
    each ends the ones committed before it, and exactly one stays active.
    """
    if grant.customer_id is None:
        return []
    session.execute(
        select(RetailCustomer.id)
        .where(RetailCustomer.id == grant.customer_id)
        .with_for_update(key_share=True)  # PostgreSQL: FOR NO KEY UPDATE
    )
    covered = {point.id for point in grant.usage_points}
    earlier = session.scalars(
        select(Authorization)
        .where(
            Authorization.customer_id == grant.customer_id,
            Authorization.application_id == grant.application_id,
            Authorization.status == ACTIVE,
            Authorization.id != grant.id,
            or_(Authorization.ends_at.is_(None), Authorization.ends_at > now),
        )
        .order_by(Authorization.id)
    ).all()
    return [
        other.uuid
        for other in earlier
        if {point.id for point in other.usage_points} <= covered
        and end_authorization(session, other, reason="replaced", actor=actor, now=now)
    ]
