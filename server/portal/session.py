"""The signed-in customer (Flask's signed session cookie; HttpOnly, SameSite=Lax)."""

from __future__ import annotations

from flask import session

from ..security import now
from ..storage import db
from ..storage.models import RetailCustomer


def sign_in(customer: RetailCustomer) -> None:
    session.clear()  # no session fixation: a fresh session for every sign-in
    session["customer_id"] = customer.id
    session["auth_time"] = now()


def current_customer() -> RetailCustomer | None:
    customer_id = session.get("customer_id")
    if customer_id is None:
        return None
    return db.session.get(RetailCustomer, customer_id)


def auth_time() -> int:
    return int(session.get("auth_time", now()))


def sign_out() -> None:
    session.clear()
