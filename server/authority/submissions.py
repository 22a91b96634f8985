"""An ASP's one registration: checked, stored, resubmitted while pending (concept design
6.4.3: the minimum criteria an ASP attests to, with documents, before it is qualified).

Every criterion of :data:`CRITERIA` must be attested with a document attached (PDF, PNG or
JPEG, at most ``AUTHORITY_MAX_DOCUMENT_BYTES``); a resubmission may keep a document already
attached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..security import now
from .errors import SubmissionError
from .models import Attestation, Registration, StaffUser, StatusChange
from .uris import checked_uri

CRITERIA = {
    "us_data_storage": "Customer data is stored only in the continental United States",
    "ccpa_cpra": "The ASP complies with the CCPA as amended by the CPRA",
    "covered_entity": "The ASP is a covered entity under the SST's privacy rules",
    "terms_acceptance": "The ASP accepts the SST terms and conditions version in force",
}
ASP_CLASSES = ("data-only", "rate-change")
CONTACT_ROLES = ("technical", "business", "security")
DOCUMENT_TYPES = {"application/pdf", "image/png", "image/jpeg"}
# the list format's limits (server/lifecycle/registry_list.py): a registration that fits them
# can always be published
MAX_TEXT = 256
MAX_URI = 512
MAX_REDIRECT_URIS = 20
_SOFTWARE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Document:
    name: str
    content_type: str
    content: bytes


@dataclass
class Submission:
    """What the form (or JSON) gave, before checking."""

    legal_entity: str
    software_id: str
    software_name: str
    contacts: dict[str, str]
    redirect_uris: list[str]
    notify_uri: str
    asp_class: str
    accepted_terms_version: str
    attested: set[str]
    documents: dict[str, Document] = field(default_factory=dict)


def submit(
    session: Session, settings: dict[str, Any], user: StaffUser, given: Submission
) -> Registration:
    """The organisation's registration, created or (while pending or rejected) replaced and
    set pending again; a :class:`SubmissionError` names the first field that is wrong."""
    assert user.organisation_id is not None
    existing = session.scalar(
        select(Registration).where(Registration.organisation_id == user.organisation_id)
    )
    if existing is not None and existing.status not in ("pending", "rejected"):
        raise SubmissionError(
            "registration",
            f"it is {existing.status}: it can be edited only while pending (ask the authority)",
        )
    values = _checked(session, settings, given, existing)
    kept = {a.criterion: a for a in _attestations(session, existing)}
    for criterion in CRITERIA:
        if criterion not in given.attested:
            raise SubmissionError(f"attest_{criterion}", f"attest: {CRITERIA[criterion]}")
        document = given.documents.get(criterion)
        if document is None and criterion not in kept:
            raise SubmissionError(f"document_{criterion}", "attach a supporting document")
        if document is not None:
            _check_document(settings, criterion, document)
    moment = now()
    if existing is None:
        registration = Registration(
            organisation_id=user.organisation_id,
            status="pending",
            submitted_at=moment,
            updated_at=moment,
            **values,
        )
        session.add(registration)
        session.flush()
    else:
        registration = existing
        for key, value in values.items():
            setattr(registration, key, value)
    registration.status = "pending"
    registration.reason = None
    registration.updated_at = moment
    for criterion, document in given.documents.items():
        attestation = kept.get(criterion)
        if attestation is None:
            attestation = Attestation(registration_id=registration.id, criterion=criterion)
            session.add(attestation)
        attestation.attested_at = moment
        attestation.document_name = document.name[:200]
        attestation.document_type = document.content_type
        attestation.document = document.content
    for criterion, attestation in kept.items():
        if criterion not in given.documents:
            attestation.attested_at = moment
    session.add(
        StatusChange(
            registration_id=registration.id,
            status="pending",
            at=moment,
            by_user_id=user.id,
            note="submitted" if existing is None else "resubmitted",
        )
    )
    session.commit()
    return registration


def _attestations(session: Session, registration: Registration | None) -> list[Attestation]:
    if registration is None:
        return []
    return list(
        session.scalars(select(Attestation).where(Attestation.registration_id == registration.id))
    )


def _checked(
    session: Session, settings: dict[str, Any], given: Submission, existing: Registration | None
) -> dict[str, Any]:
    legal_entity = given.legal_entity.strip()
    if not legal_entity:
        raise SubmissionError("legal_entity", "give the ASP's registered legal name")
    software_id = given.software_id.strip()
    if not _SOFTWARE_ID.match(software_id):
        raise SubmissionError(
            "software_id", "1-100 letters, digits, '.', '_', ':' or '-' (e.g. acme-energy-app)"
        )
    taken = session.scalar(select(Registration).where(Registration.software_id == software_id))
    if taken is not None and taken is not existing:
        raise SubmissionError(
            "software_id", f"{software_id!r} is registered by another organisation"
        )
    software_name = given.software_name.strip()
    if not software_name:
        raise SubmissionError("software_name", "give the name customers see")
    contacts = []
    for role in CONTACT_ROLES:
        email = given.contacts.get(role, "").strip()
        if email and (not _EMAIL.match(email) or len(email) > MAX_TEXT):
            raise SubmissionError(f"contact_{role}", f"{email!r} is not an e-mail address")
        if email:
            contacts.append({"role": role, "email": email})
    if not contacts:
        raise SubmissionError("contact_technical", "give at least one contact's e-mail address")
    allow_loopback = settings["AUTHORITY_ALLOW_LOOPBACK"]
    redirect_uris = [
        checked_uri("redirect_uris", uri, allow_loopback=allow_loopback)
        for uri in given.redirect_uris
        if uri.strip()
    ]
    if not redirect_uris:
        raise SubmissionError("redirect_uris", "give at least one https redirect URI")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise SubmissionError("redirect_uris", f"give at most {MAX_REDIRECT_URIS} redirect URIs")
    for uri in redirect_uris:
        if len(uri) > MAX_URI:
            raise SubmissionError("redirect_uris", f"a URI may have at most {MAX_URI} characters")
    if len(given.notify_uri.strip()) > MAX_TEXT:
        raise SubmissionError("notify_uri", f"at most {MAX_TEXT} characters")
    if not given.notify_uri.strip():
        # ESPI's ThirdPartyNotifyUri: every entity needs it to tell the ASP of new data, and
        # would refuse the registration at its sync; refused here, where the ASP can fix it
        raise SubmissionError(
            "notify_uri",
            "give the https URI where entities notify you of new data (ESPI ThirdPartyNotifyUri)",
        )
    notify_uri = checked_uri("notify_uri", given.notify_uri, allow_loopback=allow_loopback)
    if given.asp_class not in ASP_CLASSES:
        raise SubmissionError("asp_class", f"choose one of {', '.join(ASP_CLASSES)}")
    terms = settings["AUTHORITY_TERMS_VERSION"]
    if given.accepted_terms_version.strip() != terms:
        raise SubmissionError(
            "terms_version", f"accept the terms and conditions version in force ({terms})"
        )
    return {
        "legal_entity": legal_entity[:200],
        "software_id": software_id,
        "software_name": software_name[:200],
        "contacts": contacts,
        "redirect_uris": redirect_uris,
        "notify_uri": notify_uri,
        "asp_class": given.asp_class,
        "terms_version": terms,
    }


def _check_document(settings: dict[str, Any], criterion: str, document: Document) -> None:
    where = f"document_{criterion}"
    if document.content_type not in DOCUMENT_TYPES:
        raise SubmissionError(
            where, f"{document.name!r} is {document.content_type}: attach a PDF, PNG or JPEG"
        )
    if not document.content:
        raise SubmissionError(where, f"{document.name!r} is empty")
    limit = settings["AUTHORITY_MAX_DOCUMENT_BYTES"]
    if len(document.content) > limit:
        raise SubmissionError(where, f"{document.name!r} is larger than {limit} bytes")
