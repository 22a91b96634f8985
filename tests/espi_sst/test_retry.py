"""The one retry policy (espi_sst/retry.py) against a scripted server on a real socket.

Its callers' guarantees are pinned where they are used (client/test_api.py,
midas/test_client.py, the bolt-on's upstream tests, the rate-analysis API adapter's tests in
tests/server/sst/test_adapter_comparisons.py); these tests pin the rules themselves: what
is retried, for which requests, how long it pauses, when it stops.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from espi_sst.retry import RetryPolicy, retry_after_seconds, send_with_retries


class Scripted:
    """A server answering each request with the next scripted (status, headers); 200 after."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, str]]] = []
        self.count = 0
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                script.count += 1
                status, headers = script.replies.pop(0) if script.replies else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


FAST = RetryPolicy(retries=2, backoff=0.01)


def test_answers_that_may_pass_are_retried_to_success(
    server: Scripted, session: requests.Session
) -> None:
    server.replies = [(503, {}), (502, {})]
    outcome = send_with_retries(lambda: session.get(server.url, timeout=5), FAST)
    assert outcome.response is not None and outcome.response.status_code == 200
    assert outcome.attempts == 3 == server.count


def test_after_the_last_retry_the_last_answer_is_returned(
    server: Scripted, session: requests.Session
) -> None:
    server.replies = [(500, {})] * 5
    outcome = send_with_retries(lambda: session.get(server.url, timeout=5), FAST)
    assert outcome.response is not None and outcome.response.status_code == 500
    assert outcome.attempts == 3 == server.count and outcome.failure is None


@pytest.mark.parametrize("status", [400, 404, 409, 501])
def test_other_statuses_are_final(server: Scripted, session: requests.Session, status: int) -> None:
    server.replies = [(status, {})]
    outcome = send_with_retries(lambda: session.get(server.url, timeout=5), FAST)
    assert outcome.response is not None and outcome.response.status_code == status
    assert server.count == 1


def test_a_request_that_is_not_idempotent_is_not_repeated_after_a_5xx_but_after_a_429(
    server: Scripted, session: requests.Session
) -> None:
    server.replies = [(503, {})]
    outcome = send_with_retries(lambda: session.post(server.url, timeout=5), FAST, idempotent=False)
    assert outcome.response is not None and outcome.response.status_code == 503
    assert server.count == 1
    server.replies = [(429, {"Retry-After": "0"})]
    outcome = send_with_retries(lambda: session.post(server.url, timeout=5), FAST, idempotent=False)
    assert outcome.response is not None and outcome.response.status_code == 200
    assert server.count == 3


def test_retry_after_is_honoured_within_max_wait(
    server: Scripted, session: requests.Session
) -> None:
    policy = RetryPolicy(retries=2, backoff=0.01, max_wait=1.5)
    server.replies = [(429, {"Retry-After": "1"})]
    began = time.monotonic()
    outcome = send_with_retries(lambda: session.get(server.url, timeout=5), policy)
    assert time.monotonic() - began >= 1.0
    assert outcome.response is not None and outcome.response.status_code == 200
    server.replies = [(429, {"Retry-After": "1"})] * 3
    began = time.monotonic()
    outcome = send_with_retries(lambda: session.get(server.url, timeout=5), policy)
    assert time.monotonic() - began < 1.5, "the second pause would pass max_wait: not slept"
    assert outcome.response is not None and outcome.response.status_code == 429
    assert outcome.attempts == 2 and outcome.retry_after == 1.0


def test_a_retry_after_beyond_max_wait_ends_the_retries_at_once(
    server: Scripted, session: requests.Session
) -> None:
    server.replies = [(503, {"Retry-After": "120"})]
    began = time.monotonic()
    outcome = send_with_retries(
        lambda: session.get(server.url, timeout=5), RetryPolicy(max_wait=30)
    )
    assert time.monotonic() - began < 1
    assert outcome.attempts == 1 and outcome.retry_after == 120


def test_a_policy_that_ignores_retry_after_backs_off_and_still_reports_it(
    server: Scripted, session: requests.Session
) -> None:
    policy = RetryPolicy(retries=1, backoff=0.01, honour_retry_after=False)
    server.replies = [(503, {"Retry-After": "120"})] * 2
    began = time.monotonic()
    outcome = send_with_retries(lambda: session.get(server.url, timeout=5), policy)
    assert time.monotonic() - began < 1
    assert outcome.attempts == 2 and outcome.retry_after == 120


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(backoff=0.2, max_backoff=1.0)
    assert [policy.pause(n, None) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1.0]
    assert policy.pause(1, 7.0) == 7.0
    assert RetryPolicy(honour_retry_after=False, backoff=0.5).pause(1, 7.0) == 0.5
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/"


def test_connection_failures_are_retried_then_returned_as_the_failure(
    session: requests.Session,
) -> None:
    url = closed_port_url()
    calls = 0

    def send() -> requests.Response:
        nonlocal calls
        calls += 1
        return session.get(url, timeout=5)

    outcome = send_with_retries(send, FAST)
    assert outcome.response is None and isinstance(outcome.failure, requests.ConnectionError)
    assert outcome.attempts == calls == 3
    calls = 0
    outcome = send_with_retries(send, FAST, idempotent=False)
    assert calls == 1 and isinstance(outcome.failure, requests.ConnectionError)


def test_a_timeout_is_returned_as_such() -> None:
    with socket.socket() as silent, requests.Session() as session:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        outcome = send_with_retries(
            lambda: session.get(url, timeout=(1, 0.2)), RetryPolicy(retries=1, backoff=0)
        )
    assert isinstance(outcome.failure, requests.Timeout) and outcome.attempts == 2


def test_an_error_that_would_fail_again_is_raised_at_once(session: requests.Session) -> None:
    calls = 0

    def send() -> requests.Response:
        nonlocal calls
        calls += 1
        return session.get("http://[invalid", timeout=5)

    with pytest.raises(requests.exceptions.InvalidURL):
        send_with_retries(send, FAST)
    assert calls == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 3 ", 3.0),
        ("-5", 0.0),
        ("inf", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    found = retry_after_seconds(later)
    assert found is not None and 85 <= found <= 90
