"""The data custodian's tables (SQLAlchemy 2, typed mappings).

Three groups:

* **customers and their data** -- RetailCustomer, CustomerAccount, UsagePoint (a service agreement),
  MeterReading + ReadingType + packed IntervalBlock rows (``interval_data.py``), UsageSummary, LocalTimeParameters;
  and the SST's rate data (Tariff with its RIN; a usage point's current tariffs), designed
  now so the SST services (issue 5) only add behaviour;
* **ASPs and grants** -- Application (ESPI ApplicationInformation: an OAuth client),
  Authorization (ESPI Authorization = one Subscription: a customer's grant to one ASP for
  chosen usage points), PreAuthorization (onboarding Mode 1);
* **OAuth state** -- AuthorizationCode, Token (hashed; refresh rotation by family),
  SigningKey (OpenID Connect), and AuditEvent (every grant, revocation and security event,
  NFR24).

Times are epoch seconds (ESPI TimeType), stored as integers: the same on SQLite and
PostgreSQL, and what the ESPI writer needs.  Secrets (client secrets, codes, tokens) are
stored only as hashes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# ---- customers and their data -------------------------------------------------------------


class RetailCustomer(Base):
    """A customer who signs in to the portal (the built-in identity source)."""

    __tablename__ = "retail_customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The last TOTP time step accepted: a code is good once, not for its whole window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    # The second passcode channel (concept design 7.6; migration 0010): a mobile number in
    # E.164 (server/outbox/sms.py) and the channel the customer chose for rate-change
    # passcodes, "email" or "sms" (set at /portal/contact).
    phone: Mapped[str | None] = mapped_column(String(16))
    passcode_channel: Mapped[str] = mapped_column(
        String(8), default="email", server_default="email"
    )
    service_address: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[int] = mapped_column(BigInteger)
    usage_points: Mapped[list[UsagePoint]] = relationship(back_populates="customer")


class CustomerAccount(Base):
    """A customer's billing account (ESPI customer.xsd CustomerAccount), by its number.

    What a utility's CIS exports between the customer and the service agreements: the
    standalone loader (``espi-sst load accounts``, docs/operations.md) keys it by
    ``account_number`` and hangs each loaded usage point under one.  Optional: a usage point
    written by other means (the demo, bolt-on mode) has none."""

    __tablename__ = "customer_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("retail_customer.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    customer: Mapped[RetailCustomer] = relationship()


class LocalTimeParameters(Base):
    __tablename__ = "local_time_parameters"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    tz_offset: Mapped[int] = mapped_column(Integer)
    dst_offset: Mapped[int] = mapped_column(Integer)
    dst_start_rule: Mapped[str] = mapped_column(String(8))
    dst_end_rule: Mapped[str] = mapped_column(String(8))


class Tariff(Base):
    """A rate schedule the utility offers, with its MIDAS RIN (SST)."""

    __tablename__ = "tariff"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    rin: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16))  # bundled | delivery | generation
    lse: Mapped[str] = mapped_column(String(64))
    iou_mirror_of: Mapped[str | None] = mapped_column(String(40))
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # TOU periods, tiers ...


class UsagePoint(Base):
    """One service agreement: a meter's service at a premise (ESPI UsagePoint)."""

    __tablename__ = "usage_point"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("retail_customer.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("customer_account.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    service_kind: Mapped[int] = mapped_column(Integer)  # ESPI ServiceKind: 0 electricity, 1 gas
    service_agreement: Mapped[str] = mapped_column(String(64))
    local_time_id: Mapped[int | None] = mapped_column(ForeignKey("local_time_parameters.id"))
    # SST: who serves it and on which rates (bundled: one tariff; unbundled: delivery from
    # the UDC plus generation from the CCA, which a non-caching UDC may not know).
    udc: Mapped[str] = mapped_column(String(64))
    lse: Mapped[str] = mapped_column(String(64))
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariff.id"))
    generation_tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariff.id"))
    rate_effective_date: Mapped[int | None] = mapped_column(BigInteger)
    # What rates and bills depend on (SST): the billing cycle starts on read_day (1-28);
    # baseline_territory sets tier allowances; features ("ev", "heat_pump", "battery",
    # "solar") decide eligibility for rates that require them; a voluntary change starts
    # the 12-month restriction; a closed service agreement is no longer shared with anyone.
    read_day: Mapped[int | None] = mapped_column(Integer)
    baseline_territory: Mapped[str | None] = mapped_column(String(8))
    features: Mapped[list[str] | None] = mapped_column(JSON)
    last_voluntary_change_at: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(BigInteger)
    customer: Mapped[RetailCustomer] = relationship(back_populates="usage_points")
    account: Mapped[CustomerAccount | None] = relationship()
    local_time: Mapped[LocalTimeParameters | None] = relationship()
    tariff: Mapped[Tariff | None] = relationship(foreign_keys=[tariff_id])
    generation_tariff: Mapped[Tariff | None] = relationship(foreign_keys=[generation_tariff_id])
    meter_readings: Mapped[list[MeterReading]] = relationship(back_populates="usage_point")
    usage_summaries: Mapped[list[UsageSummary]] = relationship(back_populates="usage_point")

    @property
    def bundled(self) -> bool:
        return self.udc == self.lse


class ReadingType(Base):
    __tablename__ = "reading_type"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    accumulation_behaviour: Mapped[int | None] = mapped_column(Integer)
    commodity: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[int | None] = mapped_column(Integer)
    data_qualifier: Mapped[int | None] = mapped_column(Integer)
    flow_direction: Mapped[int | None] = mapped_column(Integer)
    interval_length: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[int | None] = mapped_column(Integer)
    phase: Mapped[int | None] = mapped_column(Integer)
    power_of_ten_multiplier: Mapped[int | None] = mapped_column(Integer)
    time_attribute: Mapped[int | None] = mapped_column(Integer)
    uom: Mapped[int | None] = mapped_column(Integer)


class MeterReading(Base):
    __tablename__ = "meter_reading"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    usage_point_id: Mapped[int] = mapped_column(ForeignKey("usage_point.id"), index=True)
    reading_type_id: Mapped[int] = mapped_column(ForeignKey("reading_type.id"))
    title: Mapped[str] = mapped_column(String(200))
    usage_point: Mapped[UsagePoint] = relationship(back_populates="meter_readings")
    reading_type: Mapped[ReadingType] = relationship()


class IntervalBlockRow(Base):
    """One meter reading's interval readings of one local day, packed.

    Read and written only through ``storage/interval_data.py``, which documents the layout;
    IntervalBlocks are assembled per day (or month) from it when served."""

    __tablename__ = "interval_block"
    meter_reading_id: Mapped[int] = mapped_column(ForeignKey("meter_reading.id"), primary_key=True)
    duration: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_end: Mapped[int] = mapped_column(BigInteger)
    value_data: Mapped[bytes] = mapped_column(LargeBinary)
    timing: Mapped[bytes | None] = mapped_column(LargeBinary)
    cost_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    quality_data: Mapped[bytes | None] = mapped_column(LargeBinary)


class UsageSummary(Base):
    __tablename__ = "usage_summary"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    usage_point_id: Mapped[int] = mapped_column(ForeignKey("usage_point.id"), index=True)
    billing_period_start: Mapped[int] = mapped_column(BigInteger)
    billing_period_duration: Mapped[int] = mapped_column(Integer)
    bill_last_period: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[int | None] = mapped_column(Integer)
    consumption_wh: Mapped[int | None] = mapped_column(BigInteger)
    status_time_stamp: Mapped[int] = mapped_column(BigInteger)
    tariff_profile: Mapped[str | None] = mapped_column(String(256))
    read_cycle: Mapped[str | None] = mapped_column(String(256))
    agency_name: Mapped[str | None] = mapped_column(String(256))
    usage_point: Mapped[UsagePoint] = relationship(back_populates="usage_summaries")


# ---- ASPs and grants ------------------------------------------------------------------------


def _class_of_scope(context: Any) -> str:
    """Migration 0005's rule for a row without a class: rate-change iff its scope has it."""
    scope = str(context.get_current_parameters().get("scope") or "")
    return "rate-change" if "sst:rate_change" in scope.split() else "data-only"


class Application(Base):
    """An ASP's registered application (ESPI ApplicationInformation; an OAuth client)."""

    __tablename__ = "application"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(255))  # None: public client
    client_name: Mapped[str] = mapped_column(String(256))
    client_uri: Mapped[str | None] = mapped_column(String(512))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    notify_uri: Mapped[str] = mapped_column(String(512))
    scope: Mapped[str] = mapped_column(Text)  # the most this application may ask for
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    # qualified | pending | suspended | dequalified (central registry) | blocked (this utility)
    qualification: Mapped[str] = mapped_column(String(16))
    qualification_reason: Mapped[str | None] = mapped_column(String(256))
    qualification_changed_at: Mapped[int | None] = mapped_column(BigInteger)
    # data-only | rate-change (concept design 6.4.2.1-6.4.2.2; server/lifecycle/classes.py).
    # Registration always sets it; a row written without one gets migration 0005's rule.
    asp_class: Mapped[str] = mapped_column(
        String(16), default=_class_of_scope, server_default="data-only"
    )
    software_id: Mapped[str] = mapped_column(String(256))
    software_version: Mapped[str] = mapped_column(String(32))
    contacts: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # The SST terms and conditions it accepted last (concept design 6.4.3 item 6): the
    # version, the SHA-256 of that text, when (server/lifecycle/terms.py; history: audit).
    terms_version: Mapped[str | None] = mapped_column(String(32))
    terms_sha256: Mapped[str | None] = mapped_column(String(64))
    terms_accepted_at: Mapped[int | None] = mapped_column(BigInteger)


authorization_usage_point = Table(
    "authorization_usage_point",
    Base.metadata,
    Column("authorization_id", ForeignKey("authorization.id"), primary_key=True),
    Column("usage_point_id", ForeignKey("usage_point.id"), primary_key=True),
)
preauthorization_usage_point = Table(
    "preauthorization_usage_point",
    Base.metadata,
    Column("preauthorization_id", ForeignKey("preauthorization.id"), primary_key=True),
    Column("usage_point_id", ForeignKey("usage_point.id"), primary_key=True),
)


class Authorization(Base):
    """A customer's grant to one application: ESPI Authorization, and its Subscription."""

    __tablename__ = "authorization"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    subscription_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("retail_customer.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)  # ESPI AuthorizationStatus: 0 revoked, 1 active
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    ends_at: Mapped[int | None] = mapped_column(BigInteger)  # None: until revoked
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    # Why access ended: revoked_by_customer | expired | service_closed | dequalified | blocked
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    grant_type: Mapped[str] = mapped_column(String(32))
    application: Mapped[Application] = relationship()
    customer: Mapped[RetailCustomer | None] = relationship()
    usage_points: Mapped[list[UsagePoint]] = relationship(secondary=authorization_usage_point)


class PreAuthorization(Base):
    """Onboarding Mode 1: the customer chose an ASP and what to share before it asked."""

    __tablename__ = "preauthorization"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("retail_customer.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    scope: Mapped[str] = mapped_column(Text)
    ends_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    usage_points: Mapped[list[UsagePoint]] = relationship(secondary=preauthorization_usage_point)


# ---- OAuth state ----------------------------------------------------------------------------


class AuthorizationCode(Base):
    __tablename__ = "authorization_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    authorization_id: Mapped[int] = mapped_column(ForeignKey("authorization.id"))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    response_type: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    token_family: Mapped[str | None] = mapped_column(String(36))  # what the code issued


class Token(Base):
    """An access token and (maybe) its refresh token, hashed; one row per issue.

    Rotation: refreshing issues a new row in the same ``family`` and marks the old refresh
    token used; presenting a used refresh token again revokes the whole family.
    """

    __tablename__ = "token"
    id: Mapped[int] = mapped_column(primary_key=True)
    family: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    authorization_id: Mapped[int | None] = mapped_column(ForeignKey("authorization.id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    access_expires_at: Mapped[int] = mapped_column(BigInteger)
    refresh_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    refresh_used_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    authorization: Mapped[Authorization | None] = relationship()


class SigningKey(Base):
    """OpenID Connect signing keys: generated at first start, kept, published as JWKS."""

    __tablename__ = "signing_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """A controlled, auditable record of every grant, consent and security event (NFR24).

    Append-only: migration 0002 adds triggers that refuse UPDATE and DELETE on this table
    (SQLite and PostgreSQL), so not even the application can rewrite history.
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(120))  # customer:<uuid>, client:<id>, system
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PortalSession(Base):
    """A signed-in browser.  The session cookie carries a random id whose hash is kept here,
    so signing out ends the session on the server: a copied cookie is worthless afterwards,
    and every session has an absolute end (``expires_at``) whatever the cookie says."""

    __tablename__ = "portal_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("retail_customer.id"), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    ended_reason: Mapped[str | None] = mapped_column(String(32))  # signed_out | replaced ...
    customer: Mapped[RetailCustomer] = relationship()


class SignInThrottle(Base):
    """Failed sign-in attempts under one key, and the backoff they earned.

    A key is a step and a keyed hash (HMAC) naming what is throttled -- an account tried
    from browsers it has not seen, or one recognised browser -- never the typed text
    (server/portal/throttle.py).  Failures count every attempt until it succeeds.
    Backoff, not lock-out: a stranger can slow guesses at an account, never shut its owner
    out of a browser the owner signed in from before.
    """

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_failure_at: Mapped[int] = mapped_column(BigInteger)
    last_failure_at: Mapped[int] = mapped_column(BigInteger, index=True)  # purge by age
    next_allowed_at: Mapped[int] = mapped_column(BigInteger)  # 0: no wait
    notified_at: Mapped[int | None] = mapped_column(BigInteger)  # the owner was e-mailed


# ---- SST services -------------------------------------------------------------------------


class BillComparisonRecord(Base):
    """A bill comparison as computed for one billing cycle (recomputed at most once a cycle).

    ``estimates`` holds one dict per rate: rin, tariff_code, tariff_name, annual_cost and
    monthly_cost (ESPI cost units, 1e-5 of the currency), is_current, basis.
    """

    __tablename__ = "bill_comparison"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    usage_point_id: Mapped[int] = mapped_column(ForeignKey("usage_point.id"), index=True)
    cycle_start: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(String(256))
    usage_start: Mapped[int | None] = mapped_column(BigInteger)
    usage_duration: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[int | None] = mapped_column(Integer)
    estimates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    __table_args__ = (
        UniqueConstraint("usage_point_id", "cycle_start", name="uq_bill_comparison_cycle"),
    )


OPEN_RATE_CHANGE_CONDITION = "status IN ('awaitingConfirmation', 'confirmed', 'submitted')"
"""A rate change still in progress (server.sst.rate_change.OPEN): at most one per usage point."""


class RateChangeRequestRecord(Base):
    """A customer-directed rate change (1623(c)(1)(D)) and where it stands.

    The status moves awaitingConfirmation -> confirmed -> submitted -> accepted | rejected
    (or expired / cancelled); every move is one transaction that also writes the audit event
    and the outbox messages, so a crash never loses a step or sends for a step not taken.
    ``lease_until`` is a worker's claim on a submitted request; an expired lease means the
    worker died and another may retry (the billing backend is idempotent by request uuid).
    """

    __tablename__ = "rate_change_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    usage_point_id: Mapped[int] = mapped_column(ForeignKey("usage_point.id"), index=True)
    authorization_id: Mapped[int] = mapped_column(ForeignKey("authorization.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    target_tariff_id: Mapped[int] = mapped_column(ForeignKey("tariff.id"))
    target_rin: Mapped[str] = mapped_column(String(40))
    target_tariff_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(48))
    rejection_message: Mapped[str | None] = mapped_column(String(256))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    otp_hash: Mapped[str | None] = mapped_column(String(255))
    otp_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    otp_attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[int | None] = mapped_column(BigInteger)
    submitted_at: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[int | None] = mapped_column(BigInteger)
    effective_date: Mapped[int | None] = mapped_column(BigInteger)
    lease_until: Mapped[int | None] = mapped_column(BigInteger)
    processing_attempts: Mapped[int] = mapped_column(Integer, default=0)
    usage_point: Mapped[UsagePoint] = relationship()
    authorization: Mapped[Authorization] = relationship()
    application: Mapped[Application] = relationship()
    target_tariff: Mapped[Tariff] = relationship()
    __table_args__ = (
        UniqueConstraint("application_id", "idempotency_key", name="uq_rate_change_idempotency"),
        # One open request per service agreement, held by the database (a check-then-insert
        # lets parallel POSTs through): a partial unique index, on SQLite and PostgreSQL.
        Index(
            "uq_rate_change_one_open_per_usage_point",
            "usage_point_id",
            unique=True,
            sqlite_where=text(OPEN_RATE_CHANGE_CONDITION),
            postgresql_where=text(OPEN_RATE_CHANGE_CONDITION),
        ),
    )


class ScheduledRateChange(Base):
    """The sample billing system's schedule: one row per accepted request, ever.

    ``request_uuid`` is unique: a retried submission finds the row it already wrote, so a
    change is never scheduled (or applied) twice.
    """

    __tablename__ = "scheduled_rate_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    usage_point_id: Mapped[int] = mapped_column(ForeignKey("usage_point.id"), index=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariff.id"))
    effective_date: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    applied_at: Mapped[int | None] = mapped_column(BigInteger)


class OutboxMessage(Base):
    """A message to send after its transaction commits: e-mail to a customer, or an ESPI
    BatchList notification to an ASP.  The worker sends it, retrying with backoff, so the
    request path never waits on a mail server or an ASP."""

    __tablename__ = "outbox_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | asp_notification
    destination: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[int | None] = mapped_column(BigInteger)  # gave up
    last_error: Mapped[str | None] = mapped_column(String(512))


class AspComplaint(Base):
    """A customer's report about an ASP, filed in the portal (concept design UC1.4, 6.4.6).

    6.4.6: "Customer complaints about specific ASPs may be directed at ... individual
    IOU/POU/CCAs"; the utility reads them (``espi-sst complaints list|show``) and may block
    the ASP or petition the Central Authority.  ``reference`` is what the customer is given
    to quote; ``mailed_to`` the address the report was queued to (None: no
    ``COMPLAINTS_EMAIL`` was set when it was filed).  Migration 0009."""

    __tablename__ = "asp_complaint"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("retail_customer.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    had_grant: Mapped[bool] = mapped_column(Boolean)  # the customer had granted it access
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    mailed_to: Mapped[str | None] = mapped_column(String(254))
    customer: Mapped[RetailCustomer] = relationship()
    application: Mapped[Application] = relationship()
