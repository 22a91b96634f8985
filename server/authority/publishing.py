"""Publishing the signed list: each approval, suspension or withdrawal makes a new publication
(sequence + 1) of every ASP the authority ever qualified (concept design 6.4.1: the list every
entity trusts; 11.3: one registration distributed to every entity), in the
``espi-sst-asp-registry/2`` format, signed by signed_list.sign_registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..security import now
from . import signed_list
from .keys import signing_key
from .models import EntityReport, Publication, Registration

PUBLISHED_STATUSES = ("qualified", "suspended", "withdrawn", "dequalified")
MAX_CLIENT_ID = 64  # the list format's limit (server/lifecycle/registry_list.py)


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_publication(session: Session) -> Publication | None:
    return session.scalars(select(Publication).order_by(Publication.sequence.desc())).first()


def publish(session: Session, settings: dict[str, Any]) -> Publication:
    """A new publication of the list; added to ``session`` (the caller commits, so a decision
    and the list it changes are one transaction)."""
    sequence = (session.scalar(select(func.max(Publication.sequence))) or 0) + 1
    published = now()
    expires = published + settings["AUTHORITY_LIST_LIFETIME_DAYS"] * 86400
    payload = {
        "format": signed_list.REGISTRY_FORMAT_2,
        "issuer": settings["AUTHORITY_ISSUER"],
        "sequence": sequence,
        "published": rfc3339(published),
        "expires": rfc3339(expires),
        "terms_version": settings["AUTHORITY_TERMS_VERSION"],
        "asps": _listed_asps(session),
    }
    jws = signed_list.sign_registry(payload, signing_key(session))
    publication = Publication(
        sequence=sequence, payload=payload, jws=jws, published_at=published, expires_at=expires
    )
    session.add(publication)
    session.flush()
    return publication


def _listed_asps(session: Session) -> list[dict[str, Any]]:
    registrations = session.scalars(
        select(Registration)
        .where(Registration.status.in_(PUBLISHED_STATUSES))
        .order_by(Registration.software_id)
    )
    client_ids = _reported_client_ids(session)
    return [
        {
            "software_id": r.software_id,
            "name": r.software_name,
            "legal_entity": r.legal_entity,
            "status": r.status,
            "reason": r.reason if r.status != "qualified" else None,
            "asp_class": r.asp_class,
            "terms_version": r.terms_version,
            "contacts": [dict(c) for c in r.contacts],
            "redirect_uris": list(r.redirect_uris),
            "notify_uri": r.notify_uri,
            "client_ids": client_ids.get(r.software_id, {}),
        }
        for r in registrations
    ]


def _reported_client_ids(session: Session) -> dict[str, dict[str, str | None]]:
    """Per ASP, the client id each entity last reported (its newest report wins)."""
    found: dict[str, dict[str, str | None]] = {}
    for report in session.scalars(select(EntityReport).order_by(EntityReport.id)):
        if report.client_id is not None and len(report.client_id) <= MAX_CLIENT_ID:
            found.setdefault(report.software_id, {})[report.entity] = report.client_id
    return found


def refresh_if_stale(session: Session, settings: dict[str, Any]) -> Publication | None:
    """The newest publication, republished (same content, new sequence and dates) once it is
    ``AUTHORITY_REPUBLISH_HOURS`` old or half its lifetime has passed, whichever comes first,
    so a list stays fresh without a decision: an entity refuses one whose ``published`` is
    older than its REGISTRY_MAX_AGE_SECONDS (a day by default) or past ``expires``.  None
    when nothing was ever published."""
    latest = latest_publication(session)
    if latest is None:
        return None
    half_life = (latest.expires_at - latest.published_at) // 2
    if now() < latest.published_at + min(half_life, settings["AUTHORITY_REPUBLISH_HOURS"] * 3600):
        return latest
    try:
        fresh = publish(session, settings)
        session.commit()
    except IntegrityError:  # another worker published this sequence first: serve theirs
        session.rollback()
        return latest_publication(session)
    return fresh
