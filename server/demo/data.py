"""What a seed produced: the demo customers and clients, with their credentials in clear.

The demo prints these and writes ``demo.json`` (``DemoData.as_json``) for its ASP and its
browser; the database itself holds only the argon2 password hashes and the SHA-256 client
secret hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DemoCustomer:
    username: str
    password: str  # in clear, for the demo to print; the database has only the argon2 hash
    kind: str  # the main kind: bundled | unbundled | gas | solar
    kinds: tuple[str, ...]
    display_name: str
    uuid: str
    usage_point_uuids: tuple[str, ...]
    email: str = ""  # where the demo utility's mail goes (shown at /demo/inbox)
    phone: str = ""  # E.164; where text messages go (shown at /demo/sms)
    passcode_channel: str = "email"  # where rate-change passcodes go: email | sms


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    client_secret: str | None  # in clear; None for a public client
    redirect_uris: tuple[str, ...]
    name: str
    qualification: str
    asp_class: str = "rate-change"  # data-only | rate-change (concept design 6.4.2)


@dataclass(frozen=True)
class DemoData:
    """What was seeded, with the credentials the demo prints and ``demo.json`` carries."""

    seed: int
    history_start: int  # epoch seconds of the first reading
    history_end: int  # epoch seconds just after the last reading (local midnight)
    customers: tuple[DemoCustomer, ...]
    clients: tuple[DemoClient, ...]

    def customer(self, kind: str) -> DemoCustomer:
        """The first customer of ``kind`` (bundled, unbundled, gas, solar)."""
        for customer in self.customers:
            if kind in customer.kinds:
                return customer
        raise KeyError(kind)

    def as_json(self, base_url: str, issuer: str) -> dict[str, Any]:
        """The ``demo.json`` document: where the server is and how to sign in to it."""
        return {
            "base_url": base_url,
            "issuer": issuer,
            "customers": [
                {
                    "username": c.username,
                    "password": c.password,
                    "kind": c.kind,
                    "kinds": list(c.kinds),
                    "display_name": c.display_name,
                    "email": c.email,
                    "phone": c.phone or None,
                    "passcode_channel": c.passcode_channel,
                    "usage_points": list(c.usage_point_uuids),
                }
                for c in self.customers
            ],
            "clients": [
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "redirect_uris": list(c.redirect_uris),
                    "name": c.name,
                    "qualification": c.qualification,
                    "class": c.asp_class,
                }
                for c in self.clients
            ],
        }
