"""People at the statewide demo's central authority, through HTTP (issue 20): an ASP that signs
up, confirms its address from the demo's mail sink, signs in with its TOTP code and submits
its registration once; the authority's staff who approve, suspend or withdraw it.  And the
network between the authority and the entities, where an attacker may sit."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyotp
import requests
from demo_process import CSRF
from espi_sst_server.demo.mail_sink import read_maildir

PASSWORD = "asp staff password 99"
PDF = ("attestation.pdf", b"%PDF-1.4 attested\n%%EOF", "application/pdf")
CRITERIA = ("us_data_storage", "ccpa_cpra", "covered_entity", "terms_acceptance")


def csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _post_form(
    browser: requests.Session, url: str, data: dict[str, Any], **kwargs: Any
) -> requests.Response:
    data = {**data, "csrf_token": csrf(browser.get(url, timeout=10).text)}
    return browser.post(url, data=data, allow_redirects=False, timeout=10, **kwargs)


def _sign_in(browser: requests.Session, url: str, email: str, password: str, secret: str) -> str:
    """Signed in with the current TOTP code; where the authority sends the person."""
    answer = _post_form(
        browser,
        f"{url}/sign-in",
        {"email": email, "password": password, "code": pyotp.TOTP(secret).now()},
    )
    assert answer.status_code == 303, answer.text[:500]
    return str(answer.headers["Location"])


def register_asp(
    authority: dict[str, Any], maildir: Path, software_id: str, redirect_uri: str
) -> None:
    """An ASP organisation signs up, confirms its e-mail with the link the sink caught, signs
    in and submits one registration (rate-change class, every criterion attested)."""
    url = authority["url"]
    email = f"ops@{software_id}.example"
    browser = requests.Session()
    signed_up = _post_form(
        browser,
        f"{url}/sign-up",
        {"organisation": f"{software_id} Inc.", "email": email, "password": PASSWORD},
    )
    assert signed_up.status_code == 200, signed_up.text[:500]
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', signed_up.text)
    assert secret, "the sign-up page shows the TOTP key once"
    link = None
    deadline = time.monotonic() + 20
    while link is None and time.monotonic() < deadline:
        for message in read_maildir(maildir, to=email):
            link = re.search(r"(http://\S+/verify\?token=\S+)", message.text)
        time.sleep(0.2)
    assert link, f"no verification e-mail for {email} in {maildir}"
    assert browser.get(link.group(1), timeout=10).status_code == 200
    assert _sign_in(browser, url, email, PASSWORD, secret.group(1)).endswith("/registration")
    submitted = _post_form(
        browser,
        f"{url}/registration",
        {
            "legal_entity": f"{software_id} Inc.",
            "software_id": software_id,
            "software_name": f"{software_id} (ASP)",
            "contact_technical": f"tech@{software_id}.example",
            "contact_business": f"biz@{software_id}.example",
            "redirect_uris": redirect_uri,
            "notify_uri": redirect_uri.rsplit("/", 1)[0] + "/notify",
            "asp_class": "rate-change",
            "terms_version": "1",
            **{f"attest_{c}": "yes" for c in CRITERIA},
        },
        files={f"document_{c}": PDF for c in CRITERIA},
    )
    assert submitted.status_code == 303, submitted.text[:800]


class Staff:
    """The authority's member of staff of demo.json, signed in."""

    def __init__(self, authority: dict[str, Any]) -> None:
        self.url = authority["url"]
        self.browser = requests.Session()
        staff = authority["staff"]
        landed = _sign_in(
            self.browser, self.url, staff["email"], staff["password"], staff["totp_secret"]
        )
        assert landed.endswith("/staff")

    def queue(self) -> str:
        """The review queue page (registrations, decisions, reports, complaints)."""
        page = self.browser.get(f"{self.url}/staff", timeout=10)
        assert page.status_code == 200, page.status_code
        return page.text

    def decide(self, software_id: str, action: str, reason: str) -> int:
        """``action`` on the registration of ``software_id``; the list sequence it published."""
        queue = self.queue()
        found = re.search(rf'/staff/registrations/(\d+)">{re.escape(software_id)}<', queue)
        assert found, f"{software_id} is not in the staff queue"
        page = f"{self.url}/staff/registrations/{found.group(1)}"
        token = csrf(self.browser.get(page, timeout=10).text)
        answer = self.browser.post(
            f"{page}/decision",
            data={"action": action, "reason": reason, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 303, answer.text[:500]
        return published_sequence(self.url)


def published_sequence(authority_url: str) -> int:
    """The sequence of the authority's newest list (read, not verified: the test's view)."""
    body = requests.get(f"{authority_url}/registry", timeout=10).text
    return int(payload_of(body)["sequence"])


def payload_of(compact_jws: str) -> dict[str, Any]:
    encoded = compact_jws.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))))


def with_payload(compact_jws: str, payload: dict[str, Any]) -> str:
    """The same header and signature over another payload: what a tamperer sends."""
    head, _old, signature = compact_jws.split(".")
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{signature}"


@dataclass
class Network:
    """A forwarding proxy between the entities and the authority (``--registry-url``): it
    passes everything through, unless ``forge`` is set -- then ``GET /registry`` answers
    ``forge(the authority's current list)`` instead, as an attacker on the path would."""

    upstream: str
    forge: Callable[[str], str] | None = None
    served: list[str] = field(default_factory=list)
    url: str = ""

    def current_list(self) -> str:
        return requests.get(f"{self.upstream}/registry", timeout=10).text


def _proxy_handler(network: Network) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("accept", "authorization", "content-type", "if-none-match")
            }
            try:
                answer = requests.request(
                    method, network.upstream + self.path, data=body, headers=headers, timeout=10
                )
            except requests.RequestException:
                return self._answer(502, {}, b"")
            kept = {
                k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "etag")
            }
            self._answer(answer.status_code, kept, answer.content)

        def do_GET(self) -> None:
            forge = network.forge
            if self.path == "/registry" and forge is not None:
                forged = forge(network.current_list()).encode()
                network.served.append(forged.decode())
                etag = '"' + hashlib.sha256(forged).hexdigest() + '"'
                return self._answer(200, {"Content-Type": "application/jose", "ETag": etag}, forged)
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

    return Handler


@contextmanager
def network_between(upstream: str, port: int) -> Iterator[Network]:
    network = Network(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", port), _proxy_handler(network))
    network.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield network
    finally:
        server.shutdown()
        server.server_close()


def entity_rows(data_dir: Path, entity: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of the entity's own SQLite database (read only; the demo keeps writing it)."""
    uri = f"file:{data_dir / (entity.lower() + '.db')}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=10) as connection:
        return list(connection.execute(sql, params))


def registry_events(data_dir: Path, entity: str, after: int = 0) -> list[tuple[int, str, dict]]:
    """(id, action, detail) of the entity's ``registry_synced`` / ``registry_refused`` audit
    rows with an id above ``after``."""
    return [
        (row_id, action, json.loads(detail))
        for row_id, action, detail in entity_rows(
            data_dir,
            entity,
            "SELECT id, action, detail FROM audit_event WHERE id > ? AND action IN "
            "('registry_synced', 'registry_refused') ORDER BY id",
            after,
        )
    ]


def last_audit_id(data_dir: Path, entity: str) -> int:
    return int(entity_rows(data_dir, entity, "SELECT COALESCE(MAX(id), 0) FROM audit_event")[0][0])


def client_row(data_dir: Path, entity: str, software_id: str) -> dict[str, Any] | None:
    rows = entity_rows(
        data_dir,
        entity,
        "SELECT client_id, qualification, redirect_uris, client_name FROM application "
        "WHERE software_id = ?",
        software_id,
    )
    if not rows:
        return None
    ((client_id, qualification, redirect_uris, name),) = rows
    return {
        "client_id": client_id,
        "qualification": qualification,
        "redirect_uris": json.loads(redirect_uris),
        "name": name,
    }


def wait_until(what: str, condition: Callable[[], Any], timeout: float = 30) -> Any:
    """``condition()``'s first true value, polled; fails saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"within {timeout:g} s: {what}")
