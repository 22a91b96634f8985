"""The authorization lifecycle: how access ends, and which ASPs may ask for it.

Concept design 7.10 (customer offboarding): a grant ends on its end date, when the customer
revokes it in the portal, when the ASP revokes its refresh token (RFC 7009; ``revoked_by_asp``),
when a new consent for the same ASP and service agreements replaces it (``replaced``,
``lifecycle/replacement.py``), or
when the service agreement it shares is closed.  6.4.4-6.4.6
(ASP registration, offboarding, rejection): the central authority publishes the qualified
ASPs (read and applied by :mod:`server.registry`); a de-qualified ASP loses every customer's
access at once and its customers are told; this utility may also block an ASP on its own,
whatever the central list says.

Every change here is written to the append-only audit log (NFR24: who, what, when) in the
same transaction as the change, and the customer is e-mailed which ASP lost access to what,
and why (wording: ``lifecycle/_mail.py``).  No function commits: the caller owns the transaction, so
a change, its audit rows and its outbox e-mails commit together or not at all.  Ending is
race-safe: an authorization is claimed with a conditional UPDATE (``status`` Active), so two
workers, or a sweep and a customer's click, never end one grant twice.

Qualification states (``Application.qualification``):

* ``qualified`` -- listed by the central authority; may ask for consent and tokens;
* ``pending`` -- not yet listed; may NOT ask yet (concept design 6.4: only qualified ASPs
  get consent, tokens or data): ``/oauth/authorize`` answers ``unauthorized_client``;
* ``suspended`` / ``dequalified`` -- the central authority withdrew it (6.4.5);
* ``blocked`` -- this utility's own decision (6.4.6); only ``espi-sst asp unblock`` lifts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from espi_sst.model.enums import AuthorizationStatus

from ..errors import InvalidInput
from ..sst.rate_change import cancel_with_grant
from ..storage.models import (
    Application,
    Authorization,
    PreAuthorization,
    RetailCustomer,
    Token,
)
from ..storage.rows import audit, revoke_tokens, rowcount
from . import notices
from ._mail import ENDED_BECAUSE, WITHDRAWN_BECAUSE, utility_name

ACTIVE = AuthorizationStatus.Active
ENDED = AuthorizationStatus.Revoked
"""ESPI AuthorizationStatus of a grant in force, and of one that ended (for any reason)."""
QUALIFICATIONS = frozenset({"qualified", "pending", "suspended", "dequalified", "blocked"})
USABLE = frozenset({"qualified"})
"""Qualifications that may ask for consent and tokens, and use them (concept design 6.4,
6.4.4: only ASPs the central authority lists as qualified; ``pending`` is not yet listed)."""
ENDED_REASONS = frozenset(ENDED_BECAUSE) | {"dequalified", "blocked"}
"""``Authorization.ended_reason``: one grant's own end, or its ASP's withdrawal."""
MAX_TEXT = 256  # Application.software_id / qualification_reason columns


class LifecycleError(InvalidInput):
    """A lifecycle request that cannot be done (unknown usage point, bad status ...)."""

    code = "lifecycle_error"


def may_request_consent(application: Application) -> bool:
    """Whether the ASP may ask customers for consent and the token endpoint for tokens."""
    return application.qualification in USABLE


def refusal_reason(application: Application) -> str:
    """Why an ASP that may not ask is refused, in words a customer understands."""
    why = WITHDRAWN_BECAUSE.get(application.qualification, "it is not registered for this service")
    return why.format(utility=utility_name())


# ---- ending one authorization --------------------------------------------------------------


def end_authorization(
    session: Session,
    authorization: Authorization,
    *,
    reason: str,
    actor: str,
    now: int,
    detail: dict[str, Any] | None = None,
    agreement: str | None = None,
) -> bool:
    """End a grant: status 0, ``ended_reason``, every token of it revoked, one audit row;
    its rate changes awaiting a passcode cancelled, all told (``sst/_grant_ended.py``).

    The customer is e-mailed which ASP lost access to what and why (7.10), unless the grant
    ends because its ASP was withdrawn (:func:`set_qualification` tells each customer once),
    and the ASP gets a BatchList naming the Authorization (7.5): ``notices.grant_ended``.

    Returns False (and changes nothing, tells no one) when the grant had already ended, e.g.
    a customer revoked it while a sweep was running.  ``detail`` goes into the audit row;
    ``agreement`` names the closed service agreement that ended it (``service_closed``).
    """
    ended = _end(
        session,
        authorization,
        reason=reason,
        actor=actor,
        now=now,
        detail=detail,
        agreement=agreement,
    )
    return ended is not None


def _end(
    session: Session,
    authorization: Authorization,
    *,
    reason: str,
    actor: str,
    now: int,
    detail: dict[str, Any] | None = None,
    agreement: str | None = None,
) -> int | None:
    """:func:`end_authorization`; the number of tokens revoked, None when already ended.

    ``agreement``: the closed service agreement that ended it (``service_closed``).
    """
    if reason not in ENDED_REASONS:
        raise LifecycleError(
            f"ended_reason {reason!r} is not one of {', '.join(sorted(ENDED_REASONS))}"
        )
    claimed = rowcount(
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
    revoked = revoke_tokens(session, Token.authorization_id == authorization.id, now)
    app = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
    cancelled = cancel_with_grant(app, session, authorization, reason=reason, now=now)  # issue 12
    told: dict[str, bool] = {}
    if reason in ENDED_BECAUSE:  # only after the claim: one e-mail per grant, never two
        told["customer_notified"] = notices.grant_ended(
            session, authorization, reason=reason, now=now, agreement=agreement
        )
    # (An ASP's withdrawal tells them once for all its grants: notices.asp_withdrawn.)
    audit(
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
            **({"rate_changes_cancelled": cancelled} if cancelled else {}),
            **told,
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
    and queue one e-mail to each affected customer.  ``qualified`` lets it ask again
    (``pending``: once the registry lists it); grants that ended stay ended (customers
    onboard again, 6.4.5).

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
    previous, subject = application.qualification, f"client:{application.client_id}"
    changed = {
        "from": previous,
        "to": status,
        "reason": reason,
        "software_id": application.software_id,
        "source": source,
    }
    if previous != status:
        application.qualification = status
        application.qualification_reason = reason
        application.qualification_changed_at = now
    if status in USABLE or status == "pending":
        # pending: not yet listed -- reached from registration, or from a lifted block whose
        # grants and tokens ended with the block; nothing of it is usable (USABLE) either way.
        if previous != status:
            audit(session, now, actor, "asp_qualification_changed", subject, changed)
        return QualificationChange(application.client_id, previous, status)

    ended_reason = "blocked" if status == "blocked" else "dequalified"
    grants = session.scalars(
        select(Authorization)
        .where(Authorization.application_id == application.id, Authorization.status == ACTIVE)
        .order_by(Authorization.id)
    ).all()
    ended = tokens = 0
    customers: dict[int, RetailCustomer] = {}
    ended_grants: list[Authorization] = []
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
        ended_grants.append(grant)
        if grant.customer is not None:
            customers[grant.customer.id] = grant.customer
    # Every token of the client: customer tokens of grants already ended and its own
    # client_credentials tokens (authorization_id NULL) -- the whole ASP is cut off at once.
    tokens += revoke_tokens(session, Token.client_id == application.client_id, now)
    withdrawn = rowcount(
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
    notified, unreachable = notices.asp_withdrawn(
        session,
        application,
        ended_grants,
        list(customers.values()),
        status=status,
        reason=reason,
        now=now,
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
        audit(session, now, actor, "asp_qualification_changed", subject, changed | counts)
    elif ended or tokens or withdrawn:
        audit(session, now, actor, "asp_access_swept", subject, counts)
    return change
