"""The central authority's tables (its own metadata, its own Alembic chain and version table).

Concept design 6.4.1 / 6.4.3 / 11.3: the authority qualifies ASP organisations against the
minimum criteria, keeps the list every entity trusts, and receives reports and complaints.
Times are epoch seconds like the server's (security.now).  Documents attached to an
attestation are kept in the database (``document``): one place to back up, bounded by
``AUTHORITY_MAX_DOCUMENT_BYTES``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class AuthorityBase(DeclarativeBase):
    """The authority's metadata: nothing shared with the server's tables."""


class Organisation(AuthorityBase):
    """An ASP organisation that signed up (6.4.3: the applicant)."""

    __tablename__ = "authority_organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(Integer)


class StaffUser(AuthorityBase):
    """A person who signs in: an ASP's staff (``organisation_id`` set) or the authority's
    staff (``organisation_id`` None).  Password (argon2) and TOTP (RFC 6238) both required."""

    __tablename__ = "authority_staff_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("authority_organisations.id"), nullable=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(64))
    email_verified_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # consecutive failed sign-ins; at MAX_FAILED_SIGN_INS the account waits (accounts.py)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(Integer)


class Registration(AuthorityBase):
    """An organisation's one registration (software_id unique across the authority)."""

    __tablename__ = "authority_registrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("authority_organisations.id"), unique=True
    )
    software_id: Mapped[str] = mapped_column(String(100), unique=True)
    software_name: Mapped[str] = mapped_column(String(200))
    legal_entity: Mapped[str] = mapped_column(String(200))
    contacts: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    notify_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    asp_class: Mapped[str] = mapped_column(String(20))
    terms_version: Mapped[str] = mapped_column(String(50))
    # pending | qualified | rejected | suspended | withdrawn
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(Integer)


class StatusChange(AuthorityBase):
    """The registration's status history (submitted, resubmitted, each decision)."""

    __tablename__ = "authority_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("authority_registrations.id"))
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[int] = mapped_column(Integer)
    by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("authority_staff_users.id"), nullable=True
    )
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Attestation(AuthorityBase):
    """One 6.4.3 minimum criterion attested, with its supporting document."""

    __tablename__ = "authority_attestations"
    __table_args__ = (UniqueConstraint("registration_id", "criterion"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("authority_registrations.id"))
    criterion: Mapped[str] = mapped_column(String(40))
    attested_at: Mapped[int] = mapped_column(Integer)
    document_name: Mapped[str] = mapped_column(String(200))
    document_type: Mapped[str] = mapped_column(String(100))
    document: Mapped[bytes] = mapped_column(LargeBinary)


class Decision(AuthorityBase):
    """The audit log of staff decisions: who, when, what, why (never updated or deleted)."""

    __tablename__ = "authority_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("authority_registrations.id"))
    action: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    by_user_id: Mapped[int] = mapped_column(ForeignKey("authority_staff_users.id"))
    at: Mapped[int] = mapped_column(Integer)
    publication_sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Publication(AuthorityBase):
    """One signed list as published: the sequence grows by one per publication."""

    __tablename__ = "authority_publications"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    jws: Mapped[str] = mapped_column(Text)
    published_at: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer)


class SigningKey(AuthorityBase):
    """One of the authority's ES256 keys (a private JWK).  The first is generated and
    activated at first start; ``espi-sst authority keys prepare|activate|retire`` rotate
    them (keys.py names the states; key_rotation.py moves a key along)."""

    __tablename__ = "authority_signing_keys"
    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    private_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(Integer)  # prepared: published from then on
    activated_at: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last made active
    retired_at: Mapped[int | None] = mapped_column(Integer, nullable=True)  # unpublished


class EntityReport(AuthorityBase):
    """One entity's report of what it did with one ASP of one publication."""

    __tablename__ = "authority_entity_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(50))
    sequence: Mapped[int] = mapped_column(Integer)
    software_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[int] = mapped_column(Integer)


class Complaint(AuthorityBase):
    """A customer's complaint about an ASP, forwarded by an entity's portal."""

    __tablename__ = "authority_complaints"
    __table_args__ = (UniqueConstraint("entity", "reference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(50))
    reference: Mapped[str] = mapped_column(String(100))
    software_id: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[int] = mapped_column(Integer)
