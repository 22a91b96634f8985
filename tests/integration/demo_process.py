"""``espi-sst demo`` in its own process, and a customer's browser as plain HTTP (requests).

Shared by the end-to-end tests: the demo runs exactly as a developer starts it (seeded
SQLite, worker thread, mail sink, /demo/inbox); the "browser" signs in at the portal,
approves the consent page and follows nothing the test does not ask it to.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SST_CATEGORIES = ["basic", "billing", "usage", "sst:rin", "sst:bill_comparison", "sst:rate_change"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def demo_process(
    folder: Path, args: Sequence[str] = (), *, command: Sequence[str] | None = None, **env: str
) -> Iterator[dict[str, Any]]:
    """Run the demo until the block ends; yields its demo.json document.

    ``args``: more ``espi-sst demo`` options (``["--asp-port", "0"]`` when the test serves
    the demo ASP's notify URI itself); ``command``: what runs instead of ``espi-sst demo``
    (it takes the same options); ``env``: environment variables (``ESPI_*`` settings).
    """
    port = free_port()
    program = list(command or [str(Path(sys.executable).with_name("espi-sst")), "demo"])
    # Its output goes to files, not pipes: a pipe nobody reads until the end fills up (64 KiB
    # of request log) and then blocks the demo mid-request -- a long test hung that way.
    folder.mkdir(parents=True, exist_ok=True)
    out_path, err_path = folder / "demo.stdout", folder / "demo.stderr"
    with out_path.open("w") as out, err_path.open("w") as err_file:
        process = subprocess.Popen(
            [*program, "--port", str(port), "--data-dir", str(folder / "demo"), *args],
            stdout=out,
            stderr=err_file,
            text=True,
            env={**os.environ, **env},
        )
    try:
        demo_json = folder / "demo" / "demo.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if demo_json.exists():
                try:
                    requests.get(f"http://127.0.0.1:{port}/portal/login", timeout=2)
                    break
                except requests.ConnectionError:
                    pass
            time.sleep(0.3)
        if process.poll() is not None:
            raise AssertionError(err_path.read_text() or "demo exited")
        yield json.loads(demo_json.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    err = err_path.read_text()
    assert "Traceback" not in err, err


def patient_session() -> requests.Session:
    """A session that waits out a 429 as a person would.  The statewide gateway limits
    requests per client key (nginx limit_req), and requests without credentials are keyed by
    address: every browser and test here is 127.0.0.1, so one module's tests share one
    budget.  A person would wait a second and reload; this waits out Retry-After."""
    session = requests.Session()
    patient = HTTPAdapter(
        max_retries=Retry(
            total=5,
            status_forcelist=[429],
            allowed_methods=None,  # a 429 means nothing was done: POSTs too
            respect_retry_after_header=True,
            backoff_factor=0.5,
            raise_on_status=False,
        )
    )
    session.mount("http://", patient)
    return session


class CustomerBrowser:
    """A customer at the utility's portal: signs in, approves, revokes."""

    def __init__(self, base: str, customer: dict[str, Any]) -> None:
        self.base = base
        self.customer = customer
        self.http = patient_session()
        page = self.http.get(f"{base}/portal/login", timeout=10)
        signed_in = self.http.post(
            f"{base}/portal/login",
            data={
                "username": customer["username"],
                "password": customer["password"],
                "csrf_token": _csrf(page.text),
            },
            timeout=10,
            allow_redirects=False,
        )
        assert signed_in.status_code == 302, signed_in.text

    def approve(self, authorization_url: str, categories: list[str] | None = None) -> str:
        """Open the ASP's authorization URL, approve, return where the utility redirects."""
        consent = self.http.get(authorization_url, timeout=10)
        assert consent.status_code == 200, consent.text
        answer = self.http.post(
            consent.url,
            data={
                "csrf_token": _csrf(consent.text),
                "decision": "approve",
                "until_revoked": "y",
                # as a browser does: the boxes the page shows (all checked by default)
                "categories": categories or _offered(consent.text),
                "usage_points": self.customer["usage_points"],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        return str(answer.headers["Location"])

    def revoke_all(self) -> int:
        """Revoke every active grant as a person does: Revoke, then the confirmation page's
        "Yes" (this utility's portal, issue 13); a custodian whose list carries the revoke
        forms directly (tests/server/upstream/foreign) is answered in one step."""
        page = self.http.get(f"{self.base}/portal/authorizations", timeout=10)
        confirmations = re.findall(r'href="([^"]*/authorizations/[^"/]+/revoke)"', page.text)
        forms = [
            (page.text, authorization)
            for authorization in re.findall(r'name="authorization" value="([^"]+)"', page.text)
        ]
        for link in confirmations:
            confirm = self.http.get(urljoin(page.url, link), timeout=10)
            assert confirm.status_code == 200, confirm.text
            (authorization,) = re.findall(
                r'name="authorization" [^>]*value="([^"]+)"', confirm.text
            )
            forms.append((confirm.text, authorization))
        for html, authorization in forms:
            done = self.http.post(
                f"{self.base}/portal/authorizations/revoke",
                data={"csrf_token": _csrf(html), "authorization": authorization},
                timeout=10,
                allow_redirects=False,
            )
            assert done.status_code == 302, done.text
        return len(forms)


def newest_passcode(base: str, email: str, seen: int, timeout: float = 30) -> str:
    """The newest code in the customer's demo inbox, once more than ``seen`` arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = requests.get(f"{base}/demo/inbox/{email}", timeout=10).text
        codes = re.findall(r'class="passcode">(\d{6})<', page)
        if len(codes) > seen:
            return codes[0]
        time.sleep(0.3)
    raise AssertionError(f"no new passcode for {email}")


def path_of(url: str) -> str:
    return urlsplit(url).path


def _offered(html: str) -> list[str]:
    """The categories the consent page offers (its checkboxes); another custodian's page
    (tests/server/upstream) has its own markup: then every category, as before."""
    found = re.findall(r'name="categories" value="([^"]+)"', html)
    return found or list(SST_CATEGORIES)


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page carries a CSRF token"
    return match.group(1)
