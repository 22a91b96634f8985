"""Applying a verified central-authority list at this entity (concept design 6.4.4-6.4.6; issue 20).

For each listed ASP, matched by the list's ``client_ids[entity]`` when it names one, else by
``software_id``:

* not registered here and ``qualified``: registered (:func:`register_application`: its
  redirect and notify URIs checked like any registration, its class, its acceptance of the
  terms version when this entity publishes that version); the new client secret is
  returned once, in :attr:`AspResult.client_secret`, for the operator to hand over;
* registered: its name, URIs and class brought to the list's (URIs held to the rules of a
  registration; a class downgrade ends the rate-change part of its grants:
  :func:`set_asp_class`), KEEPING its client id and secret;
* ``suspended`` / ``withdrawn`` / ``dequalified``: :func:`set_qualification` ends every
  grant and token, and tells each customer and the ASP (``withdrawn`` -- the ASP left of
  its own accord -- is recorded as ``dequalified`` with the reason; both end access alike);
* blocked by this entity (6.4.6): kept blocked, whatever the list says.

Everything runs in the caller's transaction, one savepoint per ASP: an entry this entity
cannot apply (a redirect URI its rules refuse, a name another ASP has here) is rolled back
alone and reported ``failed`` with the reason; the rest of the list commits with the
sequence (all of it, or -- on a crash -- nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import EspiServerError
from ..storage.models import Application
from .access import set_qualification
from .classes import set_asp_class
from .registration import RegistrationError, _registered_as, check_client_uris, register_application
from .registry_list import ListedAsp, RegistryList
from .terms import accept_terms, current_terms

WITHDRAWING = {"suspended": "suspended", "withdrawn": "dequalified", "dequalified": "dequalified"}
"""A list status that ends access -> the qualification set here (``server/lifecycle/access.py``)."""


@dataclass(frozen=True)
class AspResult:
    """What the sync did with one listed ASP (the report's ``results`` entry)."""

    software_id: str
    action: str  # created | updated | suspended | withdrawn | unchanged | failed
    client_id: str | None
    error: str | None = None
    client_secret: str | None = None  # only when created: shown once, never reported

    def report(self) -> dict[str, str | None]:
        return {
            "software_id": self.software_id,
            "action": self.action,
            "client_id": self.client_id,
            "error": self.error,
        }


def apply_registry(
    session: Session, registry: RegistryList, *, entity_id: str, now: int, actor: str
) -> list[AspResult]:
    """Apply every entry of ``registry`` (verified by the caller); nothing commits here."""
    source = f"central authority list {registry.sequence}"
    results = []
    for asp in registry.asps:
        savepoint = session.begin_nested()
        try:
            result = _apply_one(
                session, asp, entity_id=entity_id, now=now, actor=actor, source=source
            )
        except EspiServerError as exc:
            savepoint.rollback()
            results.append(
                AspResult(asp.software_id, "failed", asp.client_ids.get(entity_id), str(exc))
            )
            continue
        savepoint.commit()
        results.append(result)
    return results


def _find(session: Session, asp: ListedAsp, entity_id: str) -> Application | None:
    client_id = asp.client_ids.get(entity_id)
    if client_id:
        found = session.scalar(select(Application).where(Application.client_id == client_id))
        if found is not None:
            if found.software_id != asp.software_id:
                raise RegistrationError(
                    f"client id {client_id} is registered here for software id "
                    f"{found.software_id!r}, not {asp.software_id!r}"
                )
            return found
    return session.scalar(
        select(Application)
        .where(Application.software_id == asp.software_id)
        .order_by(Application.id)
        .limit(1)
    )


def _apply_one(
    session: Session, asp: ListedAsp, *, entity_id: str, now: int, actor: str, source: str
) -> AspResult:
    application = _find(session, asp, entity_id)
    if application is None:
        if asp.status != "qualified":
            return AspResult(asp.software_id, "unchanged", None)  # nothing here to withdraw
        return _create(session, asp, entity_id=entity_id, now=now, actor=actor)
    if application.qualification == "blocked":
        return AspResult(
            asp.software_id,
            "unchanged",
            application.client_id,
            "blocked by this entity (concept design 6.4.6): kept blocked",
        )
    if asp.status in WITHDRAWING:
        change = set_qualification(
            session,
            application,
            WITHDRAWING[asp.status],
            reason=_reason(asp),
            actor=actor,
            now=now,
            source=source,
        )
        action = "suspended" if asp.status == "suspended" else "withdrawn"
        return AspResult(
            asp.software_id, action if change.changed else "unchanged", application.client_id
        )
    changed = _update(session, application, asp, now=now, actor=actor, source=source)
    moved = set_qualification(
        session, application, "qualified", reason=None, actor=actor, now=now, source=source
    )
    changed = _accept_listed_terms(session, application, asp, now=now, actor=actor) or changed
    return AspResult(
        asp.software_id,
        "updated" if changed or moved.changed else "unchanged",
        application.client_id,
    )


def _reason(asp: ListedAsp) -> str:
    text = f"{asp.status} by the central authority" + (f": {asp.reason}" if asp.reason else "")
    return text[:256]


def _create(session: Session, asp: ListedAsp, *, entity_id: str, now: int, actor: str) -> AspResult:
    if asp.notify_uri is None:
        raise RegistrationError(
            "the list gives no notify URI: ESPI needs one to tell the ASP of new data "
            "(ThirdPartyNotifyUri); the ASP must add it at the authority"
        )
    done = register_application(
        session,
        name=asp.name,
        redirect_uris=list(asp.redirect_uris),
        notify_uri=asp.notify_uri,
        client_id=asp.client_ids.get(entity_id) or None,
        software_id=asp.software_id,
        asp_class=asp.asp_class,
        commit=False,
    )
    application = session.scalar(select(Application).where(Application.client_id == done.client_id))
    assert application is not None
    application.contacts = [email for _role, email in asp.contacts]
    _accept_listed_terms(session, application, asp, now=now, actor=actor)
    return AspResult(asp.software_id, "created", done.client_id, client_secret=done.client_secret)


def _update(
    session: Session, application: Application, asp: ListedAsp, *, now: int, actor: str, source: str
) -> bool:
    notify_uri = asp.notify_uri if asp.notify_uri is not None else application.notify_uri
    changed = False
    if (
        list(asp.redirect_uris) != list(application.redirect_uris)
        or notify_uri != application.notify_uri
    ):
        check_client_uris(list(asp.redirect_uris), notify_uri)
        application.redirect_uris = list(asp.redirect_uris)
        application.notify_uri = notify_uri
        changed = True
    if " ".join(asp.name.split()) != application.client_name:
        taken = _registered_as(session, asp.name)
        if taken is not None and taken != application.client_id:
            raise RegistrationError(
                f"the name {asp.name!r} is registered here by {taken}; customers choose an ASP "
                "by its name"
            )
        application.client_name = " ".join(asp.name.split())
        changed = True
    contacts = [email for _role, email in asp.contacts]
    if contacts != list(application.contacts or []):
        application.contacts = contacts
        changed = True
    moved = set_asp_class(session, application, asp.asp_class, actor=actor, now=now, source=source)
    return changed or moved.changed


def _accept_listed_terms(
    session: Session, application: Application, asp: ListedAsp, *, now: int, actor: str
) -> bool:
    """The authority recorded the ASP's acceptance of ``asp.terms_version`` (6.4.3 item 6);
    recorded here too when it is the version this entity has in force (else nothing: an
    acceptance names exactly the text in force here, ``terms.py``)."""
    terms = current_terms()
    if terms is None or asp.terms_version != terms.version:
        return False
    return accept_terms(session, application, asp.terms_version, actor=actor, now=now)
