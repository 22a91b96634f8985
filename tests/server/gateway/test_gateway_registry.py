"""The gateway registry is read strictly and the nginx configuration refuses unsafe input
(server/gateway/registry.py, nginx.py, directory.py); nginx itself runs in
test_nginx_gateway.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from espi_sst_server.gateway import (
    GatewayRegistryError,
    directory_document,
    load_gateway_registry,
    parse_gateway_registry,
    render_nginx_config,
)
from espi_sst_server.gateway.directory import RESOURCE_PATH
from espi_sst_server.resource.urls import PREFIX


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format": "espi-sst-gateway-registry/1",
        "public_base_url": "https://sst.example.org",
        "entities": [
            {
                "id": "PGE",
                "name": "Pacific Gas and Electric",
                "kind": "IOU",
                "upstream": "http://10.0.0.1:8000",
            },
            {"id": "LADWP", "name": "LADWP", "kind": "POU", "upstream": "https://ladwp.example"},
            {
                "id": "PCE",
                "name": "Peninsula Clean Energy",
                "kind": "CCA",
                "upstream": "http://10.0.0.3:8000/pce/",
                "udc": "PGE",
                "online_accounts": True,
            },
        ],
    }
    base.update(changes)
    return base


def with_entity(index: int, **changes: Any) -> dict[str, Any]:
    found = document()
    entity = dict(found["entities"][index])
    for key, value in changes.items():
        if value is None:
            entity.pop(key, None)
        else:
            entity[key] = value
    found["entities"][index] = entity
    return found


def test_a_valid_registry() -> None:
    registry = parse_gateway_registry(document())
    assert [e.id for e in registry.entities] == ["PGE", "LADWP", "PCE"]
    pce = registry.entity("PCE")
    assert (pce.udc, pce.online_accounts, pce.upstream) == ("PGE", True, "http://10.0.0.3:8000/pce")
    assert registry.issuer("PCE") == "https://sst.example.org/SST/v1/PCE"
    assert registry.directory_url == "https://sst.example.org/SST/v1/directory"


@pytest.mark.parametrize(
    ("data", "index", "field", "words"),
    [
        (document(format="espi-sst-gateway-registry/2"), None, "format", "is not"),
        (document(extra=1), None, "extra", "unknown field"),
        (document(entities=[]), None, "entities", "non-empty list"),
        (document(public_base_url="ftp://x"), None, "public_base_url", "http"),
        (document(public_base_url="https://sst.example.org/gw"), None, "public_base_url", "path"),
        (document(public_base_url="https://a b"), None, "public_base_url", "characters"),
        (with_entity(0, id="pge"), 0, "id", "capital letters"),
        (with_entity(0, id="P"), 0, "id", "2 to 16"),
        (with_entity(1, id="PGE"), 1, "id", "already the id of entities[0]"),
        (with_entity(0, kind="ESP"), 0, "kind", "IOU, POU, CCA"),
        (with_entity(0, name=" "), 0, "name", "non-empty"),
        (with_entity(0, upstream="10.0.0.1:8000"), 0, "upstream", "http"),
        (with_entity(0, upstream="http://u:p@10.0.0.1"), 0, "upstream", "credentials"),
        (with_entity(0, upstream="http://10.0.0.1/?a=1"), 0, "upstream", "query"),
        (with_entity(0, upstream="http://10.0.0.1/$host"), 0, "upstream", "characters"),
        (with_entity(0, upstream="http://10.0.0.1;evil"), 0, "upstream", "characters"),
        (with_entity(0, upstream="http://10.0.0.1/a%20b"), 0, "upstream", "a path may only"),
        (with_entity(0, upstream="http://10.0.0.1:99999"), 0, "upstream", "valid URL"),
        (with_entity(0, udc="SCE"), 0, "udc", "only a CCA"),
        (with_entity(2, udc=None), 2, "udc", "required for a CCA"),
        (with_entity(2, online_accounts=None), 2, "online_accounts", "required for a CCA"),
        (with_entity(2, online_accounts="yes"), 2, "online_accounts", "true or false"),
        (with_entity(2, udc="SCE"), 2, "udc", "SCE is not listed"),
        (with_entity(2, udc="PCE"), 2, "udc", "is a CCA"),
        (with_entity(0, color="blue"), 0, "color", "unknown field"),
        (with_entity(0, custodian="gbc.internal.example"), 0, "custodian", "http"),
        (with_entity(0, custodian="ftp://gbc.internal.example"), 0, "custodian", "http"),
        (with_entity(0, custodian=8443), 0, "custodian", "must be an http"),
        (with_entity(1, custodian=["https://gbc.example"]), 1, "custodian", "must be an http"),
        (with_entity(0, custodian="https://gbc.example/a b"), 0, "custodian", "characters"),
        (with_entity(0, custodian="https://gbc.example/?x=1"), 0, "custodian", "query"),
        (with_entity(0, custodian="https://u:p@gbc.example"), 0, "custodian", "credentials"),
        (with_entity(0, custodian="http://10.0.0.1:8000/"), 0, "custodian", "same server"),
    ],
)
def test_errors_name_the_entry_and_field(
    data: dict[str, Any], index: int | None, field: str, words: str
) -> None:
    with pytest.raises(GatewayRegistryError) as caught:
        parse_gateway_registry(data, source="reg.json")
    error = caught.value
    assert (error.index, error.field) == (index, field)
    where = field if index is None else f"entities[{index}].{field}"
    assert str(error).startswith(f"reg.json: {where}: ") and words in str(error)
    assert isinstance(error, ValueError) and error.code == "gateway_registry_invalid"


def test_a_custodian_makes_the_entity_split_and_old_entries_stay_as_they_were() -> None:
    custodian = "https://gbc.internal.example/GreenButtonConnect/"
    registry = parse_gateway_registry(with_entity(2, custodian=custodian))
    pce = registry.entity("PCE")
    assert pce.custodian == "https://gbc.internal.example/GreenButtonConnect"
    assert pce.upstream == "http://10.0.0.3:8000/pce" and pce.split
    assert [e.split for e in registry.entities] == [False, False, True]
    assert registry.entity("PGE").custodian is None
    assert [e["split"] for e in directory_document(registry)["entities"]] == [False, False, True]


def test_error_messages_say_what_the_custodian_is() -> None:
    with pytest.raises(GatewayRegistryError) as caught:
        parse_gateway_registry(with_entity(0, custodian="gbc"), source="reg.json")
    assert "entities[0].custodian" in str(caught.value)
    assert "existing Green Button Connect custodian" in str(caught.value)


def test_a_split_entity_routes_by_regex_locations_before_its_custodian() -> None:
    registry = parse_gateway_registry(
        with_entity(0, custodian="https://gbc.internal.example/GBC", upstream="http://b:9/bolt")
    )
    config = render_nginx_config(registry, prefix_dir="/srv/gw")
    point = r"^/SST/v1/PGE/espi/1_1/resource/Subscription/[^/]+/UsagePoint/[^/]+/"
    sst = "(?:RateInformation|BillComparison|RateChangeRequest)(?:/.*)?$"
    heads = [line.strip() for line in config.splitlines() if "location" in line and "PGE" in line]
    assert heads == [
        "location = /SST/v1/PGE/metrics {",  # never proxied (server/ops/metrics_endpoint.py)
        f"location ~ {point}{sst} {{",
        f"location ~ {point}UsageSummary(?:/[^/]+)?$ {{",
        "location ^~ /SST/v1/PGE/sst/ {",
        "location /SST/v1/PGE/ {",
    ]
    assert config.count("rewrite ^/SST/v1/PGE(/.*)$ /bolt$1 break;") == 2
    assert (
        "proxy_pass http://sst_pge;" in config and "proxy_pass http://sst_pge/bolt/sst/;" in config
    )
    assert "proxy_pass https://sst_pge_custodian/GBC/;" in config
    assert "upstream sst_pge_custodian {\n        server gbc.internal.example:443;" in config
    assert config.count("proxy_set_header X-Forwarded-Prefix /SST/v1/PGE;") == 3
    assert config.count('proxy_set_header X-Forwarded-Prefix "";') == 1
    assert "proxy_redirect /GBC/ /SST/v1/PGE/;" in config
    assert "proxy_cookie_path ~^/GBC(/(?!SST/v1/).*)?$ /SST/v1/PGE$1;" in config
    assert "proxy_cookie_path ~^/bolt(/(?!SST/v1/).*)?$ /SST/v1/PGE/sst$1;" in config
    assert "proxy_ssl_name gbc.internal.example;" in config  # the https custodian verified
    # Every proxying location keeps the gateway's guarantees: 4 PGE + LADWP + PCE.
    assert config.count("proxy_no_cache 1;") == config.count("proxy_max_temp_file_size 0;") == 6


def test_files_refuse_duplicate_keys_and_non_json(tmp_path: Path) -> None:
    duplicate = tmp_path / "dup.json"
    duplicate.write_text('{"format": "a", "format": "b"}')
    with pytest.raises(GatewayRegistryError, match="duplicate key 'format'"):
        load_gateway_registry(duplicate)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(GatewayRegistryError, match="not JSON"):
        load_gateway_registry(broken)
    with pytest.raises(GatewayRegistryError) as missing:
        load_gateway_registry(tmp_path / "missing.json")
    assert missing.value.code == "unreadable"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(document()))
    assert load_gateway_registry(good).source == str(good)


def test_the_directory_uses_the_servers_resource_path() -> None:
    assert RESOURCE_PATH == PREFIX
    entry = directory_document(parse_gateway_registry(document()))["entities"][2]
    assert entry["espi_resource_base"] == "https://sst.example.org/SST/v1/PCE" + PREFIX


def test_the_configuration_proxies_without_caching_or_disk() -> None:
    config = render_nginx_config(parse_gateway_registry(document()), prefix_dir="/srv/gw")
    assert "proxy_pass http://sst_pce/pce/;" in config  # through the entity's pool
    assert "upstream sst_pce {\n        server 10.0.0.3:8000;\n        keepalive 32;" in config
    assert "proxy_ssl_name " in config  # the https upstream is verified by its host name
    assert "proxy_set_header X-Forwarded-Prefix /SST/v1/PCE;" in config
    assert config.count("proxy_no_cache 1;") == 3 and "proxy_cache " not in config
    assert config.count("proxy_max_temp_file_size 0;") == 3
    assert "proxy_ssl_verify on;" in config  # the https upstream (LADWP) is verified
    assert "pid /srv/gw/nginx.pid;" in config and "daemon off;" not in config
    assert 'proxy_set_header X-SSL-Client-DN "";' in config  # no mTLS: never passed
    assert "listen 127.0.0.1:8443;" in config and "\n        ssl_" not in config  # no TLS


def test_tls_and_mutual_tls_options() -> None:
    registry = parse_gateway_registry(document())
    config = render_nginx_config(
        registry, tls_cert="/c.pem", tls_key="/k.pem", client_ca="/ca.pem", verify_client="on"
    )
    assert "listen 127.0.0.1:8443 ssl;" in config
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in config
    assert "ssl_verify_client on;" in config and "ssl_client_certificate /ca.pem;" in config
    assert "proxy_set_header X-SSL-Client-DN $sst_client_dn;" in config
    assert 'SUCCESS "dn:$ssl_client_s_dn";' in config  # the rate-limit key


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"tls_cert": "/c.pem"}, "both tls_cert and tls_key"),
        ({"client_ca": "/ca.pem"}, "needs TLS"),
        (
            {"tls_cert": "/c.pem", "tls_key": "/k.pem", "verify_client": "off"},
            "verify_client",
        ),
        ({"listen": "0.0.0.0:443; evil"}, "listen"),
        ({"rate": "10/s"}, "like 10r/s"),
        ({"burst": -1}, "burst"),
        ({"prefix_dir": "/srv/my gateway"}, "characters"),
        ({"tls_cert": "/c$host.pem", "tls_key": "/k.pem"}, "characters"),
        ({"user": "root; daemon on"}, "user"),
    ],
)
def test_unsafe_options_are_refused(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        render_nginx_config(parse_gateway_registry(document()), **options)
