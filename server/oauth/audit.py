"""The audit log (NFR24): every grant, consent, revocation and security event is a row."""

from __future__ import annotations

from typing import Any

from ..security import now
from ..storage import db
from ..storage.models import AuditEvent


def record(
    actor: str, action: str, *, subject: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Add an audit event to the current transaction (the caller commits)."""
    db.session.add(AuditEvent(at=now(), actor=actor, action=action, subject=subject, detail=detail))
