"""The demo's third-party applications (ASPs): ESPI ApplicationInformation rows, OAuth clients.

Three registrations cover what the authorization server must tell apart: a qualified
confidential client (authorization code, refresh token and client credentials for the bulk
and ApplicationInformation endpoints), a public client (a mobile app: no secret, PKCE only,
no client credentials) and a confidential client still pending qualification, which the
authorization endpoint refuses (``unauthorized_client`` to its redirect URI; concept design
6.4: only qualified ASPs get consent, tokens or data).  Each asks at most for the full GBC +
SST scope below; the two qualified ones are rate-change ASPs (6.4.2.2).  The statewide demo
makes the mobile app a data-only ASP (6.4.2.1) to show both classes.

Client secrets are derived from the seed (so ``demo.json`` is stable between runs) and stored
only as ``hash_secret(secret)``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from espi_sst.scope import Scope

DEMO_SCOPE = (
    "FB=1_3_4_5_13_14_15_19_35_37_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=13"
    " basic billing account usage program_enrollment sst:rin sst:bill_comparison"
    " sst:rate_change openid"
)
Scope.parse(DEMO_SCOPE)  # fail at import, not at the first consent, if it ever stops parsing

ASP_BASE = "http://127.0.0.1:8765"
CONFIDENTIAL_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
PUBLIC_GRANTS = ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class ClientSpec:
    client_id: str
    name: str
    path: str  # the ASP's pages for this client live under ASP_BASE + path
    confidential: bool
    qualification: str  # qualified | pending | suspended
    software_id: str
    asp_class: str = "rate-change"  # data-only | rate-change (concept design 6.4.2)

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        return (f"{ASP_BASE}{self.path}/callback",)

    @property
    def notify_uri(self) -> str:
        return f"{ASP_BASE}{self.path}/notify"

    @property
    def client_uri(self) -> str:
        return f"{ASP_BASE}{self.path}/"

    @property
    def grant_types(self) -> tuple[str, ...]:
        return CONFIDENTIAL_GRANTS if self.confidential else PUBLIC_GRANTS

    @property
    def token_endpoint_auth_method(self) -> str:
        return "client_secret_basic" if self.confidential else "none"

    def secret(self, seed: int) -> str | None:
        """A 256-bit secret derived from the seed, or None for a public client."""
        if not self.confidential:
            return None
        digest = hashlib.sha256(f"espi-sst-demo/{seed}/client/{self.client_id}".encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec(
        client_id="demo-energy-insights",
        name="Energy Insights (demo ASP)",
        path="",
        confidential=True,
        qualification="qualified",
        software_id="espi-sst-demo-asp",
    ),
    ClientSpec(
        client_id="demo-rate-coach-mobile",
        name="Rate Coach mobile app (demo public client)",
        path="/mobile",
        confidential=False,
        qualification="qualified",
        software_id="espi-sst-demo-mobile",
    ),
    ClientSpec(
        client_id="demo-solar-estimator",
        name="Solar Savings Estimator (demo, pending qualification)",
        path="/pending",
        confidential=True,
        qualification="pending",
        software_id="espi-sst-demo-pending",
    ),
)
