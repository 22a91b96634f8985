"""Who the customer is: a pluggable identity source, built-in by default.

A utility plugs in its own customer directory by implementing :class:`IdentitySource`
(config ``IDENTITY_SOURCE``); the built-in one checks the ``retail_customer`` table
(argon2 password hashes, optional TOTP second factor with pyotp).  The customer types a
password only here, on the utility's page -- never into an ASP (RFC 9700 2.4; the concept
design's section 8 step 3 is superseded).
"""

from __future__ import annotations

from typing import Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from ..storage import db
from ..storage.models import RetailCustomer

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("timing-equaliser")


class IdentitySource(Protocol):
    def authenticate(self, username: str, password: str) -> RetailCustomer | None: ...

    def needs_second_factor(self, customer: RetailCustomer) -> bool: ...

    def verify_second_factor(self, customer: RetailCustomer, code: str) -> bool: ...


class TableIdentitySource:
    """Customers of the ``retail_customer`` table."""

    def authenticate(self, username: str, password: str) -> RetailCustomer | None:
        customer = db.session.scalar(
            select(RetailCustomer).where(RetailCustomer.username == username)
        )
        stored = customer.password_hash if customer is not None else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)  # same work for unknown users: no timing oracle
        except (VerificationError, InvalidHashError):
            return None
        return customer

    def needs_second_factor(self, customer: RetailCustomer) -> bool:
        return bool(customer.totp_secret)

    def verify_second_factor(self, customer: RetailCustomer, code: str) -> bool:
        if not customer.totp_secret:
            return False
        return bool(pyotp.TOTP(customer.totp_secret).verify(code.strip(), valid_window=1))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)
