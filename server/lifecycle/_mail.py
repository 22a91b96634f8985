"""E-mail to customers whose ASP lost access (concept design 6.4.5, 7.10).

:mod:`server.lifecycle` decides when access ends; this module says so to the customer, in
the caller's transaction (the outbox sends it after the commit).  Two kinds of message:

* one grant ended -- on its end date, by the customer's own revocation, by the ASP's
  (RFC 7009), because a new consent replaced it, or because its service agreement closed:
  which ASP, which service agreements, and why;
* an ASP was withdrawn (suspended, de-qualified, blocked): one e-mail per affected customer,
  however many of their grants ended.

A customer without a usable address is never a reason to keep access: the caller records
who could not be told.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from ..outbox.queue import enqueue_email
from ..storage.models import Application, Authorization, RetailCustomer

WITHDRAWN_BECAUSE = {
    "suspended": "the central authority that qualifies providers for the Single Statewide Tool "
    "has suspended its qualification",
    "dequalified": "the central authority that qualifies providers for the Single Statewide "
    "Tool has withdrawn its qualification",
    "blocked": "{utility} no longer accepts it",
}
"""Why an ASP may not ask any more (a blocked ASP's own reason may be internal: not sent)."""

ENDED_BECAUSE = {
    "expired": "the permission you gave it reached the end date you chose",
    "revoked_by_customer": "you withdrew the permission you gave it in the {utility} portal",
    "service_closed": "the service agreement {agreement} was closed",
    "revoked_by_asp": "{asp} itself gave up the permission you gave it (it revoked its "
    "access at {utility})",
    "replaced": "you gave {asp} a new permission for the same service agreements, which "
    "replaces this one",
}
"""Why one grant ended, for the ``ended_reason`` values that concern one grant only."""


def tell_access_ended(
    session: Session,
    grant: Authorization,
    *,
    reason: str,
    now: int,
    agreement: str | None = None,
) -> bool:
    """Queue the e-mail saying that one grant ended; False when the customer has no address.

    Args:
        reason: a key of :data:`ENDED_BECAUSE`.
        agreement: the service agreement whose closure ended it (``service_closed``).
    """
    customer = grant.customer
    if customer is None:
        return False
    utility = utility_name()
    name = _one_line(grant.application.client_name)
    why = ENDED_BECAUSE[reason].format(utility=utility, agreement=agreement, asp=name)
    points = sorted(grant.usage_points, key=lambda p: p.id)
    shared = "".join(
        f"  {_one_line(p.title)} (service agreement {p.service_agreement})\n" for p in points
    )
    moment = grant.ends_at if reason == "expired" and grant.ends_at else now
    these, them = ("these service agreements", "them")
    if len(points) == 1:
        these, them = "this service agreement", "it"
    text = (
        f"Hello {customer.display_name},\n\n"
        f"As of {_date(moment)}, {name} no longer has access, through the Single Statewide "
        f"Tool, to:\n\n{shared}\n"
        f"Why: {why}.\n\n"
        f"Under this permission, {name} can no longer see the energy data or rates of "
        f"{these}, or act on {them} through us."
        + (
            f" If you did not do this, contact {utility} and change your password."
            if reason == "revoked_by_customer"
            else ""
        )
        + (
            ""
            if reason in ("service_closed", "replaced")
            else f" If you want {name} to have access again, give your permission again "
            "when it asks."
        )
        + "\n"
    )
    return _send(session, customer, f"{utility}: your permission for {name} has ended", text, now)


def tell_access_withdrawn(
    session: Session,
    application: Application,
    customers: list[RetailCustomer],
    status: str,
    reason: str | None,
    now: int,
) -> tuple[int, tuple[str, ...]]:
    """One e-mail per affected customer (6.4.5: customers are told their ASP's access ended).

    The central authority's reason is public and is quoted; this utility's reason for a
    block may be internal, so the e-mail only says that the utility no longer accepts it.

    Returns:
        How many customers were told, and the uuids of those without a usable address.
    """
    utility = utility_name()
    name = _one_line(application.client_name)
    why = WITHDRAWN_BECAUSE[status].format(utility=utility)
    if reason and status != "blocked":
        why += f" (reason given: {_one_line(reason)})"
    notified = 0
    unreachable: list[str] = []
    for customer in sorted(customers, key=lambda c: c.id):
        text = (
            f"Hello {customer.display_name},\n\n"
            f"As of {_date(now)}, {name} no longer has access to your {utility} account through "
            f"the Single Statewide Tool: {why}.\n\n"
            f"{name} can no longer see your energy data or rates, or act on your account "
            "through us. The permission you gave it has ended. You do not need to do "
            f"anything. If {name} is allowed again later, it will have to ask for your "
            "permission again.\n"
        )
        subject = f"{name} no longer has access to your {utility} account"
        if _send(session, customer, subject, text, now):
            notified += 1
        else:
            unreachable.append(customer.uuid)
    return notified, tuple(unreachable)


def utility_name() -> str:
    if has_app_context():
        return str(current_app.config.get("UTILITY_NAME") or "your utility")
    return "your utility"


def _send(session: Session, customer: RetailCustomer, subject: str, text: str, now: int) -> bool:
    """Queue one e-mail (signed by the utility, with the portal link); False: no address."""
    if not customer.email:
        return False
    link = f"{current_app.config['ISSUER']}/portal/authorizations" if has_app_context() else None
    text += (f"\nThe companies you share your data with: {link}\n" if link else "") + (
        f"\n{utility_name()}\n"
    )
    try:
        enqueue_email(session, to=customer.email, subject=subject, text=text, now=now)
    except ValueError:  # an address or subject the mail headers cannot carry
        return False
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _date(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%B %d, %Y").replace(" 0", " ")
