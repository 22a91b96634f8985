"""End to end, as an ASP and a customer would: discovery from the issuer URL alone, the PKCE
flow through the utility's real pages in Debian's Chromium, then the ESPI API over real
HTTP on 127.0.0.1 -- Subscription feed and UsageSummary (valid against the official
schemas), refresh with rotation, and revocation.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from live_servers import LiveUtility
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

import espi_sst

SCOPE = "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 basic billing usage sst:rin openid"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sign_in_and_consent(browser: Any, url: str, username: str, password: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.NAME, "username"))
    )
    assert "Sign in" in browser.title
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "button[value=approve]"))
    )
    assert "End-to-end ASP" in browser.page_source
    assert "Release rate identification (RIN)" in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.ID, "done"))
    )


def test_pkce_flow_in_a_real_browser_then_espi_over_http(
    live_utility: LiveUtility, browser: Any
) -> None:
    http = requests.Session()
    meta = http.get(live_utility.issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == live_utility.issuer

    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": live_utility.client_id,
            "redirect_uri": live_utility.redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    customer = live_utility.demo.customer("bundled")
    _sign_in_and_consent(
        browser, f"{meta['authorization_endpoint']}?{query}", customer.username, customer.password
    )

    returned = parse_qs(urlsplit(browser.current_url).query)
    assert returned["state"] == [state] and returned["iss"] == [live_utility.issuer]
    code = returned["code"][0]

    auth = (live_utility.client_id, live_utility.client_secret)
    token = http.post(
        meta["token_endpoint"],
        auth=auth,
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live_utility.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    claims = jwt.decode(
        body["id_token"], KeySet.import_key_set(http.get(meta["jwks_uri"], timeout=10).json())
    ).claims
    assert claims["nonce"] == nonce and claims["sub"] == customer.uuid

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    feed = http.get(body["resourceURI"], headers=bearer, timeout=60)
    assert feed.status_code == 200, feed.text[:500]
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    assert espi_sst.validate(feed.content, profile="official") == []
    document = espi_sst.parse(feed.content)
    points = document.usage_points
    assert {p.self_href.rsplit("/", 1)[1] for p in points} <= set(customer.usage_point_uuids)
    summaries = document.usage_summaries(points[0])
    assert summaries, "the subscription feed carries the UsageSummaries"
    summary_url = summaries[0].self_href
    summary = http.get(summary_url, headers=bearer, timeout=10)
    assert (
        summary.status_code == 200 and espi_sst.validate(summary.content, profile="official") == []
    )

    refreshed = http.post(
        meta["token_endpoint"],
        auth=auth,
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"]
    assert (
        http.get(summary_url, headers=bearer, timeout=10).status_code == 401
    )  # the rotated-away token

    fresh = {"Authorization": f"Bearer {new['access_token']}"}
    assert http.get(summary_url, headers=fresh, timeout=10).status_code == 200
    revoked = http.post(
        meta["revocation_endpoint"], auth=auth, timeout=10, data={"token": new["refresh_token"]}
    )
    assert revoked.status_code == 200
    assert http.get(summary_url, headers=fresh, timeout=10).status_code == 401
    assert any(path.startswith("/callback?code=") for path in live_utility.callback_requests)
    http.close()
