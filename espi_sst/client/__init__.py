"""The ASP client: OAuth with PKCE against a Green Button Connect custodian and the SST calls.

::

    from espi_sst.client import AspClient, FileTokenStore

    client = AspClient.from_issuer(
        "https://gbc.utility.example",
        client_id="...", client_secret="...",
        redirect_uri="https://asp.example/callback",
        scope="FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 "
              "billing usage sst:rin sst:bill_comparison sst:rate_change openid",
        token_store=FileTokenStore("tokens.json"),
    )
    started = client.authorization_url()          # keep `started` in the customer's session
    # ... redirect the customer to started.url; the custodian redirects back ...
    grant = client.fetch_token(callback_url, started)
    with client.connect(grant.key) as customer:
        for point in customer.usage_points():
            print(customer.rins(point), customer.bill_comparison(point).current)

Needs the ``client`` extra (``pip install 'espi-sst[client]'``: requests and Authlib).
docs/asp-guide.md walks through registration, the first RIN, a bill comparison and a rate
change, and the errors an ASP must handle.
"""

from __future__ import annotations

from .api import CustomerConnection, RateChange, UsagePointInfo
from .errors import (
    AuthorizationEnded,
    AuthorizationFlowError,
    ClientError,
    DiscoveryError,
    InsufficientScope,
    InvalidPasscode,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerError,
)
from .oauth import AspClient, AuthorizationRequest, Grant, ServerMetadata, discover
from .receiver import NotificationReceiver, batch_list_urls
from .tokens import FileTokenStore, MemoryTokenStore, TokenStore

__all__ = [
    "AspClient",
    "AuthorizationEnded",
    "AuthorizationFlowError",
    "AuthorizationRequest",
    "ClientError",
    "CustomerConnection",
    "DiscoveryError",
    "FileTokenStore",
    "Grant",
    "InsufficientScope",
    "InvalidPasscode",
    "MemoryTokenStore",
    "NotFound",
    "NotificationReceiver",
    "RateChange",
    "RateLimited",
    "RequestRefused",
    "ServerError",
    "ServerMetadata",
    "TokenStore",
    "UsagePointInfo",
    "batch_list_urls",
    "discover",
]
