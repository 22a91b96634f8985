"""``espi-sst complaints list|show``: customers' complaints about ASPs (issue 13; concept
design UC1.4, 6.4.6; docs/operations.md, "Admin commands").

The portal files them (server/lifecycle/complaints.py); here the utility reads them: a list
(newest first, optionally one ASP's or since a date) and one report with the customer's own
words.  Read-only, so nothing is audited; output as the other admin commands print it
(a table or ``key: value`` lines, one JSON document with ``--json``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..lifecycle.complaints import CATEGORIES
from ..storage import db
from ..storage.models import Application, AspComplaint
from .admin_output import emit
from .admin_views import NotFound, application_by_client_id, iso

COMPLAINT_COLUMNS = ("reference", "filed_at", "client_id", "asp", "category", "customer")

Handler = Callable[[argparse.Namespace], int]
Reader = Callable[[Any, str, str, Handler], argparse.ArgumentParser]


def _complaint(complaint: AspComplaint, *, detailed: bool) -> dict[str, Any]:
    customer, application = complaint.customer, complaint.application
    document: dict[str, Any] = {
        "reference": complaint.reference,
        "filed_at": iso(complaint.created_at),
        "client_id": application.client_id,
        "asp": application.client_name,
        "category": complaint.category,
        "customer": customer.username,
        "had_grant": complaint.had_grant,
        "mailed_to": complaint.mailed_to,
    }
    if detailed:
        document["category_text"] = CATEGORIES.get(complaint.category, complaint.category)
        document["customer_uuid"] = customer.uuid
        document["customer_name"] = customer.display_name
        document["customer_email"] = customer.email
        document["text"] = complaint.text
    return document


def list_complaints(
    session: Session, *, client_id: str | None = None, since: int | None = None
) -> list[dict[str, Any]]:
    """Complaints, newest first; an unknown ``client_id`` is :class:`NotFound`."""
    query = select(AspComplaint).order_by(AspComplaint.created_at.desc(), AspComplaint.id.desc())
    if client_id is not None:
        application: Application = application_by_client_id(session, client_id)
        query = query.where(AspComplaint.application_id == application.id)
    if since is not None:
        query = query.where(AspComplaint.created_at >= since)
    return [_complaint(found, detailed=False) for found in session.scalars(query)]


def show_complaint(session: Session, reference: str) -> dict[str, Any]:
    found = session.scalar(
        select(AspComplaint).where(AspComplaint.reference == reference.strip().upper())
    )
    if found is None:
        raise NotFound(
            f"no complaint has the reference {reference!r}: "
            "espi-sst complaints list shows them (C- and eight characters)"
        )
    return _complaint(found, detailed=True)


def _list(args: argparse.Namespace) -> int:
    found = list_complaints(db.session, client_id=args.client_id, since=args.since)
    emit(found, as_json=args.json, columns=COMPLAINT_COLUMNS, empty="no complaint matches")
    return 0


def _show(args: argparse.Namespace) -> int:
    emit(show_complaint(db.session, args.reference), as_json=args.json)
    return 0


def add_complaint_commands(actions: Any, read: Reader, date: Callable[[str], int]) -> None:
    """``list`` and ``show`` under ``espi-sst complaints`` (``actions``: its sub-commands;
    ``read``: admin.py's read-command maker, which adds ``--json`` and the app context)."""
    q = read(actions, "list", "complaints about ASPs, newest first", _list)
    q.add_argument("--client-id", default=None, metavar="CLIENT_ID", help="one ASP's")
    q.add_argument(
        "--since", type=date, default=None, metavar="DATE", help="filed on or after DATE (UTC)"
    )
    q = read(actions, "show", "one complaint, with the customer's words", _show)
    q.add_argument("reference", metavar="REFERENCE", help="C-XXXXXXXX, as the customer quotes it")
