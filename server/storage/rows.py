"""Row-level writes every part of the server shares (NFR24; concept design 7.10).

The one way to write an audit row (was three helpers and seven inline ``AuditEvent(...)``),
token revocation by condition, and the row count of a conditional UPDATE (how a change is
claimed race-safely).  Nothing here commits.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.orm import Session

from .models import AuditEvent, Token


def audit(
    session: Session,
    at: int,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An audit row in the caller's transaction (append-only: migration 0002's triggers).

    Args:
        at: epoch seconds.
        actor: who did it (``customer:UUID``, ``client:ID``, ``operator:NAME``, ``system``).
        action: what happened, a stable name (``consent_granted``, ``outbox_gave_up``, ...).
        subject: what it happened to (``client:ID``, ``rate_change_request:UUID``, ...).
        detail: the facts worth keeping, as JSON.
    """
    session.add(AuditEvent(at=at, actor=actor, action=action, subject=subject, detail=detail))


def revoke_tokens(session: Session, which: ColumnElement[bool], now: int) -> int:
    """Revoke every live token matching ``which``; how many."""
    return rowcount(
        session.execute(
            update(Token)
            .where(which, Token.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session="fetch")
        )
    )


def rowcount(result: Any) -> int:
    """Rows an UPDATE matched (1: this caller claimed the row)."""
    return int(cast(CursorResult[Any], result).rowcount)
