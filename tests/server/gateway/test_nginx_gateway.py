"""The statewide gateway (issue 7, part 3; concept design 2.2.2, 6.2, 7.16) with real nginx.

Three of our own servers (PG&E seeded with the demo utility, SCE and Peninsula Clean Energy
empty) run on loopback behind the nginx configuration ``espi_sst_server.gateway``
generates; everything an ASP and a customer do goes through the gateway's one public
entry, ``/SST/v1/{entity}/``.  Checked: the directory, discovery per entity, the whole
client-library flow with every URL under the gateway, the portal's redirects and cookie
under the prefix, forwarded headers a client cannot forge, JSON 404s, per-client rate
limits (429 + Retry-After), mutual TLS, and that ``nginx -t`` accepts what the CLI writes.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from espi_sst_server.gateway import directory_document, parse_gateway_registry
from gateway_world import (
    Pki,
    World,
    california,
    free_port,
    gateway_world,
    make_pki,
    nginx_binary,
    running_nginx,
)

from espi_sst.cli import main as espi_sst_main
from espi_sst.client import AspClient, FileTokenStore
from espi_sst.model import sst

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))

from demo_process import CSRF, CustomerBrowser  # noqa: E402

SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change openid"
)
ATOM = {"Accept": "application/atom+xml"}
HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    nginx_binary()
    # Generous limits: the flow below makes many quick calls with one token.
    with gateway_world(
        tmp_path_factory.mktemp("gateway"), rate="100r/s", burst=200, address_burst=400
    ) as found:
        yield found


def _customer(world: World, username: str) -> dict[str, Any]:
    pge = world.upstreams["PGE"]
    assert pge.demo is not None
    document = pge.demo.as_json(world.issuer("PGE"), world.issuer("PGE"))
    return next(c for c in document["customers"] if c["username"] == username)


def _client(world: World) -> dict[str, Any]:
    pge = world.upstreams["PGE"]
    assert pge.demo is not None
    document = pge.demo.as_json(world.issuer("PGE"), world.issuer("PGE"))
    return next(c for c in document["clients"] if c["client_id"] == "demo-energy-insights")


# ---- the directory, discovery and routing -----------------------------------------------


def test_the_directory_lists_every_entity(world: World) -> None:
    for path in ("/SST/v1/", "/SST/v1/directory"):
        answer = requests.get(world.gateway + path, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json() == directory_document(world.registry)
    entities = {e["id"]: e for e in answer.json()["entities"]}
    assert list(entities) == ["PGE", "SCE", "PCE"]
    pce = entities["PCE"]
    assert pce["kind"] == "CCA" and pce["udc"] == "PGE" and pce["online_accounts"] is False
    assert entities["PGE"] == {
        "id": "PGE",
        "name": "Pacific Gas and Electric",
        "kind": "IOU",
        "issuer": f"{world.gateway}/SST/v1/PGE",
        "discovery_url": f"{world.gateway}/SST/v1/PGE/.well-known/openid-configuration",
        "espi_resource_base": f"{world.gateway}/SST/v1/PGE/espi/1_1/resource",
        "udc": None,
        "online_accounts": None,
        "split": False,
    }


def test_each_entity_answers_discovery_under_the_gateway(world: World) -> None:
    for entry in directory_document(world.registry)["entities"]:
        answer = requests.get(entry["discovery_url"], timeout=10)
        assert answer.status_code == 200, answer.text
        metadata = answer.json()
        assert metadata["issuer"] == entry["issuer"] == world.issuer(entry["id"])
        endpoints = {k: v for k, v in metadata.items() if k.endswith(("_endpoint", "_uri"))}
        assert endpoints and all(v.startswith(entry["issuer"] + "/") for v in endpoints.values())
    # Each prefix reaches its own server: nothing of one entity answers for another.
    for entity_id, upstream in world.upstreams.items():
        before = len(upstream.recorder.seen)
        requests.get(world.issuer(entity_id) + "/.well-known/openid-configuration", timeout=10)
        assert len(upstream.recorder.seen) == before + 1
        assert upstream.recorder.seen[-1]["HTTP_X_FORWARDED_PREFIX"] == f"/SST/v1/{entity_id}"


def test_unknown_entities_and_paths_get_json_404s_naming_the_directory(world: World) -> None:
    directory = f"{world.gateway}/SST/v1/directory"
    for path, error in (
        ("/SST/v1/XYZ/.well-known/openid-configuration", "unknown_entity"),
        ("/SST/v1/pge/", "unknown_entity"),  # ids are case-sensitive
        ("/oauth/token", "not_found"),
        ("/", "not_found"),
    ):
        answer = requests.get(world.gateway + path, timeout=10)
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["error"] == error and answer.json()["directory"] == directory
    # The entity root without its slash: nginx's own redirect, relative (absolute_redirect off).
    bare = requests.get(world.gateway + "/SST/v1/PGE", allow_redirects=False, timeout=10)
    assert bare.status_code == 301 and bare.headers["Location"] == "/SST/v1/PGE/"


def test_the_gateway_never_passes_an_entitys_metrics_on(world: World) -> None:
    """``/metrics`` is the utility's own monitoring (server/ops/metrics_endpoint.py): the
    gateway answers 404 itself, however the path is spelled, while the entity's other paths
    (its health probe) still pass."""
    import http.client

    host, _, port = world.gateway.removeprefix("http://").partition(":")
    for path in (
        "/SST/v1/PGE/metrics",
        "/SST/v1/PGE//metrics",
        "/SST/v1/PGE/./metrics",
        "/SST/v1/PGE/x/../metrics",
        "/SST/v1/PGE/%6detrics",
        "/SST/v1/SCE/metrics",
        "/metrics",
    ):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", path)  # sent as written: no client-side normalizing
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        assert answer.status == 404, (path, answer.status, body[:200])
        assert answer.getheader("Content-Type") == "application/json", path
        assert b"espi_sst_" not in body, path
    health = requests.get(f"{world.gateway}/SST/v1/PGE/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "alive"}


def test_the_gateway_sets_forwarded_headers_a_client_cannot_forge(world: World) -> None:
    sce = world.upstreams["SCE"]
    answer = requests.get(
        world.issuer("SCE") + "/.well-known/openid-configuration",
        headers={
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Prefix": "/evil",
            "X-Forwarded-Port": "444",
            "X-Forwarded-For": "203.0.113.9",
            "X-SSL-Client-DN": "CN=forged",
            "Forwarded": "for=203.0.113.9;host=evil.example",
        },
        timeout=10,
    )
    assert answer.status_code == 200
    seen = sce.recorder.seen[-1]
    port = str(urlsplit(world.gateway).port)
    assert seen["HTTP_X_FORWARDED_HOST"] == "127.0.0.1"
    assert seen["HTTP_X_FORWARDED_PROTO"] == "http"
    assert seen["HTTP_X_FORWARDED_PREFIX"] == "/SST/v1/SCE"
    assert seen["HTTP_X_FORWARDED_PORT"] == port
    assert seen["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    assert seen["HTTP_X_SSL_CLIENT_DN"] is None and seen["HTTP_FORWARDED"] is None
    assert seen["PATH_INFO"] == "/.well-known/openid-configuration"  # the prefix stripped


# ---- an ASP and a customer, all through the gateway --------------------------------------


def test_the_client_library_works_through_the_gateway(world: World, tmp_path: Path) -> None:
    issuer = world.issuer("PGE")
    pge_direct = world.upstreams["PGE"].url
    info = _client(world)
    store = FileTokenStore(tmp_path / "tokens.json")
    client = AspClient.from_issuer(
        issuer,
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        redirect_uri=info["redirect_uris"][0],
        scope=SCOPE,
        token_store=store,
    )
    assert client.metadata.issuer == issuer
    assert client.metadata.token_endpoint == issuer + "/oauth/token"
    started = client.authorization_url()
    assert started.url.startswith(issuer + "/oauth/authorize?")

    # The customer signs in and approves at PG&E's portal, through the gateway.
    callback = CustomerBrowser(issuer, _customer(world, "alex")).approve(started.url)
    assert callback.startswith("http://127.0.0.1:8765/callback?")
    assert parse_qs(urlsplit(callback).query)["iss"] == [issuer]  # RFC 9207, the public one
    grant = client.fetch_token(callback, started)
    assert grant.id_token_claims is not None and grant.id_token_claims["iss"] == issuer
    token = store.load(grant.key)
    assert token is not None
    assert str(token["resourceURI"]).startswith(issuer + "/espi/1_1/resource/Batch/Subscription/")

    with client.connect(grant.key) as connection:
        (point,) = [p for p in connection.usage_points() if p.electric]
        assert point.url.startswith(issuer + "/espi/1_1/resource/Subscription/")
        assert [str(r.value) for r in connection.rins(point)] == ["USCA-PGPG-0100-0000"]
        comparison = connection.bill_comparison(point)
        assert comparison.status is sst.ComparisonStatus.available
        assert connection.bill_comparison(point, form="usage_summary") == comparison
        rates = connection.rate_information(point)
        assert rates.eligible_rate

        # Every href the server writes is the gateway's: never the upstream's own address.
        for url, params in (
            (connection.subscription_url() + "/UsagePoint", {}),
            (point.url + "/UsageSummary", {}),
            (point.url + "/UsageSummary", {"SST": "BillComparison"}),
            (point.url + "/BillComparison", {}),
            (point.url + "/RateInformation", {}),
            (point.url + "/MeterReading", {}),
        ):
            feed = connection.request("GET", url, params=params, headers=ATOM)
            hrefs = HREF.findall(feed.text)
            assert hrefs, url
            assert all(h.startswith(issuer + "/espi/1_1/resource/") for h in hrefs), hrefs
            assert pge_direct not in feed.text and "/SST/v1/PGE/SST/" not in feed.text

    # The feed compressed once, by the server, on request; the gateway adds no gzip.
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    packed = requests.get(
        str(token["resourceURI"]), headers={**bearer, "Accept-Encoding": "gzip"}, stream=True
    )
    assert packed.status_code == 200 and packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    body = gzip.decompress(packed.raw.read(decode_content=False))
    assert body.startswith(b"<?xml") and b"<espi:IntervalBlock>" in body
    plain = requests.get(
        str(token["resourceURI"]), headers={**bearer, "Accept-Encoding": "identity"}
    )
    assert "Content-Encoding" not in plain.headers and plain.content.startswith(b"<?xml")


def test_sign_in_redirects_and_the_session_cookie_stay_under_the_prefix(world: World) -> None:
    issuer = world.issuer("PGE")
    info = _client(world)
    alex = _customer(world, "alex")
    client = AspClient.from_issuer(
        issuer,
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        redirect_uri=info["redirect_uris"][0],
        scope=SCOPE,
    )
    started = client.authorization_url()
    browser = requests.Session()
    # Not signed in yet: to the login page, which comes back to the consent page after.
    to_login = browser.get(started.url, allow_redirects=False, timeout=10)
    assert to_login.status_code == 302
    login = to_login.headers["Location"]
    assert login.startswith("/SST/v1/PGE/portal/login?")
    (back,) = parse_qs(urlsplit(login).query)["next"]
    assert back.startswith("/SST/v1/PGE/oauth/authorize?")
    page = browser.get(world.gateway + login, timeout=10)
    assert page.status_code == 200
    cookie = page.headers["Set-Cookie"]
    assert "Path=/SST/v1/PGE/" in cookie  # moved under the prefix by the gateway
    token = CSRF.search(page.text)
    assert token is not None
    signed_in = browser.post(
        page.url,
        data={
            "username": alex["username"],
            "password": alex["password"],
            "csrf_token": token.group(1),
            "next": back,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text
    assert signed_in.headers["Location"] == back
    consent = browser.get(world.gateway + back, timeout=10)
    assert consent.status_code == 200 and 'name="decision"' in consent.text
    # PG&E's session cookie is not sent to SCE's server on the same host.
    (session_cookie,) = [c for c in browser.cookies if c.name == "session"]
    assert session_cookie.path == "/SST/v1/PGE/"
    requests_before = len(world.upstreams["SCE"].recorder.seen)
    browser.get(world.issuer("SCE") + "/portal/login", timeout=10)
    assert len(world.upstreams["SCE"].recorder.seen) == requests_before + 1
    assert world.upstreams["SCE"].recorder.seen[-1]["HTTP_COOKIE"] is None
    assert sorted(c.path for c in browser.cookies if c.name == "session") == [
        "/SST/v1/PGE/",
        "/SST/v1/SCE/",
    ]


def test_a_server_that_is_down_gets_a_json_502(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()  # nothing listens on ``dead``
    base = f"http://127.0.0.1:{port}"
    registry = parse_gateway_registry(
        {
            "format": "espi-sst-gateway-registry/1",
            "public_base_url": base,
            "entities": [
                {
                    "id": "SMUD",
                    "name": "SMUD",
                    "kind": "POU",
                    "upstream": f"http://127.0.0.1:{dead}",
                }
            ],
        }
    )
    with running_nginx(registry, tmp_path / "down", port):
        answer = requests.get(base + "/SST/v1/SMUD/.well-known/openid-configuration", timeout=20)
    assert answer.status_code == 502 and answer.headers["Retry-After"] == "30"
    assert answer.json()["error"] == "upstream_unavailable"


# ---- rate limits ----------------------------------------------------------------------------


@pytest.fixture
def strict_gateway(world: World, tmp_path: Path) -> Iterator[str]:
    """A second gateway on the same servers: 2 requests a second per client, no burst."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    registry = california(base, world.upstreams)
    with running_nginx(
        registry,
        tmp_path / "strict",
        port,
        rate="2r/s",
        burst=0,
        address_rate="5r/s",
        address_burst=10,
    ):
        yield base


def test_a_client_over_its_rate_gets_429_while_others_pass(strict_gateway: str) -> None:
    url = strict_gateway + "/SST/v1/SCE/.well-known/openid-configuration"
    greedy = [
        requests.get(url, headers={"Authorization": "Bearer greedy-token"}, timeout=10)
        for _ in range(6)
    ]
    assert greedy[0].status_code == 200
    refused = [r for r in greedy if r.status_code == 429]
    assert len(refused) >= 4
    for answer in refused:
        assert answer.headers["Retry-After"] == "1"
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["error"] == "too_many_requests"
    # Another ASP (another token), and a browser without one, are not held up.
    other = requests.get(url, headers={"Authorization": "Bearer other-token"}, timeout=10)
    anonymous = requests.get(url, timeout=10)
    time.sleep(0.6)
    again = requests.get(url, headers={"Authorization": "Bearer other-token"}, timeout=10)
    assert (other.status_code, anonymous.status_code, again.status_code) == (200, 200, 200)
    basic = requests.get(url, auth=("some-client", "secret"), timeout=10)
    assert basic.status_code == 200  # basic credentials are a client of their own


def test_made_up_credentials_from_one_address_are_limited_too(strict_gateway: str) -> None:
    url = strict_gateway + "/SST/v1/SCE/.well-known/openid-configuration"
    answers = [
        requests.get(url, headers={"Authorization": f"Bearer guess-{n}"}, timeout=10)
        for n in range(30)
    ]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5 and codes.count(429) >= 10


# ---- TLS and mutual TLS ---------------------------------------------------------------------


@pytest.fixture
def mtls_gateway(world: World, tmp_path: Path) -> Iterator[tuple[str, Pki]]:
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    with running_nginx(
        california(base, world.upstreams),
        tmp_path / "mtls",
        port,
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        client_ca=pki.ca,
        verify_client="on",
        rate="100r/s",
        burst=100,
    ):
        yield base, pki


def test_mutual_tls_passes_the_verified_subject_upstream(
    world: World, mtls_gateway: tuple[str, Pki]
) -> None:
    base, pki = mtls_gateway
    url = base + "/SST/v1/PGE/.well-known/openid-configuration"
    without = requests.get(url, verify=str(pki.ca), timeout=10)
    assert without.status_code == 400
    assert without.json()["error"] == "invalid_client_certificate"
    answer = requests.get(
        url,
        verify=str(pki.ca),
        cert=(str(pki.client_cert), str(pki.client_key)),
        headers={"X-SSL-Client-DN": "CN=forged"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    seen = world.upstreams["PGE"].recorder.seen[-1]
    assert seen["HTTP_X_SSL_CLIENT_DN"] == pki.client_subject
    assert seen["HTTP_X_FORWARDED_PROTO"] == "https"


def test_portal_csrf_holds_over_https_under_the_prefix(
    world: World, mtls_gateway: tuple[str, Pki]
) -> None:
    """Flask-WTF's strict HTTPS check compares the Referer with the public origin, which
    the upstream only knows through the gateway's X-Forwarded-* headers."""
    base, pki = mtls_gateway
    alex = _customer(world, "alex")
    login = base + "/SST/v1/PGE/portal/login"
    browser = requests.Session()
    browser.trust_env = False  # else REQUESTS_CA_BUNDLE overrides the session's verify
    browser.verify = str(pki.ca)
    browser.cert = (str(pki.client_cert), str(pki.client_key))
    page = browser.get(login, timeout=10)
    token = CSRF.search(page.text)
    assert page.status_code == 200 and token is not None
    form = {"username": alex["username"], "password": alex["password"]}
    no_referer = browser.post(
        login, data={**form, "csrf_token": token.group(1)}, allow_redirects=False, timeout=10
    )
    assert no_referer.status_code == 400  # "The referrer header is missing."
    page = browser.get(login, timeout=10)
    token = CSRF.search(page.text)
    assert token is not None
    signed_in = browser.post(
        login,
        data={**form, "csrf_token": token.group(1)},
        headers={"Referer": login},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text
    assert signed_in.headers["Location"].startswith("/SST/v1/PGE/portal/")
    mine = browser.get(base + signed_in.headers["Location"], timeout=10)
    assert mine.status_code == 200 and "/portal/login" not in mine.url  # signed in


# ---- the command ------------------------------------------------------------------------


def _registry_file(folder: Path, **changes: Any) -> Path:
    document: dict[str, Any] = {
        "format": "espi-sst-gateway-registry/1",
        "public_base_url": "https://sst.example.org",
        "entities": [
            {"id": "PGE", "name": "PG&E", "kind": "IOU", "upstream": "http://127.0.0.1:5001"},
            {"id": "SCE", "name": "SCE", "kind": "IOU", "upstream": "http://127.0.0.1:5002"},
            {
                "id": "PCE",
                "name": "Peninsula Clean Energy",
                "kind": "CCA",
                "upstream": "http://127.0.0.1:5003/pce",
                "udc": "PGE",
                "online_accounts": False,
            },
        ],
    }
    document.update(changes)
    path = folder / "registry.json"
    path.write_text(json.dumps(document))
    return path


def test_the_command_writes_a_configuration_nginx_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nginx = nginx_binary()
    pki = make_pki(tmp_path / "pki")
    out = tmp_path / "out"
    code = espi_sst_main(
        [
            "gateway",
            str(_registry_file(tmp_path)),
            "--out",
            str(out),
            "--listen",
            "127.0.0.1:8443",
            "--tls-cert",
            str(pki.server_cert),
            "--tls-key",
            str(pki.server_key),
            "--client-ca",
            str(pki.ca),
            "--mtls",
            "optional",
            "--check",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"nginx -t -p {out} -c nginx.conf" in printed.out
    assert f"nginx -p {out} -c nginx.conf" in printed.out
    assert "nginx -t: the configuration is valid" in printed.out
    config = (out / "nginx.conf").read_text()
    assert "ssl_verify_client optional;" in config and "proxy_cache " not in config
    assert "location /SST/v1/PCE/" in config and "proxy_pass http://sst_pce/pce/;" in config
    assert json.loads((out / "directory.json").read_text())["entities"][2]["udc"] == "PGE"
    assert "is split" not in printed.out
    checked = subprocess.run(
        [nginx, "-t", "-p", str(out), "-c", "nginx.conf"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_the_command_writes_a_split_entity_and_says_how_to_point_the_bolt_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nginx_binary()
    custodian = "http://127.0.0.1:5009/GreenButtonConnect"
    registry = _registry_file(tmp_path)
    document = json.loads(registry.read_text())
    document["entities"][0]["custodian"] = custodian
    registry.write_text(json.dumps(document))
    out = tmp_path / "out"
    code = espi_sst_main(["gateway", str(registry), "--out", str(out), "--check"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "nginx -t: the configuration is valid" in printed.out
    assert f"ESPI_UPSTREAM_RESOURCE_URL={custodian}/espi/1_1/resource" in printed.out
    config = (out / "nginx.conf").read_text()
    assert "proxy_pass http://sst_pge_custodian/GreenButtonConnect/;" in config
    assert json.loads((out / "directory.json").read_text())["entities"][0]["split"] is True


def test_the_command_refuses_a_bad_registry_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _registry_file(
        tmp_path,
        entities=[
            {
                "id": "PCE",
                "name": "Peninsula Clean Energy",
                "kind": "CCA",
                "upstream": "http://127.0.0.1:5003",
                "udc": "PGE",
                "online_accounts": False,
            }
        ],
    )
    code = espi_sst_main(["gateway", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "entities[0].udc" in err and "PGE is not listed" in err
    assert not (tmp_path / "out" / "nginx.conf").exists()
