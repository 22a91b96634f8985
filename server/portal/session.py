"""The signed-in customer: a server-side session (``portal_session``) named by the cookie.

Why (issue 11, item 7): a signed cookie alone cannot be taken back -- a copy replayed after
sign-out stayed signed in for as long as its signature lasted (31 days).  So "signed in" is
a ``portal_session`` row; Flask's signed cookie (HttpOnly, SameSite=Lax, a browser-session
cookie) only carries its random id -- the database keeps the id's SHA-256 -- besides CSRF
and flow state.  The row, not the cookie, decides:

* sign-out ends the row: a copied cookie is worthless afterwards;
* every session has an absolute end (``PORTAL_SESSION_SECONDS`` after sign-in) and ends
  when unused for ``PORTAL_SESSION_IDLE_SECONDS`` (NIST SP 800-63B 7.2, OWASP Session
  Management: absolute and idle timeouts);
* signing in again replaces the browser's previous session (no session fixation).

The OAuth authorize view uses the four functions below; ``sign_in`` and ``sign_out``
commit (the session row must outlive the request whatever the caller does next).
"""

from __future__ import annotations

from flask import current_app, g, session
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..security import hash_secret, new_token, now
from ..storage import db
from ..storage.models import PortalSession, RetailCustomer

_SID = "sid"
_CUSTOMER = "customer_id"
_TOUCH_EVERY_SECONDS = 60
"""``last_seen_at`` moves at most once a minute: a write per page view buys nothing."""
_CACHE = "espi_portal_session"


def _lifetime() -> int:
    return int(current_app.config["PORTAL_SESSION_SECONDS"])


def _idle() -> int:
    return int(current_app.config["PORTAL_SESSION_IDLE_SECONDS"])


def _end(sid: object, reason: str, moment: int) -> None:
    """End the browser's session row, if it names one (the caller commits)."""
    if isinstance(sid, str) and sid:
        db.session.execute(
            update(PortalSession)
            .where(PortalSession.sid_hash == hash_secret(sid), PortalSession.ended_at.is_(None))
            .values(ended_at=moment, ended_reason=reason)
            .execution_options(synchronize_session=False)
        )


def sign_in(customer: RetailCustomer) -> None:
    """Sign this browser in as ``customer``: a new session row, its id in a fresh cookie.

    Commits (the caller's pending changes, such as its audit row, commit with it).  The
    customer's sessions that ended or expired are deleted here: the table holds live
    sessions and recent ones, not a history (the audit log is the history).
    """
    moment = now()
    _end(session.get(_SID), "replaced", moment)
    db.session.execute(
        delete(PortalSession)
        .where(
            PortalSession.customer_id == customer.id,
            or_(PortalSession.ended_at.is_not(None), PortalSession.expires_at <= moment),
        )
        .execution_options(synchronize_session=False)
    )
    sid = new_token(32)
    row = PortalSession(
        sid_hash=hash_secret(sid),
        customer_id=customer.id,
        auth_time=moment,
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + _lifetime(),
    )
    db.session.add(row)
    db.session.commit()
    session.clear()  # no session fixation: a fresh cookie for every sign-in
    session[_SID] = sid
    session[_CUSTOMER] = customer.id
    g.pop(_CACHE, None)


def _live_session() -> PortalSession | None:
    """The browser's session row if it is live now (not ended, not expired, not idle)."""
    if _CACHE in g:
        cached: PortalSession | None = g.get(_CACHE)
        return cached
    sid = session.get(_SID)
    row = None
    if isinstance(sid, str) and sid:
        row = db.session.scalar(
            select(PortalSession).where(PortalSession.sid_hash == hash_secret(sid))
        )
    moment = now()
    if (
        row is None
        or row.customer_id != session.get(_CUSTOMER)
        or row.ended_at is not None
        or row.expires_at <= moment
        or row.last_seen_at + _idle() <= moment
    ):
        row = None
    elif moment - row.last_seen_at >= _TOUCH_EVERY_SECONDS:
        _touch(row, moment)
    g.setdefault(_CACHE, row)
    return row


def _touch(row: PortalSession, moment: int) -> None:
    """Move the idle clock.  Committed at once when the caller has nothing pending (pages
    that only read commit nothing else); otherwise it commits with the caller's work."""
    pending = bool(db.session.new or db.session.dirty or db.session.deleted)
    db.session.execute(
        update(PortalSession)
        .where(PortalSession.id == row.id, PortalSession.ended_at.is_(None))
        .values(last_seen_at=moment)
        .execution_options(synchronize_session=False)
    )
    if not pending:
        db.session.commit()
    set_committed_value(row, "last_seen_at", moment)


def current_customer() -> RetailCustomer | None:
    """The signed-in customer, or None (no session, ended, expired or idle too long)."""
    row = _live_session()
    if row is None:
        return None
    return db.session.get(RetailCustomer, row.customer_id)


def auth_time() -> int:
    """When the signed-in customer authenticated (OIDC ``auth_time``); now if nobody is."""
    row = _live_session()
    return int(row.auth_time) if row is not None else now()


def sign_out() -> None:
    """End this browser's session on the server (commits) and clear its cookie."""
    _end(session.get(_SID), "signed_out", now())
    db.session.commit()
    session.clear()
    g.pop(_CACHE, None)
