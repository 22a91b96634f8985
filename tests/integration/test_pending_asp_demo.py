"""``espi-sst demo``: the pending demo ASP (``demo-solar-estimator``) is refused (issue 12;
concept design 6.4, 6.4.4).  Before, it got a consent page, tokens, RateInformation 200 and
a rate change 202.  A robot ASP and a signed-in customer, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from demo_process import CustomerBrowser, demo_process

from espi_sst.client import AspClient, AuthorizationFlowError, MemoryTokenStore

SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change"
)


def test_the_pending_demo_asp_is_refused_everywhere(tmp_path: Path) -> None:
    with demo_process(tmp_path, args=["--asp-port", "0"]) as demo:
        pending: dict[str, Any] = next(
            c for c in demo["clients"] if c["client_id"] == "demo-solar-estimator"
        )
        assert pending["qualification"] == "pending"
        robot = AspClient.from_issuer(
            demo["issuer"],
            client_id=pending["client_id"],
            client_secret=pending["client_secret"],
            redirect_uri=pending["redirect_uris"][0],
            scope=SCOPE,
            token_store=MemoryTokenStore(),
        )
        started = robot.authorization_url()
        alex = next(c for c in demo["customers"] if c["username"] == "alex")
        browser = CustomerBrowser(demo["issuer"], alex)
        answer = browser.http.get(started.url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text[:300]  # no consent page
        location = answer.headers["Location"]
        assert location.startswith(pending["redirect_uris"][0] + "?")
        assert parse_qs(urlsplit(location).query)["error"] == ["unauthorized_client"]
        with pytest.raises(AuthorizationFlowError, match="unauthorized_client"):
            robot.fetch_token(location, started)
        token = requests.post(
            demo["issuer"] + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(pending["client_id"], pending["client_secret"]),
            timeout=10,
        )
        assert token.status_code == 401 and token.json()["error"] == "invalid_client"
