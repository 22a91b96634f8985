"""The request id across the gateway and the app (issue 16, Logs), through real nginx: the
id nginx writes in its access log is the one the app logs and answers in X-Request-Id; a
client's own X-Request-Id never passes the gateway; nginx's log has no query string."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import requests
from gateway_world import gateway_world


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_nginx_and_the_app_log_the_same_request_id(tmp_path: Path) -> None:
    captured = Records()
    logger = logging.getLogger("espi_sst_server.request")
    logger.addHandler(captured)
    logger.setLevel(logging.INFO)
    try:
        with gateway_world(tmp_path) as world:
            answer = requests.get(
                world.issuer("PGE") + "/.well-known/openid-configuration",
                params={"code": "not-for-logs-0042"},
                headers={"X-Request-Id": "forged-by-the-client"},
                timeout=10,
            )
            assert answer.status_code == 200
            access_log = world.files.directory / "logs" / "access.log"
            deadline = time.monotonic() + 5
            while "openid-configuration" not in access_log.read_text():
                assert time.monotonic() < deadline, "nginx logged nothing"
                time.sleep(0.05)
            logged_by_nginx = access_log.read_text()
    finally:
        logger.removeHandler(captured)
    (line,) = [x for x in logged_by_nginx.splitlines() if "openid-configuration" in x]
    nginx_id = re.search(r"request_id=([0-9a-f]{32})\b", line)
    assert nginx_id, line
    (app_line,) = [r for r in captured.records if r.path.endswith("/openid-configuration")]  # type: ignore[attr-defined]
    assert app_line.request_id == nginx_id.group(1)  # type: ignore[attr-defined]
    assert answer.headers["X-Request-Id"] == nginx_id.group(1)
    assert "forged-by-the-client" not in logged_by_nginx + answer.headers["X-Request-Id"]
    assert "not-for-logs-0042" not in logged_by_nginx  # $uri: the path without its query
    assert app_line.remote_addr == "127.0.0.1"  # type: ignore[attr-defined]
    assert app_line.endpoint == "oauth.discovery"  # type: ignore[attr-defined]
