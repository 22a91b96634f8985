"""Where the utility's one-time passcodes arrive: the customer confirms a rate change with one.

Concept design 7.6 ("Class 2" authorization): the utility sends the passcode to the customer
out of band; the ASP relays what the customer types.  The kit plays the customer, so it must
read that message: from an inbox web page (the demo's ``/demo/inbox/{email}``), an IMAP
mailbox, or a person typing it in.  Each source first notes the passcodes already there,
then waits for a new one, so an old message is never mistaken for the new passcode.
"""

from __future__ import annotations

import email
import imaplib
import re
import sys
import time
from email.message import Message
from typing import Protocol
from urllib.parse import quote

from .config import CustomerConfig, PasscodeConfig
from .errors import ScenarioFailed, ScenarioSkipped
from .recorder import RecordingHttp

__all__ = ["PasscodeSource", "make_passcode_source"]

POLL_SECONDS = 1.0


class PasscodeSource(Protocol):
    def present(self, customer: CustomerConfig) -> set[str]: ...

    def wait_for_new(self, customer: CustomerConfig, known: set[str]) -> str: ...


class _Polling:
    def __init__(self, config: PasscodeConfig) -> None:
        self.config = config
        self.pattern = re.compile(config.pattern)

    def messages(self, customer: CustomerConfig) -> list[str]:
        raise NotImplementedError

    def present(self, customer: CustomerConfig) -> set[str]:
        return {code for text in self.messages(customer) for code in self.pattern.findall(text)}

    def wait_for_new(self, customer: CustomerConfig, known: set[str]) -> str:
        deadline = time.monotonic() + self.config.timeout
        while True:
            for text in self.messages(customer):  # newest first
                for code in self.pattern.findall(text):
                    if code not in known:
                        return str(code)
            if time.monotonic() >= deadline:
                raise ScenarioFailed(
                    f"no new passcode for {customer.phone or customer.email} within "
                    f"{self.config.timeout:.0f} s"
                )
            time.sleep(POLL_SECONDS)


class InboxPage(_Polling):
    """An inbox web page listing the customer's messages, newest first."""

    def __init__(self, config: PasscodeConfig, http: RecordingHttp) -> None:
        super().__init__(config)
        self.http = http

    def messages(self, customer: CustomerConfig) -> list[str]:
        from lxml import html

        if customer.phone and self.config.sms_inbox_url:  # codes by text message
            url = str(self.config.sms_inbox_url).replace("{phone}", quote(customer.phone, safe="+"))
        elif customer.email:
            url = str(self.config.inbox_url).replace("{email}", quote(customer.email, safe="@"))
        else:
            raise ScenarioSkipped(f"customer {customer.username} has no email in CONFIG")
        response = self.http.get(url)
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise ScenarioFailed(f"the inbox page {url} answered {response.status_code}")
        page = html.fromstring(response.text or "<p></p>")
        articles = page.xpath("//article") or [page]
        return [" ".join(a.text_content().split()) for a in articles]


class ImapMailbox(_Polling):
    """An IMAP mailbox the customer's address delivers to."""

    def messages(self, customer: CustomerConfig) -> list[str]:
        c = self.config
        connect = imaplib.IMAP4_SSL if c.imap_ssl else imaplib.IMAP4
        try:
            with connect(str(c.imap_host), c.imap_port) as box:
                box.login(str(c.imap_user), str(c.imap_password))
                box.select(c.imap_mailbox, readonly=True)
                criteria = f'(TO "{customer.email}")' if customer.email else "ALL"
                _status, found = box.search(None, criteria)
                texts = []
                for number in reversed(found[0].split()[-20:]):
                    _status, parts = box.fetch(number, "(RFC822)")
                    raw = parts[0][1] if parts and isinstance(parts[0], tuple) else b""
                    texts.append(_plain_text(email.message_from_bytes(raw)))
                return texts
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ScenarioFailed(f"IMAP {c.imap_host}:{c.imap_port}: {exc}") from None


def _plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


class TypedIn:
    """A person reads the passcode from the customer's phone or mail and types it."""

    def present(self, customer: CustomerConfig) -> set[str]:
        return set()

    def wait_for_new(self, customer: CustomerConfig, known: set[str]) -> str:
        sys.stderr.write(f"\nType the passcode the utility just sent {customer.username}: ")
        sys.stderr.flush()
        code = sys.stdin.readline().strip()
        if not code:
            raise ScenarioSkipped("no passcode typed in")
        return code


class NoPasscodes:
    def present(self, customer: CustomerConfig) -> set[str]:
        return set()

    def wait_for_new(self, customer: CustomerConfig, known: set[str]) -> str:
        raise ScenarioSkipped(
            "CONFIG names no passcode source ([passcodes] mode = inbox | imap | prompt)"
        )


def make_passcode_source(config: PasscodeConfig, http: RecordingHttp) -> PasscodeSource:
    if config.mode == "inbox":
        return InboxPage(config, http)
    if config.mode == "imap":
        return ImapMailbox(config)
    if config.mode == "prompt":
        return TypedIn()
    return NoPasscodes()
