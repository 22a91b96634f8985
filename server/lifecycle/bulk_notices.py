"""The BatchList telling an ASP its bulk is ready (ESPI FB 35 with FB 39's notification).

A bulk (``lifecycle/bulk.py``) is built live on each GET, so it is "ready" whenever new data
was loaded for any of its subscriptions.  The utility's nightly load is what knows that:
after it, the utility runs ``espi-sst bulk notify`` (every ASP) or ``espi-sst bulk notify
--client-id X`` (one), and the worker delivers each ASP one ESPI ``BatchList`` naming its
bulk URL (:func:`~.bulk.bulk_url`) to its notify URI, retrying as for every notification
(``outbox/queue.py``).  The ASP then GETs that URL with its client_credentials token
(GBA DataCustodian; NAESB REQ.21 FB 35: "notification of bulk data available").

Told: an ASP that is qualified, has a notify URI, claims FB 35 and has at least one usable
grant (an empty bulk is no news).  Nothing here commits: the caller's transaction holds the
outbox rows, as in ``lifecycle/notices.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..outbox.queue import enqueue_asp_notification
from ..storage.models import Application
from .bulk import bulk_grants, bulk_url, claims_bulk


class BulkNoticeError(InvalidInput):
    """A bulk notice that cannot be sent (the message says what to fix)."""

    code = "unknown_client"


@dataclass(frozen=True)
class BulkNotice:
    """One ASP's answer: the bulk URL named (``url``, None when nothing was sent) or why not."""

    client_id: str
    url: str | None
    grants: int
    skipped: str | None = None


def _skip_reason(application: Application, grants: int) -> str | None:
    if application.qualification != "qualified":
        return f"not qualified ({application.qualification})"
    if not claims_bulk(application):
        return "its registered scope does not claim FB 35 (bulk transfer)"
    if not application.notify_uri:
        return "no notify URI registered"
    if grants == 0:
        return "no usable grant: its bulk is empty"
    return None


def bulk_ready(session: Session, *, now: int, client_id: str | None = None) -> list[BulkNotice]:
    """Queue a BatchList naming each ASP's bulk URL (one ASP: ``client_id``).

    Raises BulkNoticeError for an unknown ``client_id``; an ASP that cannot be told is
    reported with the reason (one named explicitly as well as any other).
    """
    # every ASP; a resource server (the bolt-on: no scope, no grants) is no ASP
    query = select(Application).where(Application.scope != "").order_by(Application.id)
    if client_id is not None:
        query = select(Application).where(Application.client_id == client_id)
    applications = list(session.scalars(query))
    if client_id is not None and not applications:
        raise BulkNoticeError(
            f"no ASP with client_id {client_id!r} is registered here "
            "(espi-sst register-client lists none by that id)"
        )
    notices = []
    for application in applications:
        grants = len(bulk_grants(session, application, now))
        reason = _skip_reason(application, grants)
        if reason is not None:
            notices.append(BulkNotice(application.client_id, None, grants, reason))
            continue
        url = bulk_url(application)
        enqueue_asp_notification(session, application=application, resources=[url], now=now)
        notices.append(BulkNotice(application.client_id, url, grants))
    return notices


__all__ = ["BulkNotice", "BulkNoticeError", "bulk_ready"]
