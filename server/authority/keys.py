"""The authority's signing keys: ES256 (RFC 7518 section 3.4), kept in the database
(``authority_signing_keys``) so every worker and every restart signs with the same ``kid`` the
entities pinned from ``/.well-known/jwks.json``.

A key's state follows from its row (key_rotation.py moves it along; docs/central-authority.md,
"Rotating the signing key"):

* ``prepared``: published in the key set, never used to sign (``activated_at`` unset);
* ``active``: signs every new list (the published key activated last);
* ``previous``: activated once, replaced since; still published, so a list it signed verifies;
* ``retired``: no longer published (``retired_at`` set); a list it signed is refused.

The first key is generated and activated at first start.
"""

from __future__ import annotations

import base64
import json

from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..security import now
from .models import SigningKey
from .signed_list import key_from_jwk, new_signing_key, private_jwk

KEY_STATES = ("prepared", "active", "previous", "retired")


def active_row(session: Session) -> SigningKey | None:
    """The published key activated last, or None before the first start."""
    return session.scalars(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None), SigningKey.activated_at.is_not(None))
        .order_by(SigningKey.activated_at.desc(), SigningKey.created_at.desc())
    ).first()


def signing_key(session: Session) -> ECKey:
    """The active private key; the first one is generated, activated and committed when the
    authority has none (first start)."""
    row = active_row(session)
    if row is None:
        key = new_signing_key()
        moment = now()
        row = SigningKey(
            kid=str(key.kid), private_jwk=private_jwk(key), created_at=moment, activated_at=moment
        )
        session.add(row)
        session.commit()
    return key_from_jwk(dict(row.private_jwk))


def key_rows(session: Session) -> list[SigningKey]:
    """Every key the authority ever had, retired ones too, newest first."""
    return list(session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))


def state_of(row: SigningKey, active: SigningKey | None) -> str:
    """One of :data:`KEY_STATES` (``active`` is :func:`active_row`)."""
    if row.retired_at is not None:
        return "retired"
    if row.activated_at is None:
        return "prepared"
    return "active" if active is not None and row.kid == active.kid else "previous"


def all_keys(session: Session) -> list[ECKey]:
    """Every published key (prepared, active, previous), newest first: the JWK Set entities
    pin, so a prepared key is known to them before it signs anything."""
    return [
        key_from_jwk(dict(row.private_jwk)) for row in key_rows(session) if row.retired_at is None
    ]


def signed_by(compact_jws: str) -> str | None:
    """The ``kid`` in a compact JWS's protected header (RFC 7515 section 7.1); None if the
    header has none or cannot be read.  Read without verifying: the authority reads its own
    publications to see which key sealed them."""
    head = compact_jws.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None
