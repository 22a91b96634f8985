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
from pyotp.utils import strings_equal
from sqlalchemy import or_, select, update

from ..security import now
from ..storage import db
from ..storage.models import RetailCustomer
from ..storage.rows import rowcount

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("timing-equaliser")
TOTP_WINDOW_STEPS = 1
"""Codes of the previous and next 30-second step pass too (clock drift, RFC 6238 5.2)."""


class IdentitySource(Protocol):
    """A customer directory.

    ``verify_second_factor`` must accept a code once only (RFC 6238 5.2: "the verifier
    MUST NOT accept the second attempt of the OTP after the successful validation has been
    issued for the first OTP"), race-safely; the built-in source shows how.

    Optionally, ``account_of(username)`` names the customer a user name belongs to without
    checking a password: failed sign-ins of known accounts are then audited under the
    customer, and their owner is told of guessing bursts.  Without it, failures are audited
    under a keyed hash of the typed name and nobody is e-mailed.
    """

    def authenticate(self, username: str, password: str) -> RetailCustomer | None: ...

    def needs_second_factor(self, customer: RetailCustomer) -> bool: ...

    def verify_second_factor(self, customer: RetailCustomer, code: str) -> bool: ...


class TableIdentitySource:
    """Customers of the ``retail_customer`` table."""

    def account_of(self, username: str) -> RetailCustomer | None:
        return db.session.scalar(select(RetailCustomer).where(RetailCustomer.username == username))

    def authenticate(self, username: str, password: str) -> RetailCustomer | None:
        customer = self.account_of(username)
        stored = customer.password_hash if customer is not None else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)  # same work for unknown users: no timing oracle
        except (VerificationError, InvalidHashError):
            return None
        return customer

    def needs_second_factor(self, customer: RetailCustomer) -> bool:
        return bool(customer.totp_secret)

    def verify_second_factor(self, customer: RetailCustomer, code: str) -> bool:
        """The code of a step within the window, later than the last step accepted.

        Issue 11, item 8: a code was good twice within its step.  The step is claimed with
        a conditional UPDATE (``totp_last_step`` NULL or earlier): of two parallel
        submissions of one code, the database lets one through.  The claim is in the
        caller's transaction; signing in commits it.
        """
        if not customer.totp_secret:
            return False
        totp = pyotp.TOTP(customer.totp_secret)
        current = totp.timecode(now())
        typed = code.strip()
        matched = [
            step
            for step in range(current - TOTP_WINDOW_STEPS, current + TOTP_WINDOW_STEPS + 1)
            if strings_equal(typed, totp.generate_otp(step))  # every step: constant work
        ]
        if not matched:
            return False
        step = max(matched)
        claimed = db.session.execute(
            update(RetailCustomer)
            .where(
                RetailCustomer.id == customer.id,
                or_(RetailCustomer.totp_last_step.is_(None), RetailCustomer.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        return rowcount(claimed) == 1


def hash_password(password: str) -> str:
    return _HASHER.hash(password)
