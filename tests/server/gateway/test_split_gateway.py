"""A split entity through real nginx (issue 22: "no change to the custodian's URLs").

PG&E's entry names an unmodified Green Button Connect custodian (a recording stand-in
mounted at ``/GreenButtonConnect``) beside its SST bolt-on (another recording stand-in);
SCE, in the same registry, is an ordinary entity; SDG&E is split with a custodian that is
down.  Over loopback HTTP through the configuration ``espi-sst gateway`` generates:
the SST resources, the UsageSummary documents and ``/sst/`` reach the bolt-on with the
prefix announced; everything else, look-alikes included, reaches the custodian under its
own path with no prefix announced; traversal and encoded slashes cannot smuggle a request
to the bolt-on under a path it does not see; cookies, redirects, rate limits and JSON
errors behave as for any entity.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from espi_sst_server.gateway import GatewayRegistry, directory_document, parse_gateway_registry
from gateway_world import (
    RecordingServer,
    free_port,
    nginx_binary,
    recording_servers,
    running_nginx,
)

P = "/SST/v1/PGE"
CUSTODIAN_PATH = "/GreenButtonConnect"
POINT = "/espi/1_1/resource/Subscription/5/UsagePoint/7"
# The bolt-on's routes as Python regexes over the path it receives (prefix stripped): a
# request reaching the bolt-on must have one of these paths, whatever the client sent.
BOLT_ON_PATH = re.compile(
    r"/espi/1_1/resource/Subscription/[^/]+/UsagePoint/[^/]+/"
    r"(?:(?:RateInformation|BillComparison|RateChangeRequest)(?:/.*)?|UsageSummary(?:/[^/]+)?)"
    r"|/sst/.*"
)


class Split:
    def __init__(
        self, gateway: str, servers: dict[str, RecordingServer], registry: GatewayRegistry
    ) -> None:
        self.gateway, self.servers, self.registry = gateway, servers, registry

    def send(self, method: str, path: str, **kwargs: Any) -> tuple[requests.Response, str]:
        """The answer, and which stand-in got the request (checked to be the only one)."""
        before = {name: len(server.seen) for name, server in self.servers.items()}
        answer = requests.request(method, self.gateway + path, timeout=10, **kwargs)
        return answer, self._who(before)

    def send_raw(self, path: str) -> tuple[int, str]:
        """A GET with the path exactly as written (requests would resolve ``..`` itself)."""
        before = {name: len(server.seen) for name, server in self.servers.items()}
        parts = urlsplit(self.gateway)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            connection.request("GET", path)
            status = connection.getresponse().status
        finally:
            connection.close()
        return status, self._who(before)

    def _who(self, before: dict[str, int]) -> str:
        reached = [n for n, s in self.servers.items() if len(s.seen) > before[n]]
        assert len(reached) <= 1, reached
        return reached[0] if reached else "gateway"

    def last(self, name: str) -> dict[str, Any]:
        return self.servers[name].seen[-1]


def _registry(gateway: str, servers: dict[str, RecordingServer], dead: int) -> GatewayRegistry:
    return parse_gateway_registry(
        {
            "format": "espi-sst-gateway-registry/1",
            "public_base_url": gateway,
            "entities": [
                {
                    "id": "PGE",
                    "name": "Pacific Gas and Electric",
                    "kind": "IOU",
                    "upstream": servers["bolt-on"].url,
                    "custodian": servers["custodian"].url,
                },
                {
                    "id": "SCE",
                    "name": "Southern California Edison",
                    "kind": "IOU",
                    "upstream": servers["sce"].url,
                },
                {
                    "id": "SDGE",
                    "name": "San Diego Gas & Electric",
                    "kind": "IOU",
                    "upstream": servers["bolt-on"].url,
                    "custodian": f"http://127.0.0.1:{dead}/gbc",
                },
            ],
        },
        source="split-registry.json",
    )


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, RecordingServer]]:
    with recording_servers({"bolt-on": "", "custodian": CUSTODIAN_PATH, "sce": ""}) as found:
        yield found


@pytest.fixture(scope="module")
def split(
    servers: dict[str, RecordingServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Split]:
    nginx_binary()
    port, dead = free_port(), free_port()  # nothing listens on ``dead``
    gateway = f"http://127.0.0.1:{port}"
    registry = _registry(gateway, servers, dead)
    folder = tmp_path_factory.mktemp("split")
    with running_nginx(registry, folder, port, rate="200r/s", burst=400, address_burst=800):
        yield Split(gateway, servers, registry)


# ---- what goes to the bolt-on -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", POINT + "/RateInformation", ""),
        ("GET", POINT + "/RateInformation/3", ""),
        ("GET", POINT + "/BillComparison", ""),
        ("GET", POINT + "/BillComparison/2", ""),
        ("GET", POINT + "/RateChangeRequest", ""),
        ("POST", POINT + "/RateChangeRequest", ""),
        ("GET", POINT + "/RateChangeRequest/9", ""),
        ("POST", POINT + "/RateChangeRequest/9/Confirmation", ""),
        ("DELETE", POINT + "/RateChangeRequest/9", ""),
        ("GET", POINT + "/UsageSummary", ""),
        ("GET", POINT + "/UsageSummary", "SST=BillComparison"),
        ("GET", POINT + "/UsageSummary/4", ""),
        ("GET", "/espi/1_1/resource/Subscription/a-b_c.1/UsagePoint/Z9/UsageSummary", ""),
        ("GET", "/sst/", ""),
        ("GET", "/sst/consent", "client_id=demo&state=x"),
        ("POST", "/sst/consent", ""),
    ],
)
def test_sst_paths_and_rin_documents_reach_the_bolt_on_with_the_prefix(
    split: Split, method: str, path: str, query: str
) -> None:
    body = "<RateChangeRequest/>" if method == "POST" else None
    answer, who = split.send(
        method,
        P + path + (f"?{query}" if query else ""),
        data=body,
        headers={"X-Forwarded-Prefix": "/forged", "Authorization": "Bearer asp-token"},
    )
    assert (answer.status_code, who) == (200, "bolt-on")
    seen = split.last("bolt-on")
    assert (seen["method"], seen["path"], seen["query"]) == (method, path, query)
    assert seen["body"] == (body or "")
    headers = seen["headers"]
    assert headers["X-Forwarded-Prefix"] == P  # set by the gateway, the client's dropped
    assert headers["X-Forwarded-Host"] == "127.0.0.1"
    assert headers["X-Forwarded-Port"] == str(urlsplit(split.gateway).port)
    assert headers["Authorization"] == "Bearer asp-token"  # the ASP's token passes


# ---- what goes to the custodian ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", POINT + "/UsageSummaryX"),
        ("GET", POINT + "/UsageSummary/4/extra"),
        ("GET", POINT + "/UsageSummary/"),
        ("GET", POINT + "/RateInformationX"),
        ("GET", POINT + "/ratEInformation"),  # routes are case-sensitive, like the server's
        ("GET", "/espi/1_1/resource/Subscription/5/UsageSummary"),
        ("GET", "/espi/1_1/resource/Subscription/5/RateInformation"),
        ("GET", "/espi/1_1/resource/UsagePoint/7/UsageSummary"),
        ("GET", "/espi/1_1/resource/Subscription/5/UsagePoint/7"),
        ("GET", POINT + "/MeterReading/1/IntervalBlock"),
        ("GET", "/espi/1_1/resource/Batch/Subscription/5"),
        ("GET", "/espi/1_1/resource/Authorization/5"),
        ("GET", "/espi/1_1/resource/ApplicationInformation/2"),
        ("POST", "/oauth/token"),
        ("GET", "/oauth/authorize"),
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/portal/login"),
        ("GET", "/sstx/consent"),
        ("GET", "/"),
    ],
)
def test_everything_else_reaches_the_custodian_under_its_own_path(
    split: Split, method: str, path: str
) -> None:
    answer, who = split.send(method, P + path + "?a=1", headers={"X-Forwarded-Prefix": "/forged"})
    assert (answer.status_code, who) == (200, "custodian")
    seen = split.last("custodian")
    assert (seen["method"], seen["path"], seen["query"]) == (method, CUSTODIAN_PATH + path, "a=1")
    headers = seen["headers"]
    assert "X-Forwarded-Prefix" not in headers  # not announced, and the client's dropped
    assert headers["Host"] == headers["X-Forwarded-Host"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"


# ---- no tricks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        POINT + "/../../../RateInformation",
        POINT + "/./../RateInformation",
        "/espi/1_1/resource/Subscription/5/UsagePoint/../RateInformation",
        POINT + "/..%2F..%2F..%2FRateInformation",
        POINT + "/%2E%2E/%2E%2E/%2E%2E/UsageSummary",
        "/espi/1_1/resource/Subscription/5%2FUsageSummary",
        POINT + "/UsageSummary%2F4%2Fextra",
        POINT + "/RateInformation%3Fx",
        POINT + "/UsageSummary%3FSST=BillComparison",
    ],
)
def test_traversal_and_encoded_slashes_do_not_reach_the_bolt_on(split: Split, path: str) -> None:
    status, who = split.send_raw(P + path)
    assert who != "bolt-on", (path, split.last("bolt-on"))
    assert who == "custodian" or status == 400, (path, status, who)


R = "/espi/1_1/resource"


@pytest.mark.parametrize(
    ("path", "server", "received"),
    [
        (
            R + "/Subscription/5%2FUsagePoint/7/RateInformation",
            "bolt-on",
            POINT + "/RateInformation",
        ),
        (POINT + "/MeterReading/../UsageSummary", "bolt-on", POINT + "/UsageSummary"),
        (
            R + "/Subscription/5//UsagePoint/7/Rate%49nformation/1",
            "bolt-on",
            POINT + "/RateInformation/1",
        ),
        (POINT + "/UsageSummary/a%20b", "bolt-on", POINT + "/UsageSummary/a%20b"),
        ("/sst/../sst/consent", "bolt-on", "/sst/consent"),
        ("/sst/%2e%2e/oauth/token", "custodian", CUSTODIAN_PATH + "/oauth/token"),
        (
            POINT + "/RateInformation/..%2F..%2F..%2F..%2FAuthorization/5",
            "custodian",
            CUSTODIAN_PATH + R + "/Subscription/Authorization/5",
        ),
    ],
)
def test_each_server_receives_exactly_the_path_that_was_routed(
    split: Split, path: str, server: str, received: str
) -> None:
    """nginx routes on its normalized URI (decoded, dot segments resolved, slashes merged)
    and sends that URI on, escaped again: a server reads the very path the router matched,
    never one that only looked like one of the bolt-on's paths to the router."""
    status, who = split.send_raw(P + path)
    assert (status, who) == (200, server)
    assert split.last(server)["raw_path"] == received
    if server == "bolt-on":
        assert BOLT_ON_PATH.fullmatch(split.last(server)["path"])


# ---- cookies, redirects, errors, limits -------------------------------------------------------


def test_the_bolt_on_pages_without_their_slash_are_nginx_s_redirect(split: Split) -> None:
    answer, who = split.send("GET", P + "/sst", allow_redirects=False)
    assert (answer.status_code, who) == (301, "gateway")
    assert answer.headers["Location"] == P + "/sst/"


def test_cookies_and_redirects_stay_under_the_prefix_and_apart(split: Split) -> None:
    # The custodian's cookie for its own path (a servlet container's context path) and its
    # relative redirect under that path are moved under the entity's prefix.
    answer, who = split.send("GET", P + f"/portal/login?set_cookie={CUSTODIAN_PATH}")
    assert who == "custodian" and "Path=/SST/v1/PGE;" in answer.headers["Set-Cookie"] + ";"
    answer, who = split.send(
        "GET", P + f"/oauth/authorize?redirect={CUSTODIAN_PATH}/portal/login", allow_redirects=False
    )
    assert who == "custodian" and answer.headers["Location"] == P + "/portal/login"
    custodian_url = split.servers["custodian"].url
    answer, who = split.send(
        "GET", P + f"/oauth/authorize?redirect={custodian_url}/x", allow_redirects=False
    )
    assert answer.headers["Location"] == P + "/x"
    # The bolt-on's cookies (Path=/) go under prefix/sst/, where its pages are: its session
    # and the custodian's never overwrite each other, and the custodian never gets it.
    answer, who = split.send("GET", P + "/sst/consent?set_cookie=/")
    assert who == "bolt-on" and "Path=/SST/v1/PGE/sst/" in answer.headers["Set-Cookie"]


def test_an_unsplit_entity_in_the_same_registry_is_unchanged(split: Split) -> None:
    for path in (POINT + "/RateInformation", "/oauth/token", POINT + "/UsageSummary"):
        answer, who = split.send("GET", "/SST/v1/SCE" + path)
        assert (answer.status_code, who) == (200, "sce")
        seen = split.last("sce")
        assert seen["path"] == path and seen["headers"]["X-Forwarded-Prefix"] == "/SST/v1/SCE"


def test_the_directory_says_which_entities_are_split(split: Split) -> None:
    answer = requests.get(split.gateway + "/SST/v1/", timeout=10)
    assert answer.json() == directory_document(split.registry)
    entities = {e["id"]: e for e in answer.json()["entities"]}
    assert (entities["PGE"]["split"], entities["SCE"]["split"]) == (True, False)
    assert entities["PGE"]["espi_resource_base"] == f"{split.gateway}{P}/espi/1_1/resource"


def test_a_custodian_that_is_down_gets_the_gateways_json_502(split: Split) -> None:
    answer, who = split.send("POST", "/SST/v1/SDGE/oauth/token")
    assert (answer.status_code, who) == (502, "gateway")
    assert answer.json()["error"] == "upstream_unavailable" and answer.headers["Retry-After"]
    answer, who = split.send("GET", "/SST/v1/SDGE" + POINT + "/RateInformation")
    assert (answer.status_code, who) == (200, "bolt-on")  # the bolt-on still answers
    assert split.last("bolt-on")["headers"]["X-Forwarded-Prefix"] == "/SST/v1/SDGE"


def test_the_bolt_on_routes_are_rate_limited_like_the_rest(
    servers: dict[str, RecordingServer], tmp_path: Path
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    registry = _registry(gateway, servers, free_port())
    with running_nginx(registry, tmp_path / "strict", port, rate="2r/s", burst=0):
        codes = []
        for path in (POINT + "/RateInformation", POINT + "/UsageSummary", "/oauth/token") * 3:
            answer = requests.get(
                gateway + P + path, headers={"Authorization": "Bearer one-asp"}, timeout=10
            )
            codes.append(answer.status_code)
            if answer.status_code == 429:
                assert json.loads(answer.text)["error"] == "too_many_requests"
                assert answer.headers["Retry-After"] == "1"
    assert codes[0] == 200 and codes.count(429) >= 5, codes
