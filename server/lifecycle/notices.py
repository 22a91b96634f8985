"""The one place that says "a grant was created, changed or ended" (concept design 7.4, 7.5,
Table 17; Mode 1 step 2).

Every news of a customer's grant goes through here, and each queues both messages in the
caller's transaction (the outbox sends them after the commit; nothing here commits):

* the **customer** gets an e-mail (7.4: "for all authorizations in effect, customer shall be
  notified directly from the IOU/POU/CCA"): which ASP, which data in plain words, which
  service agreements, until when, the terms and conditions in force (7.5), and where to
  withdraw it (the portal's authorizations page).  Wording: ``lifecycle/_mail.py``;
* the **ASP** gets an ESPI ``BatchList`` on its notify URI (ESPI FB 39; 7.5: "the ASP shall
  be notified ... that a customer has authorized the ASP"; Table 17: "ASP can receive
  authorization notifications") naming the grant's Authorization URL.  The ASP reads that
  Authorization with its client_credentials token (ESPI: Authorization is an ASP-level
  resource too) -- its status (active / revoked), scope and Subscription -- so the utility
  can start the exchange, e.g. once a customer's Mode 1 pre-authorization was used.

Callers, which are every path that creates, changes or ends a grant:

* :func:`grant_created` -- the consent page (Mode 2) and a pre-authorization used (Mode 1)
  (``oauth/routes.py``), the bolt-on's SST add-on consent (``upstream/addon.py``);
* :func:`grant_changed` -- a grant that keeps other service agreements when one is closed
  (``lifecycle/access.py``); a part of a grant withdrawn;
* :func:`grant_ended` -- ``lifecycle/access.py``'s ``_end``, which every end goes through:
  the customer's revocation in the portal, the expiry sweep, a closed service agreement,
  and any new reason (an ASP's RFC 7009 revocation ...) added to ``access.ENDED_REASONS``;
* :func:`asp_withdrawn` -- an ASP suspended, de-qualified or blocked (6.4.5-6.4.6): one
  e-mail per customer and one BatchList per 500 grants, not one per grant.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy.orm import Session

from ..config import resource_base_url
from ..outbox.queue import enqueue_asp_notification
from ..storage.models import Application, Authorization, RetailCustomer
from ._mail import (
    ENDED_BECAUSE,
    tell_access_changed,
    tell_access_ended,
    tell_access_granted,
    tell_access_withdrawn,
)

BATCH_SIZE = 500
"""Authorization URLs per BatchList when many grants end at once (an ASP withdrawn)."""


def authorization_url(grant: Authorization) -> str:
    """The grant's ESPI Authorization, absolute (the worker has no request to build it from)."""
    return f"{resource_base_url(current_app.config)}/Authorization/{grant.uuid}"


def grant_created(
    session: Session, grant: Authorization, *, now: int, tell_asp: bool = True
) -> bool:
    """A new grant: the customer's confirmation e-mail and the ASP's BatchList.

    Args:
        tell_asp: False only for the bolt-on's SST add-on consent, whose ASP is sent back
            with the outcome at once and whose ESPI Authorization is the custodian's (a URL
            of ours would name nothing the ASP can read).

    Returns whether the customer could be e-mailed (False: no usable address).
    """
    if tell_asp:
        _tell_asp(session, grant.application, [grant], now=now)
    return tell_access_granted(session, grant, now=now)


def grant_changed(
    session: Session, grant: Authorization, *, change: str, now: int, tell_asp: bool = True
) -> bool:
    """A grant in force changed (``change``: what, in plain words, no full stop): the
    customer is e-mailed what it allows now, the ASP gets a BatchList naming it
    (``tell_asp``: as for :func:`grant_created`)."""
    if tell_asp:
        _tell_asp(session, grant.application, [grant], now=now)
    return tell_access_changed(session, grant, change=change, now=now)


def grant_ended(
    session: Session,
    grant: Authorization,
    *,
    reason: str,
    now: int,
    agreement: str | None = None,
) -> bool:
    """A grant ended (call it once, after claiming the end): the customer's e-mail saying
    why, when ``reason`` concerns this grant alone (``_mail.ENDED_BECAUSE``), and the ASP's
    BatchList naming the Authorization, now revoked.

    Args:
        agreement: the closed service agreement that ended it (``service_closed``).

    Returns whether the customer was e-mailed.
    """
    _tell_asp(session, grant.application, [grant], now=now)
    if reason not in ENDED_BECAUSE:
        return False
    return tell_access_ended(session, grant, reason=reason, now=now, agreement=agreement)


def asp_withdrawn(
    session: Session,
    application: Application,
    ended: Sequence[Authorization],
    customers: list[RetailCustomer],
    *,
    status: str,
    reason: str | None,
    now: int,
) -> tuple[int, tuple[str, ...]]:
    """An ASP's grants all ended at once (6.4.5-6.4.6): one e-mail per customer, and the ASP
    told in BatchLists of up to :data:`BATCH_SIZE` Authorization URLs.

    Returns how many customers were told and the uuids of those without an address.
    """
    _tell_asp(session, application, ended, now=now)
    return tell_access_withdrawn(session, application, customers, status, reason, now)


def _tell_asp(
    session: Session, application: Application, grants: Sequence[Authorization], *, now: int
) -> None:
    """BatchLists naming the grants' Authorizations, to the ASP's notify URI (if it has one)."""
    if not application.notify_uri or not grants:
        return
    urls = [authorization_url(grant) for grant in grants]
    for start in range(0, len(urls), BATCH_SIZE):
        enqueue_asp_notification(
            session, application=application, resources=urls[start : start + BATCH_SIZE], now=now
        )


__all__ = [
    "BATCH_SIZE",
    "asp_withdrawn",
    "authorization_url",
    "grant_changed",
    "grant_created",
    "grant_ended",
]
