"""The authority's signing key: ES256 (RFC 7518 section 3.4), generated at first start and kept
in the database (``authority_signing_keys``) so every worker and every restart signs with the
same ``kid`` the entities pinned from ``/.well-known/jwks.json``."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..security import now
from .models import SigningKey


def signing_key(session: Session) -> dict[str, Any]:
    """The newest private JWK; one is generated (and committed) when there is none."""
    row = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).first()
    if row is None:
        key = ECKey.generate_key("P-256", private=True)
        jwk = key.as_dict(private=True)
        jwk["kid"] = key.thumbprint()  # RFC 7638: stable, derived from the key itself
        row = SigningKey(kid=jwk["kid"], private_jwk=jwk, created_at=now())
        session.add(row)
        session.commit()
    return dict(row.private_jwk)


def all_keys(session: Session) -> list[dict[str, Any]]:
    """Every key, newest first (an old key stays published while lists it signed are fresh)."""
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()))
    return [dict(row.private_jwk) for row in rows]
