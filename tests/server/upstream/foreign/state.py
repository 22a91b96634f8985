"""What the foreign custodian remembers: clients, customers' authorizations, opaque tokens.

Modelled on a GBC custodian's OAuth server (ESPI REQ.21 §6, RFC 6749): one authorization
per customer consent, each with its own Subscription; opaque random access tokens (1 hour)
and rotating refresh tokens; client-credentials tokens at the ASP level.  Revoking an
authorization (the customer at the custodian's portal) kills every token of it at once.
Ids are numeric strings, as PG&E's are.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ForeignCustomer:
    """A customer of the foreign custodian (nothing in it comes from espi-sst)."""

    username: str
    password: str
    email: str
    subject: str  # the custodian's opaque customer id (introspection ``sub``)
    usage_points: tuple[str, ...]  # the custodian's UsagePoint ids of this customer (electric)
    address: str


CUSTOMERS = (
    ForeignCustomer(
        username="maria.lopez",
        password="Sunny-Day-42",
        email="maria.lopez@example.com",
        subject="4410027731",
        usage_points=("6512034871", "6512034872"),  # the house and its detached ADU
        address="1452 Alameda de las Pulgas, Redwood City, CA 94061",
    ),
    ForeignCustomer(
        username="ken.tanaka",
        password="Fog-City-77",
        email="ken.tanaka@example.com",
        subject="4410031958",
        usage_points=("6512049930",),
        address="88 Dolores St Apt 3, San Francisco, CA 94103",
    ),
)


@dataclass
class Client:
    client_id: str
    client_secret: str | None  # None: a public client, PKCE required
    redirect_uris: list[str]
    scope: str
    application_id: str  # its ApplicationInformation id
    bulk_id: str  # its Batch/Bulk id (the client-credentials token's resourceURI)
    authorization_id: str  # its ASP-level Authorization (client credentials)
    issued_at: int


@dataclass
class Grant:
    """One customer consent: an Authorization with its Subscription."""

    authorization_id: str
    subscription_id: str
    client_id: str
    customer: ForeignCustomer
    usage_points: tuple[str, ...]
    scope: str
    created: int
    status: int = 1  # ESPI AuthorizationStatus: 1 active, 0 revoked


@dataclass
class Token:
    value: str
    client_id: str
    scope: str
    iat: int
    exp: int
    grant: Grant | None  # None: a client-credentials (ASP-level) token
    refresh: bool = False
    revoked: bool = False

    def active(self, now: float) -> bool:
        return (
            not self.revoked and now < self.exp and (self.grant is None or self.grant.status == 1)
        )


@dataclass
class Code:
    value: str
    grant: Grant
    redirect_uri: str
    challenge: str | None
    expires: float
    used: bool = False


@dataclass
class Store:
    """All of it, behind one lock (the server is threaded)."""

    token_lifetime: int = 3600
    lock: threading.RLock = field(default_factory=threading.RLock)
    clients: dict[str, Client] = field(default_factory=dict)
    resource_servers: dict[str, str] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)  # by subscription id
    tokens: dict[str, Token] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    next_number: int = 0

    def number(self, base: int) -> str:
        with self.lock:
            self.next_number += 1
            return str(base + self.next_number * 7 + secrets.randbelow(7))

    def add_client(
        self, client_id: str, secret: str | None, redirects: list[str], scope: str
    ) -> None:
        with self.lock:
            self.clients[client_id] = Client(
                client_id,
                secret,
                list(redirects),
                scope,
                application_id=self.number(2_600_000),
                bulk_id=self.number(5_100_000),
                authorization_id=self.number(81_000_000),
                issued_at=int(time.time()),
            )

    def new_grant(
        self, client_id: str, customer: ForeignCustomer, points: tuple[str, ...]
    ) -> Grant:
        with self.lock:
            grant = Grant(
                authorization_id=self.number(81_000_000),
                subscription_id=self.number(73_000_000),
                client_id=client_id,
                customer=customer,
                usage_points=points,
                scope=self.clients[client_id].scope,
                created=int(time.time()),
            )
            self.grants[grant.subscription_id] = grant
            return grant

    def issue(
        self, client: Client, grant: Grant | None, *, refresh: bool
    ) -> tuple[Token, Token | None]:
        """A new access token (and a refresh token when asked) for a grant or the client."""
        now = int(time.time())
        scope = grant.scope if grant else client.scope
        with self.lock:
            access = Token(
                secrets.token_hex(16),
                client.client_id,
                scope,
                now,
                now + self.token_lifetime,
                grant,
            )
            self.tokens[access.value] = access
            again = None
            if refresh:
                again = Token(
                    secrets.token_hex(24),
                    client.client_id,
                    scope,
                    now,
                    now + 365 * 86400,
                    grant,
                    refresh=True,
                )
                self.tokens[again.value] = again
            return access, again

    def access(self, value: str) -> Token | None:
        """The active access token with this value, or None."""
        with self.lock:
            token = self.tokens.get(value)
            if token is None or token.refresh or not token.active(time.time()):
                return None
            return token

    def revoke_grant(self, subscription_id: str) -> None:
        with self.lock:
            grant = self.grants[subscription_id]
            grant.status = 0
            for token in self.tokens.values():
                if token.grant is grant:
                    token.revoked = True

    def revoke_token(self, value: str, client_id: str) -> None:
        """RFC 7009 §2.1: a refresh token takes the access tokens of its grant with it."""
        with self.lock:
            token = self.tokens.get(value)
            if token is None or token.client_id != client_id:
                return
            token.revoked = True
            if token.refresh and token.grant is not None:
                for other in self.tokens.values():
                    if other.grant is token.grant:
                        other.revoked = True
