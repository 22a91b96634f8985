"""The admin commands that change something: a client's new secret, an outbox message sent
again or purged.  Each change writes its audit row in the same transaction (NFR24: who did
what, when), like ``espi-sst asp block`` and the lifecycle (``storage/rows.py:audit``).

Secret rotation has no grace period: RFC 6749 2.3.1 gives a client one password, Authlib's
client model checks one (``ClientMixin.check_client_secret``; ``oauth/adapters.py``), and
an operator rotates a secret most often because it leaked -- an old secret kept working
"for a while" would keep working for whoever holds it.  The new secret works, and the old
one is refused at the token, revocation and introspection endpoints, from the commit on.
Tokens already issued stay valid until they expire; refreshing one needs the new secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..outbox.queue import SEALED
from ..security import hash_secret, new_token
from ..storage.models import OutboxMessage
from ..storage.rows import audit
from .admin_views import application_by_client_id, outbox_message, outbox_state


class AdminRefusal(InvalidInput):
    """A change the command will not make (the message says why and what to do)."""

    code = "admin_refusal"


def rotate_client_secret(session: Session, client_id: str, *, actor: str, now: int) -> str:
    """A confidential client's new secret (returned once; only its hash is stored)."""
    application = application_by_client_id(session, client_id)
    if application.client_secret_hash is None:
        raise AdminRefusal(
            f"{client_id} is a public client: it has no secret to rotate (it proves itself "
            "with PKCE, RFC 7636)"
        )
    secret = new_token(32)
    application.client_secret_hash = hash_secret(secret)
    audit(
        session,
        now,
        actor,
        "client_secret_rotated",
        f"client:{client_id}",
        {"grace_seconds": 0},
    )
    return secret


@dataclass(frozen=True)
class OutboxChange:
    """What ``outbox retry`` / ``outbox purge`` did: the ids changed, and those left, why."""

    changed: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...] = ()


def _why_not_retry(message: OutboxMessage) -> str | None:
    state = outbox_state(message)
    if state == "delivered":
        return "it was delivered; nothing to send again"
    if state == "failed" and SEALED not in (message.payload or {}):
        return (
            "its body was purged when the worker gave up (a failed e-mail is not kept: it may "
            "carry a passcode, stale by now); nothing can be sent again"
        )
    return None


def _retry(session: Session, message: OutboxMessage, *, actor: str, now: int) -> None:
    previous = outbox_state(message)
    message.failed_at = None
    message.next_attempt_at = now
    message.attempts = 0  # a full set of tries with backoff, as for a new message
    audit(
        session,
        now,
        actor,
        "outbox_retried",
        f"outbox:{message.id}",
        {
            "kind": message.kind,
            "destination": message.destination,
            "previous_state": previous,
            "last_error": message.last_error,
        },
    )


def retry_message(session: Session, message_id: str, *, actor: str, now: int) -> OutboxChange:
    """Make one failed (given-up) or waiting message due now; the worker sends it next pass."""
    message = outbox_message(session, message_id)
    why = _why_not_retry(message)
    if why is not None:
        raise AdminRefusal(f"outbox message {message.id}: {why}")
    _retry(session, message, actor=actor, now=now)
    return OutboxChange((message.id,))


def retry_all_failed(session: Session, *, actor: str, now: int) -> OutboxChange:
    """Every given-up message that can be sent again (ASP notifications keep their body)."""
    failed = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.failed_at.is_not(None), OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
    ).all()
    changed: list[int] = []
    skipped: list[tuple[int, str]] = []
    for message in failed:
        why = _why_not_retry(message)
        if why is None:
            _retry(session, message, actor=actor, now=now)
            changed.append(message.id)
        else:
            skipped.append((message.id, why))
    return OutboxChange(tuple(changed), tuple(skipped))


def _purge(session: Session, message: OutboxMessage, *, actor: str, now: int) -> None:
    audit(
        session,
        now,
        actor,
        "outbox_purged",
        f"outbox:{message.id}",
        {
            "kind": message.kind,
            "destination": message.destination,
            "state": outbox_state(message),
            "attempts": message.attempts,
        },
    )
    session.delete(message)


def purge_message(
    session: Session, message_id: str, *, actor: str, now: int, force: bool = False
) -> OutboxChange:
    """Delete one message; one not delivered yet only with ``force`` (it would never be sent)."""
    message = outbox_message(session, message_id)
    state = outbox_state(message)
    if state != "delivered" and not force:
        raise AdminRefusal(
            f"outbox message {message.id} is {state}, not delivered: purging it means it is "
            "never sent; add --force if that is what you want"
        )
    _purge(session, message, actor=actor, now=now)
    return OutboxChange((message.id,))


def purge_delivered_before(session: Session, before: int, *, actor: str, now: int) -> OutboxChange:
    """Delete every message delivered before ``before`` (epoch seconds)."""
    delivered = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < before)
        .order_by(OutboxMessage.id)
    ).all()
    for message in delivered:
        _purge(session, message, actor=actor, now=now)
    return OutboxChange(tuple(message.id for message in delivered))


__all__ = [
    "AdminRefusal",
    "OutboxChange",
    "purge_delivered_before",
    "purge_message",
    "retry_all_failed",
    "retry_message",
    "rotate_client_secret",
]
