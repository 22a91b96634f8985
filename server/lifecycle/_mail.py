"""E-mail to customers about their grants (concept design 6.4.5, 7.4, 7.5, 7.10).

:mod:`server.lifecycle` decides; this module says so to the customer, in the caller's
transaction (the outbox sends it after the commit).  :mod:`server.lifecycle.notices` is the
one caller for a single grant's news; the kinds of message:

* a grant was given (7.4: "for all authorizations in effect, customer shall be notified
  directly"; 7.5: the confirmation includes the terms and conditions): which ASP, which
  data in plain words, which service agreements, until when, the terms, where to revoke;
* a grant changed (a service agreement no longer shared, a part withdrawn ...): the same
  facts as they stand now, and what changed;
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

from espi_sst.scope import Category, Scope

from ..outbox.queue import enqueue_email
from ..storage.models import Application, Authorization, RetailCustomer
from .terms import current_terms

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


def tell_access_granted(session: Session, grant: Authorization, *, now: int) -> bool:
    """Queue the confirmation of a new grant (7.4, 7.5); False when the customer has no address."""
    customer = grant.customer
    if customer is None:
        return False
    utility = utility_name()
    name = _one_line(grant.application.client_name)
    text = (
        f"Hello {customer.display_name},\n\n"
        f"On {_date(now)}, you allowed {name} to use the following, through the Single "
        f"Statewide Tool:\n\n{_grant_facts(grant)}"
        f"If you did not do this, withdraw the permission and contact {utility}.\n"
    )
    return _send(session, customer, f"{utility}: you gave {name} access to your data", text, now)


def tell_access_changed(session: Session, grant: Authorization, *, change: str, now: int) -> bool:
    """Queue the news that a grant in force changed (7.4); False when no address.

    Args:
        change: what changed, one sentence in plain words (no final full stop).
    """
    customer = grant.customer
    if customer is None:
        return False
    utility = utility_name()
    name = _one_line(grant.application.client_name)
    text = (
        f"Hello {customer.display_name},\n\n"
        f"On {_date(now)}, the permission you gave {name} changed: {change}.\n\n"
        f"What {name} may use from now on, through the Single Statewide Tool:\n\n"
        f"{_grant_facts(grant)}"
    )
    return _send(session, customer, f"{utility}: your permission for {name} changed", text, now)


def _grant_facts(grant: Authorization) -> str:
    """Which data (the consent page's words), which service agreements, until when, terms."""
    categories = Scope.parse(grant.scope).categories
    data = (
        "".join(f"  - {c.label}: {c.explanation}\n" for c in Category if c in categories)
        or "  - nothing but your sign-in (no data)\n"
    )
    # A closed service agreement is shared with no one any more (7.10): not listed.
    points = sorted((p for p in grant.usage_points if p.closed_at is None), key=lambda p: p.id)
    shared = "".join(
        f"  - {_one_line(p.title)} (service agreement {p.service_agreement})\n" for p in points
    )
    # ends_at is the first second after the day the customer chose: name that day.
    until = (
        f"until the end of {_date(grant.ends_at - 1)}" if grant.ends_at else "until you withdraw it"
    )
    facts = f"{data}\nFor these service agreements:\n\n{shared}\nFor how long: {until}.\n\n"
    terms = current_terms()
    if terms is not None:
        facts += (
            f"The Single Statewide Tool terms and conditions, version {terms.version}, apply "
            f"to you and to {_one_line(grant.application.client_name)}: {terms.url}\n\n"
        )
    return facts + f"You can withdraw this permission at any time: {_portal_link()}\n\n"


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


def tell_rate_change_withdrawn(
    session: Session, application: Application, customers: list[RetailCustomer], now: int
) -> tuple[int, tuple[str, ...]]:
    """One e-mail per customer whose grant lost ``sst:rate_change`` (concept design 6.4.2.2):
    the ASP was downgraded to data-only, so it can no longer change their rate; what else
    they share with it goes on.

    Returns:
        How many customers were told, and the uuids of those without a usable address.
    """
    utility = utility_name()
    name = _one_line(application.client_name)
    notified = 0
    unreachable: list[str] = []
    for customer in sorted(customers, key=lambda c: c.id):
        text = (
            f"Hello {customer.display_name},\n\n"
            f"As of {_date(now)}, {name} can no longer request rate changes on your "
            f"{utility} account through the Single Statewide Tool: it is no longer qualified "
            "for rate changes. A rate change it asked for that you had not yet confirmed, or "
            "that was not yet sent to billing, is cancelled; your rate stays as it is.\n\n"
            f"Everything else you share with {name} (energy data, rates, bill comparisons) "
            "goes on as you chose. You do not need to do anything.\n"
        )
        subject = f"{name} can no longer change your {utility} rate"
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
    link = _portal_link()
    text += (f"\nThe companies you share your data with: {link}\n" if link else "") + (
        f"\n{utility_name()}\n"
    )
    try:
        enqueue_email(session, to=customer.email, subject=subject, text=text, now=now)
    except ValueError:  # an address or subject the mail headers cannot carry
        return False
    return True


def _portal_link() -> str | None:
    """The portal's authorizations page, where the customer sees and withdraws grants."""
    if not has_app_context():
        return None
    config = current_app.config
    return f"{config['ISSUER']}{config.get('PORTAL_PATH') or '/portal'}/authorizations"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _date(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%B %d, %Y").replace(" 0", " ")
