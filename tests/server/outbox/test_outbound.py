"""SSRF through notify URIs (issue 11, items 12 and 25): the outbound policy of
server/outbox/outbound.py at registration and at send time, with real listeners on 127.0.0.1
that must receive nothing they should not, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from typing import Any

import pytest
from espi_sst_server import create_app
from espi_sst_server.lifecycle.registration import RegistrationError, register_application
from espi_sst_server.outbox.outbound import DestinationRefused, post, refusal
from espi_sst_server.outbox.queue import deliver_due, enqueue_asp_notification
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, AuditEvent, OutboxMessage
from flask import Flask
from listener import Listener
from sqlalchemy import select

REDIRECTS = ["https://asp.example/cb"]


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    made = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "t", "TESTING": True})
    yield made
    made.extensions["espi_sst_db"].engine.dispose()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


def _register(app: Flask, **changes: Any) -> str:
    arguments: dict[str, Any] = {
        "name": "ASP",
        "redirect_uris": REDIRECTS,
        "notify_uri": "https://asp.example/notify",
    }
    arguments.update(changes)
    with app.app_context():
        return register_application(db.session, **arguments).client_id


# ---- registration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "notify_uri",
    [
        "",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_SET",
        "ftp://asp.example/n",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/n",
        "http://10.0.0.1/n",
        "https://10.0.0.1/n",
        "https://192.168.1.10/n",
        "https://172.16.0.1/n",
        "https://100.64.0.1/n",  # carrier-grade NAT
        "http://[::1]:8080/n",
        "https://[::1]/n",
        "http://127.0.0.1:9/n",  # loopback while NOTIFY_ALLOW_LOOPBACK is off
        "https://127.0.0.1/n",
        "https://localhost/n",  # a name that resolves to loopback
        "https://0.0.0.0/n",
        "https://224.0.0.1/n",
        "https://[::ffff:169.254.169.254]/n",  # IPv4-mapped
        "https://[64:ff9b::a9fe:a9fe]/n",  # NAT64 of 169.254.169.254
        "https://[2002:a9fe:a9fe::1]/n",  # 6to4 of 169.254.169.254
        "https://[fc00::1]/n",
        "http://asp.example/n",  # http to a public name
        "https://user:secret@asp.example/n",
        "https:///n",
        "https://asp.example:99999/n",
    ],
)
def test_registration_refuses_notify_uris_outside_the_policy(app: Flask, notify_uri: str) -> None:
    with pytest.raises(RegistrationError, match="notify URI"):
        _register(app, notify_uri=notify_uri)
    with app.app_context():
        assert db.session.scalar(select(Application.id)) is None


@pytest.mark.parametrize(
    "notify_uri",
    [
        "https://asp.example/notify",  # does not resolve now: the send-time check guards it
        "https://8.8.8.8/notify",
        "https://[2001:4860:4860::8888]/notify",
    ],
)
def test_registration_accepts_public_https_notify_uris(app: Flask, notify_uri: str) -> None:
    assert _register(app, notify_uri=notify_uri).startswith("asp-")


def test_loopback_notify_uris_only_in_demo_and_test_mode(app: Flask) -> None:
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    for uri in ("http://127.0.0.1:8765/notify", "http://localhost:8765/notify", "http://[::1]:9/n"):
        assert _register(app, notify_uri=uri, name=uri)
    for uri in ("http://10.0.0.1/n", "https://169.254.169.254/", "http://asp.example/n"):
        with pytest.raises(RegistrationError, match="notify URI"):
            _register(app, notify_uri=uri)


@pytest.mark.parametrize(
    "client_uri",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://asp.example/",
        "http://127.0.0.1:8765/",  # loopback http only in demo mode
        "//asp.example/",
        "https://",
        "https://user@asp.example/",
    ],
)
def test_registration_refuses_a_client_uri_that_is_not_https(app: Flask, client_uri: str) -> None:
    """Issue 11, item 25: the consent page links to client_uri."""
    with pytest.raises(RegistrationError, match="client_uri"):
        _register(app, client_uri=client_uri)


def test_registration_keeps_an_https_client_uri(app: Flask) -> None:
    _register(app, client_uri="https://asp.example/about")
    _register(app, client_uri="  ", name="No page")
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    _register(app, client_uri="http://127.0.0.1:8765/", name="Demo")
    with app.app_context():
        uris = db.session.scalars(select(Application.client_uri).order_by(Application.id)).all()
    assert uris == ["https://asp.example/about", None, "http://127.0.0.1:8765/"]


# ---- send time ------------------------------------------------------------------------------


def _notify(app: Flask, client_id: str) -> None:
    with app.app_context():
        application = db.session.scalar(
            select(Application).where(Application.client_id == client_id)
        )
        assert application is not None
        enqueue_asp_notification(
            db.session, application=application, resources=["https://u.example/r/1"], now=1
        )
        db.session.commit()


def _deliver(app: Flask) -> OutboxMessage:
    with app.app_context():
        deliver_due(app, db.session, now=int(time.time()))
        (message,) = db.session.scalars(select(OutboxMessage)).all()
        db.session.expunge(message)
        return message


def test_a_destination_refused_at_send_time_is_never_contacted(
    app: Flask, listener: Listener
) -> None:
    """Registered while loopback was allowed; now it is not: nothing reaches the listener."""
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    client_id = _register(app, notify_uri=listener.url)
    _notify(app, client_id)
    app.config["NOTIFY_ALLOW_LOOPBACK"] = False
    message = _deliver(app)
    assert listener.connections == 0
    assert message.failed_at is not None and message.sent_at is None  # permanent, not retried
    assert "refused" in (message.last_error or "") and "loopback" in (message.last_error or "")
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "outbox_gave_up"))
        assert event is not None and "loopback" in event.detail["error"]


def test_the_allowed_loopback_receiver_gets_the_batch_list(app: Flask, listener: Listener) -> None:
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    _notify(app, _register(app, notify_uri=listener.url))
    message = _deliver(app)
    assert message.sent_at is not None and listener.connections == 1
    assert b"https://u.example/r/1" in listener.requests[0]
    assert b"Host: 127.0.0.1:" in listener.requests[0]


def test_redirects_are_not_followed(app: Flask) -> None:
    target = Listener()
    redirecting = Listener("redirect", location=target.url)
    try:
        app.config["NOTIFY_ALLOW_LOOPBACK"] = True
        _notify(app, _register(app, notify_uri=redirecting.url))
        message = _deliver(app)
        assert redirecting.connections == 1 and target.connections == 0
        assert message.sent_at is None and "302" in (message.last_error or "")
        assert "redirects are not followed" in (message.last_error or "")
    finally:
        target.close()
        redirecting.close()


def test_post_refuses_before_connecting(listener: Listener) -> None:
    for uri in (listener.url, f"https://localhost:{listener.port}/n", "https://10.0.0.1/n"):
        with pytest.raises(DestinationRefused):
            post(uri, b"x", {}, allow_loopback=False, connect_timeout=1, read_timeout=1)
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("169.254.169.254", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("100.64.0.1", False),
        ("192.0.0.8", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", False),  # NAT64: refused whatever it wraps
        ("fec0::1", False),  # deprecated site-local
        ("ff02::1", False),
        ("::", False),
    ],
)
def test_the_address_rule(address: str, allowed: bool) -> None:
    found = refusal(ipaddress.ip_address(address), allow_loopback=False)
    assert (found is None) is allowed, found


def test_the_pinned_address_is_checked_again_by_this_rule() -> None:
    """requests-hardened's own filter lets the deprecated site-local fec0::/10 through on
    Python 3.11; the adapter applies this module's rule to the address it pinned."""
    import requests
    from espi_sst_server.outbox.outbound import _PinnedAdapter

    prepared = requests.Request("POST", "http://[fec0::1]:9/n").prepare()
    adapter = _PinnedAdapter(https=False, allow_loopback=False)
    with pytest.raises(DestinationRefused, match="fec0::1"):
        adapter.build_connection_pool_key_attributes(prepared, True)
    adapter.close()
