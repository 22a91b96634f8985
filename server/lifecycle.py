"""The authorization lifecycle: how access ends, and which ASPs may ask for it.

Concept design 7.10 (customer offboarding): a grant ends on its end date, when the customer
revokes it in the portal, or when the service agreement it shares is closed.  6.4.4-6.4.6
(ASP registration, offboarding, rejection): the central authority publishes the qualified
ASPs; a de-qualified ASP loses every customer's access at once and its customers are told;
this utility may also block an ASP on its own, whatever the central list says.

Every change here is written to the append-only audit log (NFR24: who, what, when) in the
same transaction as the change.  No function commits: the caller owns the transaction, so
a change, its audit rows and its outbox e-mails commit together or not at all.  Ending is
race-safe: an authorization is claimed with a conditional UPDATE (``status = 1``), so two
workers, or a sweep and a customer's click, never end one grant twice.

Qualification states (``Application.qualification``):

* ``qualified`` -- listed by the central authority; may ask for consent and tokens;
* ``pending`` -- not yet listed; may ask, and the consent page flags it;
* ``suspended`` / ``dequalified`` -- the central authority withdrew it (6.4.5);
* ``blocked`` -- this utility's own decision (6.4.6); only ``espi-sst asp unblock`` lifts it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session

from .outbox import enqueue_email
from .storage.models import (
    Application,
    AuditEvent,
    Authorization,
    PreAuthorization,
    RetailCustomer,
    Token,
    UsagePoint,
    authorization_usage_point,
)

ACTIVE = 1
ENDED = 0
QUALIFICATIONS = frozenset({"qualified", "pending", "suspended", "dequalified", "blocked"})
USABLE = frozenset({"qualified", "pending"})
"""Qualifications that may ask for consent and tokens (``pending`` is flagged to customers)."""
ENDED_REASONS = frozenset(
    {"revoked_by_customer", "expired", "service_closed", "dequalified", "blocked"}
)
REGISTRY_FORMAT = "espi-sst-asp-registry/1"
REGISTRY_STATUSES = ("qualified", "dequalified", "suspended")
MAX_TEXT = 256  # Application.software_id / qualification_reason columns

_WHY = {
    "suspended": "the central authority that qualifies providers for the Single Statewide Tool "
    "has suspended its qualification",
    "dequalified": "the central authority that qualifies providers for the Single Statewide "
    "Tool has withdrawn its qualification",
    "blocked": "{utility} no longer accepts it",
}


class LifecycleError(ValueError):
    """A lifecycle request that cannot be done (unknown usage point, bad status ...)."""

    code = "lifecycle_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RegistryError(LifecycleError):
    """An ASP registry file that cannot be loaded; nothing of it was applied.

    Attributes:
        index: the entry of ``asps`` at fault (None: the document itself).
        field: the field at fault, when there is one.
    """

    code = "asp_registry_invalid"

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.index = index
        self.field = field


def may_request_consent(application: Application) -> bool:
    """Whether the ASP may ask customers for consent and the token endpoint for tokens."""
    return application.qualification in USABLE


def refusal_reason(application: Application) -> str:
    """Why an ASP that may not ask is refused, in words a customer understands."""
    return _WHY.get(application.qualification, "it is not registered for this service").format(
        utility=_utility_name()
    )


# ---- ending one authorization --------------------------------------------------------------


def end_authorization(
    session: Session, authorization: Authorization, *, reason: str, actor: str, now: int
) -> bool:
    """End a grant: status 0, ``ended_reason``, every token of it revoked, one audit row.

    Returns False (and changes nothing) when the grant had already ended, e.g. a customer
    revoked it while a sweep was running.
    """
    return _end(session, authorization, reason=reason, actor=actor, now=now) is not None


def _end(
    session: Session,
    authorization: Authorization,
    *,
    reason: str,
    actor: str,
    now: int,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """:func:`end_authorization`; the number of tokens revoked, None when already ended."""
    if reason not in ENDED_REASONS:
        raise LifecycleError(
            f"ended_reason {reason!r} is not one of {', '.join(sorted(ENDED_REASONS))}"
        )
    claimed = _rowcount(
        session.execute(
            update(Authorization)
            .where(Authorization.id == authorization.id, Authorization.status == ACTIVE)
            .values(status=ENDED, revoked_at=now, updated_at=now, ended_reason=reason)
            .execution_options(synchronize_session=False)
        )
    )
    session.expire(authorization, ["status", "revoked_at", "updated_at", "ended_reason"])
    if claimed != 1:
        return None
    revoked = _revoke_tokens(session, Token.authorization_id == authorization.id, now)
    _audit(
        session,
        now,
        actor,
        "authorization_ended",
        f"authorization:{authorization.uuid}",
        {
            "reason": reason,
            "client": authorization.application.client_id,
            "customer": authorization.customer.uuid if authorization.customer else None,
            "ends_at": authorization.ends_at,
            "tokens_revoked": revoked,
            **(detail or {}),
        },
    )
    return revoked


def expire_authorizations(session: Session, *, now: int) -> int:
    """End every active grant whose end date has passed; the number ended.

    The token guard already refuses such grants; this makes the end visible (portal, ESPI
    Authorization status), revokes their refresh tokens and audits it.  The worker calls it
    periodically; running it twice, or on two workers at once, ends each grant once.
    """
    due = session.scalars(
        select(Authorization)
        .where(
            Authorization.status == ACTIVE,
            Authorization.ends_at.is_not(None),
            Authorization.ends_at <= now,
        )
        .order_by(Authorization.id)
    ).all()
    return sum(
        _end(session, grant, reason="expired", actor="system", now=now) is not None for grant in due
    )


# ---- closing a service agreement -----------------------------------------------------------


@dataclass(frozen=True)
class ServiceClosure:
    """What closing a usage point did (``closed`` is False when it was already closed)."""

    usage_point: str
    closed: bool
    ended: tuple[str, ...] = ()  # authorization uuids: they shared no other open point
    kept: tuple[str, ...] = ()  # authorization uuids that still share another open point


def close_service_agreement(
    session: Session, usage_point_uuid: str, *, now: int, actor: str
) -> ServiceClosure:
    """Close a service agreement: it is shared with no one from now on (concept design 7.10).

    A grant that shared it keeps its other open usage points (the resource API hides the
    closed one); a grant left with none ends with reason ``service_closed``.

    Raises:
        LifecycleError: no usage point has that uuid.
    """
    point = session.scalar(select(UsagePoint).where(UsagePoint.uuid == usage_point_uuid))
    if point is None:
        raise LifecycleError(
            f"no usage point {usage_point_uuid!r}: give the UsagePoint uuid of the service agreement",
            code="unknown_usage_point",
        )
    closed = _rowcount(
        session.execute(
            update(UsagePoint)
            .where(UsagePoint.id == point.id, UsagePoint.closed_at.is_(None))
            .values(closed_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    session.expire(point, ["closed_at"])
    if closed != 1:
        return ServiceClosure(point.uuid, closed=False)
    grants = session.scalars(
        select(Authorization)
        .join(
            authorization_usage_point,
            authorization_usage_point.c.authorization_id == Authorization.id,
        )
        .where(
            authorization_usage_point.c.usage_point_id == point.id,
            Authorization.status == ACTIVE,
        )
        .order_by(Authorization.id)
    ).all()
    ended: list[str] = []
    kept: list[str] = []
    for grant in grants:
        still_open = session.scalar(
            select(func.count())
            .select_from(authorization_usage_point)
            .join(UsagePoint, UsagePoint.id == authorization_usage_point.c.usage_point_id)
            .where(
                authorization_usage_point.c.authorization_id == grant.id,
                UsagePoint.customer_id == grant.customer_id,
                UsagePoint.closed_at.is_(None),
            )
        )
        if still_open:
            kept.append(grant.uuid)
        elif (
            _end(
                session,
                grant,
                reason="service_closed",
                actor=actor,
                now=now,
                detail={"usage_point": point.uuid},
            )
            is not None
        ):
            ended.append(grant.uuid)
    _audit(
        session,
        now,
        actor,
        "service_agreement_closed",
        f"usage_point:{point.uuid}",
        {"service_agreement": point.service_agreement, "ended": ended, "kept": kept},
    )
    return ServiceClosure(point.uuid, closed=True, ended=tuple(ended), kept=tuple(kept))


# ---- ASP qualification ---------------------------------------------------------------------


@dataclass(frozen=True)
class QualificationChange:
    """What :func:`set_qualification` did to one application."""

    client_id: str
    previous: str
    status: str
    authorizations_ended: int = 0
    tokens_revoked: int = 0
    customers_notified: int = 0
    customers_without_email: tuple[str, ...] = ()  # customer uuids we could not tell

    @property
    def changed(self) -> bool:
        return self.previous != self.status


def set_qualification(
    session: Session,
    application: Application,
    status: str,
    *,
    reason: str | None,
    actor: str,
    now: int,
    source: str | None = None,
) -> QualificationChange:
    """Set an ASP's qualification; withdrawing it ends all of its access at once (6.4.5-6.4.6).

    ``suspended``, ``dequalified`` and ``blocked`` end every active grant of the application
    (reason ``blocked`` for this utility's block, else ``dequalified``), revoke all of its
    tokens -- its client_credentials tokens too -- withdraw its unused pre-authorizations,
    and queue one e-mail to each affected customer.  ``qualified`` or ``pending`` lets it ask
    again; grants that ended stay ended (customers onboard again, 6.4.5).

    Setting the status it already has only sweeps tokens a racing token request may have
    left behind; it writes no audit row unless it found some.

    Raises:
        LifecycleError: an unknown status, or a reason longer than 256 characters.
    """
    if status not in QUALIFICATIONS:
        raise LifecycleError(
            f"qualification {status!r} is not one of {', '.join(sorted(QUALIFICATIONS))}",
            code="unknown_qualification",
        )
    if reason is not None and len(reason) > MAX_TEXT:
        raise LifecycleError(f"the reason is longer than {MAX_TEXT} characters; shorten it")
    previous = application.qualification
    if previous != status:
        application.qualification = status
        application.qualification_reason = reason
        application.qualification_changed_at = now
    if status in USABLE:
        if previous == status:
            return QualificationChange(application.client_id, previous, status)
        _audit_change(session, application, previous, reason, actor, now, source, {})
        return QualificationChange(application.client_id, previous, status)

    ended_reason = "blocked" if status == "blocked" else "dequalified"
    grants = session.scalars(
        select(Authorization)
        .where(Authorization.application_id == application.id, Authorization.status == ACTIVE)
        .order_by(Authorization.id)
    ).all()
    ended = tokens = 0
    customers: dict[int, RetailCustomer] = {}
    for grant in grants:
        revoked = _end(
            session,
            grant,
            reason=ended_reason,
            actor=actor,
            now=now,
            detail={"qualification": status},
        )
        if revoked is None:
            continue
        ended += 1
        tokens += revoked
        if grant.customer is not None:
            customers[grant.customer.id] = grant.customer
    # Every token of the client: customer tokens of grants already ended and its own
    # client_credentials tokens (authorization_id NULL) -- the whole ASP is cut off at once.
    tokens += _revoke_tokens(session, Token.client_id == application.client_id, now)
    withdrawn = _rowcount(
        session.execute(
            update(PreAuthorization)
            .where(
                PreAuthorization.application_id == application.id,
                PreAuthorization.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    notified, unreachable = _notify_customers(
        session, application, list(customers.values()), status, reason, now
    )
    change = QualificationChange(
        application.client_id, previous, status, ended, tokens, notified, unreachable
    )
    counts = {
        "authorizations_ended": ended,
        "tokens_revoked": tokens,
        "preauthorizations_withdrawn": withdrawn,
        "customers_notified": notified,
        "customers_without_email": list(unreachable),
    }
    if previous != status:
        _audit_change(session, application, previous, reason, actor, now, source, counts)
    elif ended or tokens or withdrawn:
        _audit(session, now, actor, "asp_access_swept", f"client:{application.client_id}", counts)
    return change


def _audit_change(
    session: Session,
    application: Application,
    previous: str,
    reason: str | None,
    actor: str,
    now: int,
    source: str | None,
    counts: dict[str, Any],
) -> None:
    _audit(
        session,
        now,
        actor,
        "asp_qualification_changed",
        f"client:{application.client_id}",
        {
            "from": previous,
            "to": application.qualification,
            "reason": reason,
            "software_id": application.software_id,
            "source": source,
            **counts,
        },
    )


def _notify_customers(
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
    A customer without a usable address is reported (and audited), never a reason to keep
    the ASP's access.
    """
    utility = _utility_name()
    name = " ".join(application.client_name.split())
    why = _WHY[status].format(utility=utility)
    if reason and status != "blocked":
        why += f" (reason given: {' '.join(reason.split())})"
    date = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%B %d, %Y").replace(" 0", " ")
    link = _portal_link()
    notified = 0
    unreachable: list[str] = []
    for customer in sorted(customers, key=lambda c: c.id):
        text = (
            f"Hello {customer.display_name},\n\n"
            f"As of {date}, {name} no longer has access to your {utility} account through "
            f"the Single Statewide Tool: {why}.\n\n"
            f"{name} can no longer see your energy data or rates, or act on your account "
            "through us. The permission you gave it has ended. You do not need to do "
            f"anything. If {name} is allowed again later, it will have to ask for your "
            "permission again.\n"
            + (f"\nThe companies you share your data with: {link}\n" if link else "")
            + f"\n{utility}\n"
        )
        try:
            if not customer.email:
                raise ValueError("no e-mail address")
            enqueue_email(
                session,
                to=customer.email,
                subject=f"{name} no longer has access to your {utility} account",
                text=text,
                now=now,
            )
        except ValueError:
            unreachable.append(customer.uuid)
            continue
        notified += 1
    return notified, tuple(unreachable)


# ---- the central registry of qualified ASPs ------------------------------------------------


@dataclass(frozen=True)
class RegistryEntry:
    software_id: str
    name: str
    status: str  # qualified | dequalified | suspended
    reason: str | None


@dataclass(frozen=True)
class AspRegistry:
    """A validated registry document (see :func:`parse_asp_registry`)."""

    published: dt.datetime
    published_text: str
    entries: tuple[RegistryEntry, ...]
    source: str
    sha256: str | None = None


@dataclass(frozen=True)
class RegistryReport:
    """What loading a registry did.

    Applications the registry does not list are left as they are and reported in
    ``not_listed``: a utility may keep local test clients (registered ``pending`` or
    ``qualified`` by an operator) that the central authority never lists.
    """

    published: str
    listed: int
    changes: tuple[QualificationChange, ...] = ()
    unchanged: tuple[str, ...] = ()  # client ids already as the registry says
    kept_blocked: tuple[str, ...] = ()  # client ids blocked here; the registry cannot lift it
    not_listed: tuple[str, ...] = ()  # client ids whose software_id the registry lacks
    unknown: tuple[str, ...] = ()  # listed software ids with no application here
    details: dict[str, str] = field(default_factory=dict)  # client id -> registry status

    @property
    def authorizations_ended(self) -> int:
        return sum(c.authorizations_ended for c in self.changes)

    @property
    def tokens_revoked(self) -> int:
        return sum(c.tokens_revoked for c in self.changes)

    @property
    def customers_notified(self) -> int:
        return sum(c.customers_notified for c in self.changes)


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", re.ASCII)
_TOP_FIELDS = frozenset({"format", "published", "asps"})
_REQUIRED_ENTRY_FIELDS = frozenset({"software_id", "name", "status"})
_ENTRY_FIELDS = _REQUIRED_ENTRY_FIELDS | {"reason"}


def parse_asp_registry(document: str | os.PathLike[str] | Mapping[str, Any]) -> AspRegistry:
    """Read and validate a registry published by the central authority (6.4.4).

    ``{"format": "espi-sst-asp-registry/1", "published": RFC 3339, "asps": [{"software_id",
    "name", "status": qualified | dequalified | suspended, "reason"?}]}``.  Strict: unknown
    fields, duplicate keys or software ids, and a missing time zone are errors, so a typo
    never silently re-qualifies (or fails to de-qualify) an ASP.

    Raises:
        RegistryError: naming the entry index and field, and how to fix it.
    """
    digest = None
    if isinstance(document, Mapping):
        source, data = "<document>", document
    else:
        source = str(document)
        try:
            raw = Path(document).read_bytes()
        except OSError as exc:
            raise RegistryError(
                f"{source}: cannot read the registry file: {exc.strerror}", code="unreadable"
            ) from None
        digest = hashlib.sha256(raw).hexdigest()
        try:
            data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
        except UnicodeDecodeError:
            raise RegistryError(f"{source}: the registry is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"{source}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        except ValueError as exc:
            raise RegistryError(f"{source}: {exc}") from None

    def fail(message: str, index: int | None = None, name: str | None = None) -> RegistryError:
        where = "" if index is None else f"asps[{index}]"
        if name is not None:
            where = f"{where}.{name}" if where else name
        return RegistryError(
            f"{source}: {where}: {message}" if where else f"{source}: {message}",
            index=index,
            field=name,
        )

    if not isinstance(data, Mapping):
        raise fail("the registry must be a JSON object with format, published and asps")
    if missing := sorted(_TOP_FIELDS - data.keys()):
        raise fail("missing (required)", name=missing[0])
    if unknown := sorted(data.keys() - _TOP_FIELDS):
        raise fail("unknown field (this reader knows format, published, asps)", name=unknown[0])
    if data["format"] != REGISTRY_FORMAT:
        raise fail(f"{data['format']!r} is not {REGISTRY_FORMAT!r}", name="format")
    published_text = data["published"]
    if not isinstance(published_text, str) or not _RFC3339.fullmatch(published_text):
        raise fail(
            f"{published_text!r} is not an RFC 3339 time with a zone (2025-01-31T00:00:00Z)",
            name="published",
        )
    try:
        published = dt.datetime.fromisoformat(published_text)
    except ValueError as exc:
        raise fail(f"{published_text!r}: {exc}", name="published") from None
    asps = data["asps"]
    if not isinstance(asps, list):
        raise fail("must be a list of ASP entries", name="asps")
    entries: list[RegistryEntry] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(asps):
        if not isinstance(item, Mapping):
            raise fail("must be an object with software_id, name, status", index)
        if missing := sorted(_REQUIRED_ENTRY_FIELDS - item.keys()):
            raise fail("missing (required)", index, missing[0])
        if unknown := sorted(item.keys() - _ENTRY_FIELDS):
            raise fail("unknown field (software_id, name, status, reason)", index, unknown[0])
        for key in ("software_id", "name"):
            value = item[key]
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
                raise fail(
                    f"must be a non-empty string of at most {MAX_TEXT} characters", index, key
                )
        if item["status"] not in REGISTRY_STATUSES:
            raise fail(
                f"{item['status']!r} is not one of {', '.join(REGISTRY_STATUSES)}", index, "status"
            )
        reason = item.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_TEXT):
            raise fail(
                f"must be a string of at most {MAX_TEXT} characters, or absent", index, "reason"
            )
        if item["software_id"] in seen:
            raise fail(
                f"{item['software_id']!r} is listed twice (first at asps[{seen[item['software_id']]}])",
                index,
                "software_id",
            )
        seen[item["software_id"]] = index
        entries.append(
            RegistryEntry(item["software_id"], item["name"], item["status"], reason or None)
        )
    return AspRegistry(published, published_text, tuple(entries), source, digest)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def load_asp_registry(
    session: Session,
    path_or_document: str | os.PathLike[str] | Mapping[str, Any],
    *,
    now: int,
    actor: str = "registry",
    allow_older: bool = False,
) -> RegistryReport:
    """Apply the central authority's registry: all of it, or nothing (6.4.4-6.4.6).

    An application is matched by ``software_id``.  Listed ``dequalified`` / ``suspended``:
    :func:`set_qualification` ends its access; listed ``qualified``: it may ask again.
    Locally ``blocked`` applications stay blocked whatever the registry says (6.4.6).
    A registry published before the last one loaded is refused unless ``allow_older``:
    replaying an old file must not re-qualify an ASP de-qualified since.

    Raises:
        RegistryError: a malformed or stale registry; nothing was changed.
    """
    registry = parse_asp_registry(path_or_document)
    last = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "asp_registry_loaded")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    before = (last.detail or {}).get("published") if last is not None else None
    if before and not allow_older:
        if registry.published < dt.datetime.fromisoformat(before):
            raise RegistryError(
                f"{registry.source}: published {registry.published_text} is older than the "
                f"registry loaded before ({before}); load the newest file "
                "(or pass --allow-older if the central authority withdrew the newer one)",
                field="published",
                code="stale_registry",
            )
    if registry.published.timestamp() > now + 86_400:
        raise RegistryError(
            f"{registry.source}: published {registry.published_text} is in the future; check "
            "the file (and this machine's clock)",
            field="published",
        )
    by_software = {entry.software_id: entry for entry in registry.entries}
    changes: list[QualificationChange] = []
    unchanged: list[str] = []
    kept_blocked: list[str] = []
    not_listed: list[str] = []
    seen: set[str] = set()
    details: dict[str, str] = {}
    source = f"asp-registry published {registry.published_text}"
    for application in session.scalars(select(Application).order_by(Application.id)).all():
        entry = by_software.get(application.software_id)
        if entry is None:
            not_listed.append(application.client_id)
            continue
        seen.add(entry.software_id)
        details[application.client_id] = entry.status
        if application.qualification == "blocked":
            kept_blocked.append(application.client_id)
            continue
        change = set_qualification(
            session,
            application,
            entry.status,
            reason=entry.reason,
            actor=actor,
            now=now,
            source=source,
        )
        if change.changed or change.tokens_revoked or change.authorizations_ended:
            changes.append(change)
        else:
            unchanged.append(application.client_id)
    report = RegistryReport(
        published=registry.published_text,
        listed=len(registry.entries),
        changes=tuple(changes),
        unchanged=tuple(unchanged),
        kept_blocked=tuple(kept_blocked),
        not_listed=tuple(not_listed),
        unknown=tuple(e.software_id for e in registry.entries if e.software_id not in seen),
        details=details,
    )
    _audit(
        session,
        now,
        actor,
        "asp_registry_loaded",
        "asp-registry",
        {
            "published": registry.published_text,
            "source": registry.source,
            "sha256": registry.sha256,
            "listed": report.listed,
            "changed": [f"{c.client_id}:{c.previous}->{c.status}" for c in changes],
            "kept_blocked": kept_blocked,
            "not_listed": not_listed,
            "unknown": list(report.unknown),
        },
    )
    return report


# ---- helpers -------------------------------------------------------------------------------


def _revoke_tokens(session: Session, which: ColumnElement[bool], now: int) -> int:
    return _rowcount(
        session.execute(
            update(Token)
            .where(which, Token.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session="fetch")
        )
    )


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _audit(
    session: Session,
    now: int,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any],
) -> None:
    """An audit row in the caller's transaction (append-only: migration 0002's triggers)."""
    session.add(AuditEvent(at=now, actor=actor, action=action, subject=subject, detail=detail))


def _utility_name() -> str:
    if has_app_context():
        return str(current_app.config.get("UTILITY_NAME") or "your utility")
    return "your utility"


def _portal_link() -> str | None:
    if has_app_context():
        return f"{current_app.config['ISSUER']}/portal/authorizations"
    return None
