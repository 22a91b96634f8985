"""The demo's mail sink and inbox page (server/demo/mail_sink.py, server/demo/inbox.py).

Mail goes over real SMTP on 127.0.0.1 (smtplib directly, or the server's SmtpNotifier) into
the sink's Maildir; the page is read through Flask's test client on a real app.
"""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from espi_sst_server import create_app
from espi_sst_server.demo.inbox import find_passcodes
from espi_sst_server.demo.mail_sink import MailSink, read_maildir
from espi_sst_server.outbox.mail import SmtpNotifier, compose
from flask import Flask
from flask.testing import FlaskClient

SENDER = "Demo Utility <no-reply@utility.example>"
ALEX = "alex.rivera@example.com"
BLAKE = "blake.chen@example.com"


def _mail(sink: MailSink, to: str, subject: str, text: str) -> None:
    """One message through the server's own SMTP notifier."""
    notifier = SmtpNotifier("127.0.0.1", sink.port, SENDER, starttls=False, timeout=5)
    notifier.send(compose(to=to, subject=subject, text=text, sender=SENDER))


# -- the sink ------------------------------------------------------------------------------


def test_the_sink_listens_on_the_port_the_system_chose(tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "mail")
    assert sink.port == 0 and not sink.running
    with sink:
        assert sink.port > 0 and sink.running
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            assert client.noop()[0] == 250
        port = sink.port
    assert not sink.running
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_the_sink_files_mail_and_reads_it_back_newest_first(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail") as sink:
        _mail(sink, ALEX, "First", "one")
        time.sleep(0.01)  # distinct delivery times even on coarse file systems
        _mail(sink, BLAKE, "For Blake", "two")
        time.sleep(0.01)
        _mail(sink, f"Alex Rivera <{ALEX.upper()}>", "Second", "three")
        assert [m.subject for m in sink.messages()] == ["Second", "For Blake", "First"]
        assert [m.subject for m in sink.messages(ALEX)] == ["Second", "First"]
        assert [m.subject for m in sink.messages(BLAKE.upper())] == ["For Blake"]
        newest = sink.messages(ALEX)[0]
        assert newest.sender == SENDER and newest.text == "three\n"
        assert newest.to == f"Alex Rivera <{ALEX.upper()}>"
        assert newest.recipients == (ALEX,)
        assert newest.date.tzinfo is not None and newest.message_id.endswith("@utility.example>")
    # The Maildir outlives the sink: the web page reads it without one.
    assert [m.subject for m in read_maildir(tmp_path / "mail", ALEX)] == ["Second", "First"]


def test_the_envelope_decides_whose_inbox_a_message_is_in(tmp_path: Path) -> None:
    """A Bcc'd recipient gets the message though no header names them."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ALEX
    message["Subject"] = "Copy"
    message.set_content("body")
    with MailSink(tmp_path / "mail") as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            client.send_message(message, to_addrs=[ALEX, BLAKE])
        assert [m.subject for m in sink.messages(BLAKE)] == ["Copy"]


def test_an_html_only_message_still_shows_its_text(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ALEX
    message.set_content("<p>Code <b>123456</b></p>", subtype="html")
    with MailSink(tmp_path / "mail") as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            client.send_message(message)
        [received] = sink.messages(ALEX)
    assert received.subject == "" and "123456" in received.text


def test_the_sink_reuses_an_existing_maildir(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()  # an empty folder, not yet a Maildir
    with MailSink(tmp_path / "mail") as sink:
        _mail(sink, ALEX, "Kept", "x")
    with MailSink(tmp_path / "mail") as sink:
        _mail(sink, ALEX, "Also kept", "y")
        assert {m.subject for m in sink.messages()} == {"Kept", "Also kept"}


def test_a_missing_maildir_is_an_empty_inbox_and_is_not_created(tmp_path: Path) -> None:
    assert read_maildir(tmp_path / "nothing-yet") == []
    assert not (tmp_path / "nothing-yet").exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "mail.example"])
def test_the_sink_listens_on_loopback_only(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        MailSink(tmp_path / "mail", host=host)


def test_the_sink_may_listen_on_ipv6_loopback(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")
    with MailSink(tmp_path / "mail", host="::1") as sink:
        with smtplib.SMTP("::1", sink.port, timeout=5) as client:
            client.sendmail(SENDER, [ALEX], b"Subject: v6\r\n\r\nhello\r\n")
        assert [m.subject for m in sink.messages(ALEX)] == ["v6"]


def test_starting_twice_is_refused(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail") as sink, pytest.raises(RuntimeError, match="already"):
        sink.start()


# -- passcode detection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Your passcode is 482913.", ["482913"]),
        ("Code: 48291377\nIt expires in 10 minutes.", ["48291377"]),
        ("482913", ["482913"]),
        ("On 2026-01-15 at 10:30, account 1234-5678-9012", []),
        ("Call 555-123-4567 or 5551234567", []),
        ("Usage 1234567.5 kWh, 12345 Wh", []),
        ("ref ABC123456 and 123456XYZ", []),
    ],
)
def test_passcodes_are_found_and_other_numbers_are_not(text: str, codes: list[str]) -> None:
    assert find_passcodes(text) == codes


# -- the inbox page ------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxWorld:
    app: Flask
    client: FlaskClient
    sink: MailSink


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InboxWorld]:
    """A demo app whose DEMO_MAILDIR is a running sink's, with mail for Alex and one stranger."""
    folder = tmp_path_factory.mktemp("inbox")
    with MailSink(folder / "mail") as sink:
        _mail(sink, ALEX, "Welcome", "Hello Alex")
        time.sleep(0.01)
        _mail(
            sink,
            ALEX,
            "Confirm your rate change <script>alert(1)</script>",
            "Your passcode is 482913.\nIt expires in 10 minutes.\n<b>not bold</b>",
        )
        _mail(sink, "someone.else@example.org", "Not a customer", "x")
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{folder}/inbox.db",
                "DEMO_MAILDIR": str(sink.maildir),
                "UTILITY_NAME": "Demo Utility",
            }
        )
        try:
            yield InboxWorld(app, app.test_client(), sink)
        finally:
            app.extensions["espi_sst_db"].engine.dispose()


def test_the_inbox_lists_every_demo_customer_with_the_newest_message_first(
    inbox: InboxWorld,
) -> None:
    response = inbox.client.get("/demo/inbox")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert (
        "Demo mail sink: messages the demo utility sent; a real utility sends real e-mail" in page
    )
    for name in ("Alex Rivera", "Blake Chen", "Casey Nguyen", "Dana Okafor"):
        assert name in page
    assert "someone.else@example.org" in page and "Not a customer" in page
    assert page.index("Confirm your rate change") < page.index("Welcome")
    assert "No messages yet." in page  # Blake, Casey and Dana


def test_the_passcode_stands_out(inbox: InboxWorld) -> None:
    page = inbox.client.get("/demo/inbox").get_data(as_text=True)
    assert '<strong class="passcode">482913</strong>' in page
    assert '<mark class="passcode">482913</mark>' in page


def test_the_inbox_escapes_what_the_mail_says(inbox: InboxWorld) -> None:
    page = inbox.client.get("/demo/inbox").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<b>not bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page


def test_the_inbox_refreshes_itself_and_is_never_cached(inbox: InboxWorld) -> None:
    response = inbox.client.get("/demo/inbox")
    assert '<meta http-equiv="refresh" content="5">' in response.get_data(as_text=True)
    assert response.headers["Refresh"] == "5"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_new_message_shows_on_the_next_load(inbox: InboxWorld) -> None:
    _mail(inbox.sink, "dana.okafor@example.com", "Dana's code", "Your passcode is 777001.")
    page = inbox.client.get("/demo/inbox/dana.okafor@example.com").get_data(as_text=True)
    assert "Dana&#39;s code" in page and '<strong class="passcode">777001</strong>' in page


def test_one_recipient_sees_only_their_mail(inbox: InboxWorld) -> None:
    response = inbox.client.get(f"/demo/inbox/{ALEX.upper()}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Inbox of {ALEX}" in page and "Alex Rivera" in page
    assert "Welcome" in page and "Not a customer" not in page


def test_a_demo_customer_without_mail_has_an_empty_inbox(inbox: InboxWorld) -> None:
    response = inbox.client.get(f"/demo/inbox/{BLAKE}")
    assert response.status_code == 200
    assert "No messages yet." in response.get_data(as_text=True)


def test_an_unknown_address_is_404_and_keeps_refreshing(inbox: InboxWorld) -> None:
    response = inbox.client.get("/demo/inbox/<nobody>@example.org")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "No mail for &lt;nobody&gt;@example.org yet" in page
    assert response.headers["Refresh"] == "5"


def test_without_demo_maildir_there_is_no_inbox(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/plain.db"})
    try:
        assert "demo_inbox" not in app.blueprints
        assert app.test_client().get("/demo/inbox").status_code == 404
    finally:
        app.extensions["espi_sst_db"].engine.dispose()
