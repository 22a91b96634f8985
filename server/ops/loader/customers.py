"""``customers.csv``: the retail customers who sign in (``retail_customer``), by user name.

Columns: ``username`` (the sign-in name the identity source knows; the natural key),
``display_name``; optional ``uuid`` (the customer's ESPI RetailCustomer id; default derived
from the user name, so it is stable), ``email`` (where passcodes and notices go),
``service_address``, ``password_hash`` (an argon2 hash from the utility's directory, never a
password; empty: the built-in sign-in refuses the customer, for utilities whose
IDENTITY_SOURCE is their own directory).  docs/operations.md has the full table."""

from __future__ import annotations

from collections.abc import Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...storage.models import RetailCustomer
from . import values
from .csv_rows import Row
from .kinds import LoadContext, NothingStaged, Outcome, assign, derived_uuid
from .problems import RowError

NO_PASSWORD = "!"
"""A password hash nothing verifies against (as bolt-on mode's shadow customers have)."""


class Customers(NothingStaged):
    name = "customers"
    required = ("username", "display_name")
    optional = ("uuid", "email", "service_address", "password_hash")
    key_column = "username"

    def key(self, row: Row) -> Hashable:
        return values.required_text(row, "username", limit=120)

    def apply(self, session: Session, row: Row, context: LoadContext) -> Outcome:
        username = values.required_text(row, "username", limit=120)
        given_uuid = values.a_uuid(row, "uuid") if row["uuid"] else None
        email = values.text(row, "email", limit=254, required=False)
        if email is not None and ("@" not in email or " " in email):
            raise RowError("email", f"{email!r} is not an e-mail address (name@example.com)")
        password_hash = row["password_hash"] or None
        if password_hash is not None and not password_hash.startswith("$argon2"):
            raise RowError(
                "password_hash",
                "not an argon2 hash ($argon2id$...); give the hash your directory holds, never "
                "a password, or leave it empty",
            )
        fields = {
            "display_name": values.required_text(row, "display_name", limit=200),
            "email": email,
            "service_address": values.text(row, "service_address", limit=300, required=False),
        }
        found = session.scalar(select(RetailCustomer).where(RetailCustomer.username == username))
        if found is not None:
            if given_uuid is not None and given_uuid != found.uuid:
                raise RowError(
                    "uuid",
                    f"customer {username!r} has uuid {found.uuid}; a customer's uuid never "
                    "changes (grants and ASPs know it): leave the column empty or give that one",
                )
            if password_hash is not None:
                fields["password_hash"] = password_hash
            return "updated" if assign(found, fields) else "unchanged"
        customer_uuid = given_uuid or derived_uuid("customer", username)
        owner = session.scalar(
            select(RetailCustomer.username).where(RetailCustomer.uuid == customer_uuid)
        )
        if owner is not None:
            raise RowError("uuid", f"{customer_uuid} is already customer {owner!r}'s uuid")
        session.add(
            RetailCustomer(
                uuid=customer_uuid,
                username=username,
                password_hash=password_hash or NO_PASSWORD,
                created_at=context.now,
                **fields,
            )
        )
        return "inserted"
