"""The authority's signing key: ES256 (RFC 7518 section 3.4), generated at first start and kept
in the database (``authority_signing_keys``) so every worker and every restart signs with the
same ``kid`` the entities pinned from ``/.well-known/jwks.json``."""

from __future__ import annotations

from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..security import now
from .models import SigningKey
from .signed_list import key_from_jwk, new_signing_key, private_jwk


def signing_key(session: Session) -> ECKey:
    """The newest private key; one is generated (and committed) when there is none."""
    row = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).first()
    if row is None:
        key = new_signing_key()
        row = SigningKey(kid=str(key.kid), private_jwk=private_jwk(key), created_at=now())
        session.add(row)
        session.commit()
    return key_from_jwk(dict(row.private_jwk))


def all_keys(session: Session) -> list[ECKey]:
    """Every key, newest first (an old key stays published while lists it signed are fresh)."""
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()))
    return [key_from_jwk(dict(row.private_jwk)) for row in rows]
