"""``espi-sst demo --statewide`` (issue 7, part 5): two IOUs (one caching CCA RINs, one not),
a CCA without online accounts and one with them (where the non-caching IOU refers ASPs,
issue 12) behind the gateway -- Debian's nginx when installed,
else the in-process dispatcher with the same URL layout -- and the client library's flow
through it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from demo_process import CustomerBrowser, demo_process, patient_session

from espi_sst.client import AspClient, AuthorizationFlowError, MemoryTokenStore

SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change"
)


@pytest.fixture(scope="module", params=["nginx", "dispatcher"])
def statewide(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp(f"statewide-{request.param}")
    args = ["--statewide", "--asp-port", "0"]
    if request.param == "nginx":
        if shutil.which("nginx") is None:
            import os

            if os.environ.get("ESPI_REQUIRE_NGINX"):
                pytest.fail("ESPI_REQUIRE_NGINX is set but nginx is not installed")
            pytest.skip("Debian's nginx is not installed")
    else:
        args.append("--no-nginx")
    with demo_process(tmp_path, args=args) as document:
        assert document["gateway"].startswith("nginx") == (request.param == "nginx")
        yield document


HTTP = patient_session()
"""The tests' own requests through the gateway (a 429 is waited out, see patient_session)."""


def asp(document: dict[str, Any], entity: str) -> AspClient:
    client = next(c for c in document["clients"] if c["client_id"] == "demo-energy-insights")
    return AspClient.from_issuer(
        document["entities"][entity]["issuer"],
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        redirect_uri=client["redirect_uris"][0],
        scope=SCOPE,
        token_store=MemoryTokenStore(),
    )


def blake_at(document: dict[str, Any], entity: str) -> Any:
    client = asp(document, entity)
    blake = next(c for c in document["customers"] if c["username"] == "blake")
    started = client.authorization_url()
    issuer = document["entities"][entity]["issuer"]
    grant = client.fetch_token(CustomerBrowser(issuer, blake).approve(started.url), started)
    return client.connect(grant.key)


def test_the_directory_and_the_entities_behind_the_gateway(statewide: dict[str, Any]) -> None:
    answer = HTTP.get(statewide["directory_url"], timeout=10)
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    directory = answer.json()
    assert {e["id"]: e["kind"] for e in directory["entities"]} == {
        "PGE": "IOU",
        "SCE": "IOU",
        "PCE": "CCA",
        "CPA": "CCA",
    }
    for code, entity in statewide["entities"].items():
        meta = HTTP.get(entity["issuer"] + "/.well-known/openid-configuration", timeout=10)
        assert meta.json()["issuer"] == entity["issuer"], code
    unknown = HTTP.get(statewide["gateway_url"] + "XYZ/whatever", timeout=10)
    assert unknown.status_code == 404


def test_each_entity_is_probed_through_the_gateway_and_hides_its_metrics(
    statewide: dict[str, Any],
) -> None:
    """Issue 16: health and readiness through the gateway; metrics never through it, only
    on the entity's own loopback server (with nginx; the dispatcher has none)."""
    for code, entity in statewide["entities"].items():
        assert entity["health_url"] == entity["issuer"] + "/healthz"
        assert HTTP.get(entity["health_url"], timeout=10).json() == {"status": "alive"}
        assert HTTP.get(entity["ready_url"], timeout=10).json()["status"] == "ready", code
        hidden = HTTP.get(entity["issuer"] + "/metrics", timeout=10)
        assert hidden.status_code == 404 and "espi_sst_" not in hidden.text, code
        if statewide["gateway"].startswith("nginx"):
            assert "espi_sst_grants" in HTTP.get(entity["metrics_url"], timeout=10).text
        else:
            assert entity["metrics_url"] is None
    assert statewide["health_url"] == statewide["entities"]["PGE"]["health_url"]


def test_caching_iou_serves_both_rins_through_the_gateway(statewide: dict[str, Any]) -> None:
    with blake_at(statewide, "PGE") as pge:
        (point,) = [p for p in pge.usage_points() if p.electric]
        assert point.url.startswith(statewide["entities"]["PGE"]["issuer"] + "/espi/")
        assert [str(r.value) for r in pge.rins(point)] == [
            "USCA-PGXX-0100-0000",
            "USCA-XXPE-0440-0000",
        ]
        assert pge.bill_comparison(point).rate_estimate


def test_non_caching_iou_says_where_to_ask_for_the_generation_rin(
    statewide: dict[str, Any],
) -> None:
    with blake_at(statewide, "SCE") as sce:
        (point,) = [p for p in sce.usage_points() if p.electric]
        assert [str(r.value) for r in sce.rins(point)] == ["USCA-SCXX-0100-0000"]
        status = sce.generation_rin_status(point)
        assert status is not None and status.lse == "CPA"
        assert status.refer_to == statewide["gateway_url"] + "CPA"


def test_the_referral_of_a_non_caching_iou_leads_to_the_generation_rin(
    statewide: dict[str, Any],
) -> None:
    """Concept design 6.5.4.1, 7.3.5: SCE does not hold CPA's RINs and says ask CPA; the ASP
    follows ``referTo``, the customer signs in at CPA, and the ASP has the generation RIN."""
    with blake_at(statewide, "SCE") as sce:
        (point,) = [p for p in sce.usage_points() if p.electric]
        status = sce.generation_rin_status(point)
        assert status is not None and status.refer_to
    referred = status.refer_to.rstrip("/")
    assert referred == statewide["entities"][status.lse]["issuer"]  # a registered entity
    meta = HTTP.get(referred + "/.well-known/openid-configuration", timeout=10)
    assert meta.status_code == 200 and meta.json()["issuer"] == referred
    with blake_at(statewide, status.lse) as cca:
        (point,) = [p for p in cca.usage_points() if p.electric]
        assert [str(r.value) for r in cca.rins(point)] == [
            "USCA-SCXX-0100-0000",
            "USCA-XXCP-0440-0000",
        ]
        assert cca.generation_rin_status(point) is None


def test_the_cca_without_online_accounts_routes_the_asp_to_its_udc(
    statewide: dict[str, Any],
) -> None:
    client = asp(statewide, "PCE")
    started = client.authorization_url()
    answer = HTTP.get(started.url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    with pytest.raises(AuthorizationFlowError) as refused:
        client.fetch_token(answer.headers["Location"], started)
    assert refused.value.route_to == "PGE"
    assert refused.value.route_url == statewide["entities"]["PGE"]["issuer"]


def test_a_phase_one_entity_and_the_two_asp_classes(statewide: dict[str, Any]) -> None:
    """SCE is in SST Phase 1 (RINs only): BillComparison answers 404 with a JSON body, in
    both URL forms, and discovery lists no later function.  The data-only ASP asking PGE for
    sst:rate_change gets invalid_scope (concept design 6.1, 6.4.2)."""
    entities = statewide["entities"]
    assert (entities["SCE"]["sst_phase"], entities["PGE"]["sst_phase"]) == (1, 3)
    classes = {c["client_id"]: c["class"] for c in statewide["clients"]}
    assert classes["demo-rate-coach-mobile"] == "data-only"
    assert classes["demo-energy-insights"] == "rate-change"
    discovery = HTTP.get(
        entities["SCE"]["issuer"] + "/.well-known/openid-configuration", timeout=10
    )
    assert discovery.status_code == 200, discovery.text
    scopes = discovery.json()["scopes_supported"]
    assert "sst:rin" in scopes and "sst:bill_comparison" not in scopes

    with blake_at(statewide, "SCE") as sce:  # a real grant at SCE, through the gateway
        (point,) = [p for p in sce.usage_points() if p.electric]
        assert sce.rins(point)  # Phase 1 delivers RINs
        for url in (f"{point.url}/BillComparison", f"{point.url}/UsageSummary?SST=BillComparison"):
            answer = sce.session.get(url, timeout=10)  # the grant's own bearer token
            assert answer.status_code == 404, (url, answer.text[:300])
            assert answer.headers["Content-Type"].startswith("application/json")
            assert answer.json()["error"] == "function_not_offered"
            assert "not offered by this utility yet" in answer.json()["error_description"]

    mobile = next(c for c in statewide["clients"] if c["client_id"] == "demo-rate-coach-mobile")
    client = AspClient.from_issuer(
        entities["PGE"]["issuer"],
        client_id=mobile["client_id"],
        client_secret=None,
        redirect_uri=mobile["redirect_uris"][0],
        scope=SCOPE,
        token_store=MemoryTokenStore(),
    )
    started = client.authorization_url()
    blake = next(c for c in statewide["customers"] if c["username"] == "blake")
    browser = CustomerBrowser(entities["PGE"]["issuer"], blake)
    answer = browser.http.get(started.url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"]
    assert "rate-change ASP" in query["error_description"][0]


def test_each_entity_shows_its_sms_inbox_through_the_gateway(statewide: dict[str, Any]) -> None:
    """The second passcode channel (issue 13): every entity's demo SMS inbox is beside its
    e-mail inbox, listed in demo.json and reachable through the gateway; Dana's number is
    there (she chose text messages)."""
    assert statewide["sms_inbox_url"] == statewide["entities"]["PGE"]["issuer"] + "/demo/sms"
    for code, entity in statewide["entities"].items():
        assert entity["sms_inbox_url"] == entity["issuer"] + "/demo/sms", code
        page = HTTP.get(entity["sms_inbox_url"], timeout=30)
        assert page.status_code == 200, (code, page.status_code)
        assert "Demo SMS sink" in page.text and "+14085550175" in page.text
