"""A utility server behind the statewide gateway (TRUSTED_PROXY_HOPS, server/__init__.py):
with one trusted hop, every URL it builds carries the gateway's public origin and the
entity's /SST/v1/{ID} prefix; with none (the default), forwarded headers are ignored, so a
server reached directly cannot be talked into other URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from espi_sst_server import create_app
from flask import Flask, request

FORWARDED = {
    "X-Forwarded-For": "198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "sst.example.org",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/SST/v1/PGE",
}


def make(folder: Path, hops: int) -> Flask:
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/espi.db",
            "SECRET_KEY": "behind-the-gateway",
            "ISSUER": "https://sst.example.org/SST/v1/PGE",
            "TRUSTED_PROXY_HOPS": hops,
        }
    )

    @app.route("/_probe")
    def probe() -> dict[str, str | None]:
        return {"url_root": request.url_root, "remote_addr": request.remote_addr}

    return app


def test_one_trusted_hop_puts_the_gateway_in_every_url(tmp_path: Path) -> None:
    client = make(tmp_path, 1).test_client()
    probe = client.get("/_probe", headers=FORWARDED).get_json()
    assert probe == {
        "url_root": "https://sst.example.org/SST/v1/PGE/",
        "remote_addr": "198.51.100.7",
    }
    # A customer who is not signed in goes to the login page and comes back, all prefixed.
    answer = client.get("/portal/authorizations", headers=FORWARDED)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/SST/v1/PGE/portal/login"
    assert parse_qs(location.query)["next"] == ["/SST/v1/PGE/portal/authorizations"]


def test_without_trusted_hops_forwarded_headers_are_ignored(tmp_path: Path) -> None:
    client = make(tmp_path, 0).test_client()
    probe = client.get("/_probe", headers=FORWARDED).get_json()
    assert probe == {"url_root": "http://localhost/", "remote_addr": "127.0.0.1"}
    answer = client.get("/portal/authorizations", headers=FORWARDED)
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/portal/login"
    assert parse_qs(location.query)["next"] == ["/portal/authorizations"]
