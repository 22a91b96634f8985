"""Customers' complaints about ASPs (concept design UC1.4; 6.4.6).

UC1.4: "The Customer to be able to communicate and raise issues about ASPs"; 6.4.6:
"Customer complaints about specific ASPs may be directed at the Central Authority or
individual IOU/POU/CCAs".  The portal's form files one here, in the caller's transaction:

* the report (``asp_complaint``), with a reference number the customer is shown to quote;
* an audit row (``complaint_filed``: who, which ASP, the category; not the words, which
  stay in the report row only, so the append-only log holds no free text a customer may
  later want corrected);
* an e-mail to the utility's ``COMPLAINTS_EMAIL`` through the outbox (sealed at rest, sent
  by the worker, retried: it survives a restart between the filing and the send).  Unset,
  the report is still stored and listed by ``espi-sst complaints list``; ``check-config``
  warns about it on a production issuer.

What the utility does next (block the ASP, ``espi-sst asp block``; petition the Central
Authority) is its decision, not this module's.
"""

from __future__ import annotations

import secrets

from flask import current_app
from sqlalchemy.orm import Session

from ..outbox.queue import enqueue_email
from ..storage.models import Application, AspComplaint, RetailCustomer
from ..storage.rows import audit

CATEGORIES: dict[str, str] = {
    "data_without_permission": "It used or shared my data without my permission",
    "kept_using_data": "It kept using my data after I withdrew my permission",
    "rate_change_without_agreement": "It changed, or tried to change, my rate without my agreement",
    "misleading": "It misled me or pressured me",
    "privacy_security": "I am worried about how it protects my data",
    "other": "Something else",
}
"""The categories the form offers, stable keys (stored, audited, in the admin output) to
the customer's words."""

LONGEST_TEXT = 2000
"""The most characters a complaint's own words may have (the form says so)."""

SHORTEST_TEXT = 10
"""The fewest: "bad" says nothing the utility can act on."""

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: the customer reads the reference out on the phone."""


def new_reference() -> str:
    """``C-`` and eight random characters (40 bits: collisions are not a practical concern,
    and the column is unique all the same)."""
    return "C-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def file_complaint(
    session: Session,
    *,
    customer: RetailCustomer,
    application: Application,
    category: str,
    text: str,
    had_grant: bool,
    now: int,
) -> AspComplaint:
    """Store, audit and queue the e-mail of one complaint (the caller commits).

    Raises:
        ValueError: ``category`` is not one of :data:`CATEGORIES` (the form offers only
            those; a caller that passes another has a bug).
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown complaint category {category!r}")
    to = str(current_app.config.get("COMPLAINTS_EMAIL") or "").strip() or None
    complaint = AspComplaint(
        reference=new_reference(),
        customer_id=customer.id,
        application_id=application.id,
        category=category,
        text=text,
        had_grant=had_grant,
        created_at=now,
        mailed_to=to,
    )
    session.add(complaint)
    session.flush()
    audit(
        session,
        now,
        f"customer:{customer.uuid}",
        "complaint_filed",
        subject=f"client:{application.client_id}",
        detail={
            "reference": complaint.reference,
            "category": category,
            "had_grant": had_grant,
            "mailed": to is not None,
        },
    )
    if to is not None:
        enqueue_email(
            session,
            to=to,
            subject=f"Customer complaint {complaint.reference} about {_one_line(application.client_name)}",
            text=complaint_mail_text(complaint, customer, application),
            now=now,
        )
    return complaint


def complaint_mail_text(
    complaint: AspComplaint, customer: RetailCustomer, application: Application
) -> str:
    """The utility's copy: everything needed to act without opening the database."""
    return (
        f"A customer filed a complaint about an ASP in the portal.\n\n"
        f"Reference:  {complaint.reference}\n"
        f"ASP:        {_one_line(application.client_name)} (client id {application.client_id})\n"
        f"Category:   {CATEGORIES[complaint.category]}\n"
        f"Had granted it access: {'yes' if complaint.had_grant else 'no'}\n"
        f"Customer:   {_one_line(customer.display_name)} ({customer.username}, {customer.uuid})\n"
        f"Customer's e-mail: {customer.email or '(none on file)'}\n\n"
        f"In the customer's words:\n\n{complaint.text}\n\n"
        f"espi-sst complaints show {complaint.reference}\n"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
