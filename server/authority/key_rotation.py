"""Rotating the authority's signing key in two steps without breaking an entity
(docs/central-authority.md, "Rotating the signing key").

Every entity verifies the list with a key set it pinned (``REGISTRY_JWKS_FILE``) and finds the
key by the JWS header's ``kid`` (RFC 7515 section 4.1.4; RFC 7517 section 5: a set may hold
several keys).  A new key must therefore be in every entity's pinned set *before* it signs:

1. :func:`prepare_key`: a new key, published in ``/.well-known/jwks.json`` at once, not used;
2. the operator distributes the new key set to every entity and waits;
3. :func:`activate_key`: refused until the key was prepared ``AUTHORITY_KEY_PREPARE_HOURS``
   ago (unless forced); signing switches to it and a new list is published with it at once;
4. :func:`retire_key`: the old key leaves the key set once no fresh list is signed with it.

An entity that did not re-pin refuses every list signed by the new key (``registry_unknown_key``)
and keeps the list it applied last, until that list goes stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..security import now as current_time
from .errors import KeyRotationRefused
from .keys import active_row, key_rows, signed_by, signing_key, state_of
from .models import Publication, SigningKey
from .publishing import latest_publication, publish, rfc3339
from .signed_list import key_from_jwk, new_signing_key, private_jwk

PUBLISH_ATTEMPTS = 3  # a running authority may take the next sequence first (refresh_if_stale)


@dataclass(frozen=True)
class KeyListing:
    """One key as ``espi-sst authority keys list`` shows it."""

    kid: str
    created: str
    activated: str | None
    retired: str | None
    state: str  # keys.KEY_STATES
    signs_current_list: bool  # the newest publication carries this kid

    def as_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "created": self.created,
            "activated": self.activated,
            "retired": self.retired,
            "state": self.state,
            "signs_current_list": self.signs_current_list,
        }


def describe_keys(session: Session) -> list[KeyListing]:
    """Every key, newest first, with its state and whether the newest list is signed by it."""
    signing_key(session)  # the first key exists once the authority has started
    active = active_row(session)
    latest = latest_publication(session)
    current = signed_by(latest.jws) if latest is not None else None
    return [
        KeyListing(
            kid=row.kid,
            created=rfc3339(row.created_at),
            activated=rfc3339(row.activated_at) if row.activated_at is not None else None,
            retired=rfc3339(row.retired_at) if row.retired_at is not None else None,
            state=state_of(row, active),
            signs_current_list=row.kid == current,
        )
        for row in key_rows(session)
    ]


def prepare_key(session: Session, *, now: int | None = None) -> SigningKey:
    """A new key, published in the key set from now on and not used to sign (committed)."""
    signing_key(session)  # the key in use exists first, so the new one is the next
    key = new_signing_key()
    row = SigningKey(
        kid=str(key.kid), private_jwk=private_jwk(key), created_at=now or current_time()
    )
    session.add(row)
    session.commit()
    return row


def _row(session: Session, kid: str) -> SigningKey:
    row = session.get(SigningKey, kid)
    if row is None:
        raise KeyRotationRefused(
            f"no key {kid!r} at this authority; `espi-sst authority keys list` shows them",
            code="key_unknown",
        )
    return row


def activate_key(
    session: Session,
    settings: dict[str, Any],
    kid: str,
    *,
    force: bool = False,
    now: int | None = None,
) -> Publication | None:
    """Sign with ``kid`` from now on and publish the list again with it at once (one
    transaction, committed).  Returns that publication, or None when no list was ever
    published (the first one will be signed with the key).

    Raises:
        KeyRotationRefused: the key is unknown, retired or already active, or was prepared
            less than ``AUTHORITY_KEY_PREPARE_HOURS`` ago and ``force`` is not given, or
            ``settings`` name another issuer or terms version than the current list.
    """
    moment = now or current_time()
    for attempt in range(PUBLISH_ATTEMPTS):
        row = _row(session, kid)
        state = state_of(row, active_row(session))
        if state == "retired":
            raise KeyRotationRefused(
                f"key {kid} is retired: it is no longer in the key set entities pin, so they "
                "would refuse every list it signed; prepare a new key instead",
                code="key_retired",
            )
        if state == "active":
            raise KeyRotationRefused(f"key {kid} is already the active key", code="key_active")
        wait = settings["AUTHORITY_KEY_PREPARE_HOURS"] * 3600
        if not force and moment - row.created_at < wait:
            raise KeyRotationRefused(
                f"key {kid} was prepared at {rfc3339(row.created_at)}, less than "
                f"{settings['AUTHORITY_KEY_PREPARE_HOURS']} h ago "
                "(ESPI_AUTHORITY_KEY_PREPARE_HOURS): every entity must first have re-pinned "
                "the key set with it in its REGISTRY_JWKS_FILE, or it refuses every list "
                "signed with it (registry_unknown_key). Activate it after "
                f"{rfc3339(row.created_at + wait)}, or add --force once every entity has "
                "re-pinned",
                code="key_too_new",
            )
        latest = latest_publication(session)
        if latest is not None:
            _same_settings_as(latest, settings)
        row.activated_at = moment
        session.flush()
        if latest is None:
            session.commit()
            return None
        try:
            publication = publish(session, settings)
            session.commit()
        except IntegrityError:  # a running authority published this sequence first
            session.rollback()
            if attempt + 1 == PUBLISH_ATTEMPTS:
                raise
            continue
        return publication
    raise AssertionError("unreachable")  # pragma: no cover


def _same_settings_as(latest: Publication, settings: dict[str, Any]) -> None:
    """Refuse to publish from a command run without the authority's own settings: a list with
    another ``issuer`` is refused by every entity (registry_wrong_issuer), and one with
    another ``terms_version`` would tell every entity the wrong terms are in force."""
    for field, key, variable in (
        ("issuer", "AUTHORITY_ISSUER", "ESPI_AUTHORITY_ISSUER"),
        ("terms_version", "AUTHORITY_TERMS_VERSION", "ESPI_AUTHORITY_TERMS_VERSION"),
    ):
        if latest.payload.get(field) != settings[key]:
            raise KeyRotationRefused(
                f"{variable} is {settings[key]!r} here, but the current list's {field} is "
                f"{latest.payload.get(field)!r}: run this command with the authority's own "
                "settings (activating publishes the list again)",
                code="key_settings_differ",
            )


def retire_key(
    session: Session, kid: str, *, force: bool = False, now: int | None = None
) -> SigningKey:
    """Take ``kid`` out of the published key set for good (committed).  Its private half is
    erased, so a retired key can never sign again; the public half stays as a record.

    Raises:
        KeyRotationRefused: the key is unknown, already retired, the active key, or signed
            the newest list; or signed a list that has not expired yet (``force`` overrides
            only this last one: a compromised key must leave at once).
    """
    moment = now or current_time()
    row = _row(session, kid)
    active = active_row(session)
    state = state_of(row, active)
    if state == "retired":
        raise KeyRotationRefused(f"key {kid} is already retired", code="key_retired")
    if state == "active":
        raise KeyRotationRefused(
            f"key {kid} is the active key: every new list is signed with it. Prepare another "
            "key, distribute the key set, activate the new key, then retire this one",
            code="key_active",
        )
    latest = latest_publication(session)
    if latest is not None and signed_by(latest.jws) == kid:
        raise KeyRotationRefused(
            f"the newest list (sequence {latest.sequence}) is signed with key {kid}: every "
            "entity would refuse it; activate another key first (it publishes a new list)",
            code="key_signs_current_list",
        )
    fresh = [
        publication
        for publication in session.scalars(
            select(Publication)
            .where(Publication.expires_at > moment)
            .order_by(Publication.sequence)
        )
        if signed_by(publication.jws) == kid
    ]
    if fresh and not force:
        until = max(publication.expires_at for publication in fresh)
        raise KeyRotationRefused(
            f"key {kid} signed lists that have not expired yet (sequence "
            f"{fresh[0].sequence} to {fresh[-1].sequence}, the last until {rfc3339(until)}): "
            "an entity or a mirror holding one must still be able to verify it. Retire it "
            "after that, or add --force if the key is compromised",
            code="key_signs_fresh_list",
        )
    public = key_from_jwk(dict(row.private_jwk))
    row.private_jwk = {**dict(public.as_dict(private=False)), "kid": row.kid}
    row.retired_at = moment
    session.commit()
    return row
