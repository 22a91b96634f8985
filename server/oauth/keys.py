"""OpenID Connect signing keys: generated at first start, persisted, rotated, published as JWKS.

RS256 with 2048-bit RSA keys (OpenID Connect Core 10.1).  The active key signs id_tokens;
every key stays in the JWKS so tokens signed before a rotation still verify, until
:func:`retire` drops keys that stopped signing long enough ago (docs/deployment.md, "Key
rotation").  A relying party that meets an unknown ``kid`` fetches the JWKS again (OpenID
Connect Core 10.1.1); the new key is published the moment it becomes active.

What is cached, and why that is safe across processes.  Several processes share one
database (gunicorn workers, other app servers, the ``espi-sst rotate-signing-key``
command), and any of them may rotate.  So no process remembers *which* key is active: every
id_token re-reads the active row's ``kid`` (one narrow query on a table of a few rows), and
a rotation committed anywhere is used by the next id_token everywhere.  What is cached is
the cost: importing an RSA private key (~37 ms) happens once per ``kid`` per process, and a
``kid`` never changes meaning (it is the key's RFC 7638 thumbprint).  Within one database
transaction the choice is pinned, so an id_token's ``kid`` header and its signature come
from the same key even when a rotation commits between Authlib's two calls
(``get_encode_header`` and ``resolve_client_private_key``).
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import RSAKey
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from ..security import now as _now
from ..storage.models import SigningKey
from ..storage.rows import audit

ALGORITHM = "RS256"

_ACTIVE = (
    select(SigningKey).where(SigningKey.active.is_(True)).order_by(SigningKey.id.desc()).limit(1)
)
_ACTIVE_KID = (
    select(SigningKey.kid)
    .where(SigningKey.active.is_(True))
    .order_by(SigningKey.id.desc())
    .limit(1)
)
_PIN = "espi_sst.signing_key"  # session.info: (transaction, kid, key)
_IMPORTED: dict[str, RSAKey] = {}


def _new_key(moment: int) -> SigningKey:
    key = RSAKey.generate_key(2048)
    kid = key.thumbprint()
    private = dict(key.as_dict(private=True))
    private.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    _IMPORTED[kid] = key
    return SigningKey(kid=kid, private_jwk=private, created_at=moment, active=True)


def active_key(session: Session) -> SigningKey:
    """The signing key, created (and committed) on first use.

    Two rows marked active (two rotations racing) are harmless: the newest signs.
    """
    row = session.scalar(_ACTIVE)
    if row is not None:
        return row
    row = _new_key(_now())
    session.add(row)
    session.commit()
    return row


def _imported(kid: str, private_jwk: dict[str, Any]) -> RSAKey:
    """Importing an RSA private key costs ~37 ms: once per key per process."""
    key = _IMPORTED.get(kid)
    if key is None:
        key = _IMPORTED[kid] = RSAKey.import_key(private_jwk)
    return key


def signing_key(session: Session) -> tuple[str, RSAKey]:
    """The active key's id and its (cached) imported private key, pinned per transaction."""
    pinned = session.info.get(_PIN)
    if pinned is not None and pinned[0] is not None and pinned[0] is session.get_transaction():
        return pinned[1], pinned[2]
    kid = session.scalar(_ACTIVE_KID)
    key = _IMPORTED.get(kid) if kid is not None else None
    if kid is None or key is None:  # first start, or a key new to this process
        row = active_key(session)
        kid, key = row.kid, _imported(row.kid, row.private_jwk)
    session.info[_PIN] = (session.get_transaction(), kid, key)
    return kid, key


def jwks(session: Session) -> dict[str, Any]:
    """The public keys (no private parts), for ``/jwks.json``."""
    active_key(session)
    keys = []
    for row in session.scalars(select(SigningKey).order_by(SigningKey.id)):
        public = dict(_imported(row.kid, row.private_jwk).as_dict(private=False))
        public.update({"kid": row.kid, "use": "sig", "alg": ALGORITHM})
        keys.append(public)
    return {"keys": keys}


def rotate(session: Session, *, now: int, actor: str = "system") -> SigningKey:
    """A new active key; the previous ones stop signing but stay published.

    Adds the new row and an audit event to the caller's transaction (the caller commits).
    When the previous key stopped signing is the new key's ``created_at`` (:func:`retire`).
    """
    previous = list(session.scalars(select(SigningKey.kid).where(SigningKey.active.is_(True))))
    session.execute(update(SigningKey).where(SigningKey.active.is_(True)).values(active=False))
    row = _new_key(now)
    session.add(row)
    audit(
        session,
        at=now,
        actor=actor,
        action="signing_key_rotated",
        subject=row.kid,
        detail={"previous": previous},
    )
    session.flush()
    session.info.pop(_PIN, None)
    return row


def retire(session: Session, *, older_than_seconds: int, now: int, actor: str = "system") -> int:
    """Drop from the JWKS the inactive keys that stopped signing over ``older_than_seconds`` ago.

    A key stopped signing when the next key was created (``rotate``), not when it was
    itself created: measured from its own ``created_at``, a key used for a year and
    rotated out a minute ago would go at once, taking every live id_token with it.  Give
    more than ``ID_TOKEN_SECONDS`` (the command refuses less), so an id_token signed just
    before the rotation expires before its key leaves the JWKS.  A key marked active is
    never deleted, nor one with no successor.  Returns how many rows were deleted, in the
    caller's transaction (the caller commits).
    """
    if older_than_seconds < 0:
        raise ValueError(f"older_than_seconds must not be negative, got {older_than_seconds}")
    successor = aliased(SigningKey)
    stopped = (
        select(func.min(successor.created_at)).where(successor.id > SigningKey.id).scalar_subquery()
    )
    doomed = list(
        session.execute(
            select(SigningKey.id, SigningKey.kid).where(
                SigningKey.active.is_(False), stopped <= now - older_than_seconds
            )
        )
    )
    if not doomed:
        return 0
    session.execute(delete(SigningKey).where(SigningKey.id.in_([row.id for row in doomed])))
    kids = [row.kid for row in doomed]
    audit(
        session,
        at=now,
        actor=actor,
        action="signing_keys_retired",
        subject=None,
        detail={"kids": kids, "older_than_seconds": older_than_seconds},
    )
    for kid in kids:  # other processes keep theirs until they exit: a few KB per rotation
        _IMPORTED.pop(kid, None)
    return len(doomed)
