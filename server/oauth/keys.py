"""OpenID Connect signing keys: generated at first start, persisted, published as JWKS.

RS256 with 2048-bit RSA keys.  The active key signs id_tokens; every key stays in the JWKS
so tokens signed before a rotation still verify.
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..security import now
from ..storage.models import SigningKey

ALGORITHM = "RS256"


def active_key(session: Session) -> SigningKey:
    """The signing key, created (and committed) on first use."""
    row = session.scalar(
        select(SigningKey).where(SigningKey.active.is_(True)).order_by(SigningKey.id.desc())
    )
    if row is not None:
        return row
    key = RSAKey.generate_key(2048)
    kid = key.thumbprint()
    private = dict(key.as_dict(private=True))
    private.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    row = SigningKey(kid=kid, private_jwk=private, created_at=now(), active=True)
    session.add(row)
    session.commit()
    return row


_IMPORTED: dict[str, RSAKey] = {}


def _imported(kid: str, private_jwk: dict[str, Any]) -> RSAKey:
    """Importing an RSA private key costs ~37 ms: once per key per process."""
    key = _IMPORTED.get(kid)
    if key is None:
        key = _IMPORTED[kid] = RSAKey.import_key(private_jwk)
    return key


def signing_key(session: Session) -> tuple[str, RSAKey]:
    """The active key's id and its (cached) imported private key."""
    row = active_key(session)
    return row.kid, _imported(row.kid, row.private_jwk)


def jwks(session: Session) -> dict[str, Any]:
    """The public keys (no private parts), for ``/jwks.json``."""
    active_key(session)
    keys = []
    for row in session.scalars(select(SigningKey).order_by(SigningKey.id)):
        public = dict(_imported(row.kid, row.private_jwk).as_dict(private=False))
        public.update({"kid": row.kid, "use": "sig", "alg": ALGORITHM})
        keys.append(public)
    return {"keys": keys}
