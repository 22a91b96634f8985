"""Row-level writes the lifecycle and the registry share (NFR24; concept design 7.10).

An audit row in the caller's transaction, token revocation by condition, and the row
count of a conditional UPDATE (how a change is claimed race-safely).  Nothing here commits.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.orm import Session

from ..storage.models import AuditEvent, Token


def audit(
    session: Session, now: int, actor: str, action: str, subject: str, detail: dict[str, Any]
) -> None:
    """An audit row in the caller's transaction (append-only: migration 0002's triggers)."""
    session.add(AuditEvent(at=now, actor=actor, action=action, subject=subject, detail=detail))


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
