"""The log formats, settings and the redaction filter (server/observability/logs.py), and
gunicorn's own access log (off by default; with the format docs/operations.md gives, or
even gunicorn's default format, no query-string secret reaches it)."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from espi_sst_server.observability.logs import (
    LogSettingError,
    RedactingFilter,
    accepted_request_id,
    configure_logging,
    current_request_id,
    redact,
)

BIN = Path(sys.executable).parent


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("code=abc123&state=st1", "state=st1", "abc123"),
        ("grant_type=refresh_token&refresh_token=r-XYZ.1", "grant_type=refresh_token", "r-XYZ.1"),
        ('{"access_token": "at.1-2", "token_type": "Bearer"}', '"token_type"', "at.1-2"),
        ("{'password': 'correct horse', 'username': 'alice'}", "alice", "correct horse"),
        ("Authorization: Basic ZGVtbzpzM2NyZXQ=", "Authorization", "ZGVtbzpzM2NyZXQ="),
        ("headers {'Authorization': 'Bearer eyJ.a.b'}", "Authorization", "eyJ.a.b"),
        ("Cookie: session=.eJw-abc; theme=dark", "Cookie", ".eJw-abc"),
        ("Your confirmation code is: 493027", "confirmation code", "493027"),
        ("postgresql+psycopg://espi:pa55@db/espi", "postgresql+psycopg://espi:", "pa55"),
        ("client_secret=s3cret&client_id=asp", "client_id=asp", "s3cret"),
        ("code_verifier=v-123", "code_verifier", "v-123"),
    ],
)
def test_redaction_keeps_the_names_and_drops_the_values(text: str, kept: str, gone: str) -> None:
    screened = redact(text)
    assert kept in screened and gone not in screened and "[redacted]" in screened


def test_names_that_only_look_alike_are_kept() -> None:
    text = "error_code=invalid_grant code_challenge=abc csrf_token_age=3 state=xyz"
    assert redact(text) == text


def test_exception_text_and_extras_are_screened(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, environ={"ESPI_LOG_FORMAT": "json"})
    try:
        raise ValueError("refused token=tok-SECRET-1 for client")
    except ValueError:
        logging.getLogger("espi_sst_server.test").exception(
            "failed with %s",
            {"refresh_token": "rt-SECRET-2"},
            extra={"detail": "password=pw-SECRET-3"},
        )
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert "SECRET" not in json.dumps(line)
    assert line["level"] == "ERROR" and "ValueError" in line["exception"]
    assert line["detail"] == "password=[redacted]"


def test_text_format_and_bad_settings(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging(
        stream=stream, environ={"ESPI_LOG_FORMAT": "text", "ESPI_LOG_LEVEL": "warning"}
    )
    logging.getLogger("espi_sst_server.test").info("hidden below WARNING")
    logging.getLogger("espi_sst_server.test").warning("shown %s", "here", extra={"lane": "email"})
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("WARNING espi_sst_server.test shown here lane=email")
    with pytest.raises(LogSettingError, match="ESPI_LOG_FORMAT='xml'"):
        configure_logging(environ={"ESPI_LOG_FORMAT": "xml"})
    with pytest.raises(LogSettingError, match="ESPI_LOG_LEVEL='LOUD'"):
        configure_logging(environ={"ESPI_LOG_LEVEL": "loud"})


def test_an_unclosed_answer_leaves_no_request_id_on_the_thread(tmp_path: Path) -> None:
    """The id is the request's alone: once the app has returned its answer, the thread's
    later lines carry none, even when the server never closes the body (a test client's
    unbuffered answer); a streamed body gets it back while it is written."""
    from espi_sst_server import create_app

    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/ids.db", "SECRET_KEY": "test", "TESTING": True}
    )
    answer = app.test_client().get(
        "/healthz", headers={"X-Request-Id": "req-leak-check-1"}, buffered=False
    )
    assert answer.headers["X-Request-Id"] == "req-leak-check-1"
    assert current_request_id() is None
    answer.close()
    assert current_request_id() is None


def test_a_bad_log_setting_ends_the_worker_with_its_message(tmp_path: Path) -> None:
    env = dict(os.environ, ESPI_LOG_FORMAT="xml", ESPI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    done = subprocess.run(
        [str(BIN / "espi-sst"), "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ESPI_LOG_FORMAT='xml': must be one of json, text" in done.stderr
    assert "Traceback" not in done.stderr


def test_request_ids_from_outside_are_bounded_and_safe() -> None:
    assert (
        accepted_request_id("0123456789abcdef0123456789abcdef")
        == "0123456789abcdef0123456789abcdef"
    )
    for bad in (None, "", "short", "x" * 129, "id with spaces 123", 'id"}\n{"level":"ERROR'):
        fresh = accepted_request_id(bad)
        assert fresh != bad and len(fresh) == 32 and int(fresh, 16) >= 0


def test_a_record_is_screened_once_for_all_handlers() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Bearer %s", ("abc.def",), None)
    assert RedactingFilter().filter(record) and RedactingFilter().filter(record)
    assert record.getMessage() == "Bearer [redacted]"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "access_format",
    [
        None,  # gunicorn's default format: "%(r)s" is the request line, query string and all
        '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s',  # docs/operations.md
    ],
)
def test_gunicorns_access_log_carries_no_query_string_secret(
    tmp_path: Path, access_format: str | None
) -> None:
    port = _free_port()
    env = dict(
        os.environ,
        ESPI_DATABASE_URL=f"sqlite:///{tmp_path}/espi.db",
        ESPI_SECRET_KEY="access-log",
        ESPI_ISSUER=f"http://127.0.0.1:{port}",
    )
    args = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "--access-logfile", "-"]
    if access_format is not None:
        args += ["--access-logformat", access_format]
    process = subprocess.Popen(
        [*args, "espi_sst_server.wsgi:app"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/oauth/authorize",
                    params={
                        "client_id": "x",
                        "code": "query-SECRET-1",
                        "code_verifier": "query-SECRET-2",
                    },
                    timeout=5,
                    allow_redirects=False,
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "/oauth/authorize" in output, output
    assert "query-SECRET" not in output
    if access_format is not None:
        assert "client_id=x" not in output and answer.headers["X-Request-Id"] in output
