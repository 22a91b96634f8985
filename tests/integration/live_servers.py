"""Live servers on 127.0.0.1 for end-to-end tests: the seeded demo utility served over real
HTTP, a callback receiver for the ASP side, and Debian's Chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from espi_sst_server import create_app
from espi_sst_server.demo import DemoData, seed
from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.storage import db
from werkzeug.serving import make_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Callback(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body><p id='done'>Back at the ASP.</p></body></html>")

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class LiveUtility:
    issuer: str
    demo: DemoData
    client_id: str
    client_secret: str
    redirect_uri: str
    callback_requests: list[str]


@pytest.fixture(scope="module")
def live_utility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveUtility]:
    folder = tmp_path_factory.mktemp("live")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/live.db",
            "ISSUER": issuer,
            "SECRET_KEY": "live-test",
            "NOTIFY_ALLOW_LOOPBACK": True,  # the test's ASP receives on 127.0.0.1
        }
    )
    callback = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    callback.requests = []  # type: ignore[attr-defined]
    redirect_uri = f"http://127.0.0.1:{callback.server_address[1]}/callback"
    with app.app_context():
        with db.transaction() as session:
            demo = seed(session, now=int(time.time()))
        registered = register_application(
            db.session,
            name="End-to-end ASP",
            redirect_uris=[redirect_uri],
            notify_uri=redirect_uri + "/notify",
            asp_class="rate-change",  # the flows include rate changes (concept design 6.4.2.2)
        )
    server = make_server("127.0.0.1", port, app, threaded=True)
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=callback.serve_forever, daemon=True),
    ]
    for thread in threads:
        thread.start()
    assert registered.client_secret is not None
    try:
        yield LiveUtility(
            issuer,
            demo,
            registered.client_id,
            registered.client_secret,
            redirect_uri,
            callback.requests,
        )  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        callback.shutdown()
        callback.server_close()
        app.extensions["espi_sst_db"].engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        if os.environ.get("ESPI_REQUIRE_BROWSER"):
            pytest.fail("ESPI_REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
    ):
        options.add_argument(flag)
    options.add_argument(
        f"--user-data-dir={Path(os.environ.get('TMPDIR', '/tmp')) / ('espi-chromium-' + str(os.getpid()))}"
    )
    instance = webdriver.Chrome(service=Service(driver), options=options)
    instance.set_page_load_timeout(30)
    try:
        yield instance
    finally:
        instance.quit()
