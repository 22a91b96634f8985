"""``accounts.csv``: customers' billing accounts (``customer_account``), by account number.

Columns: ``account_number`` (the CIS's number; the natural key), ``customer`` (the
customer's ``username``, loaded before); optional ``title``.  An account row naming another
customer than before moves the account (a transfer of service)."""

from __future__ import annotations

from collections.abc import Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...storage.models import CustomerAccount, RetailCustomer
from . import values
from .csv_rows import Row
from .kinds import LoadContext, NothingStaged, Outcome, upserted
from .problems import RowError


class Accounts(NothingStaged):
    name = "accounts"
    required = ("account_number", "customer")
    optional = ("title",)
    key_column = "account_number"

    def key(self, row: Row) -> Hashable:
        return values.required_text(row, "account_number", limit=64)

    def apply(self, session: Session, row: Row, context: LoadContext) -> Outcome:
        number = values.required_text(row, "account_number", limit=64)
        username = values.required_text(row, "customer", limit=120)
        customer_id = session.scalar(
            select(RetailCustomer.id).where(RetailCustomer.username == username)
        )
        if customer_id is None:
            raise RowError(
                "customer",
                f"no customer {username!r}; load it first (espi-sst load customers), or fix "
                "the user name",
            )
        found = session.scalar(
            select(CustomerAccount).where(CustomerAccount.account_number == number)
        )
        fields: dict[str, object] = {
            "customer_id": customer_id,
            "title": values.text(row, "title", limit=200, required=False),
        }
        if found is None:
            fields.update(account_number=number, created_at=context.now)
        return upserted(session, found, CustomerAccount, fields)
