"""The load: simulated ASP customers, each a thread using the library's client (espi_sst.client).

Each one, until the load ends (and at most ``MAX_ROUNDS`` rounds):

* authorizes once through the gateway (bench/server/flow.py: sign-in, consent, code, token);
* every round reads what an ASP reads: the Batch/Subscription feed (``usage_points``),
  UsageSummary, RateInformation, BillComparison;
* every ``refresh_every`` rounds lets its access token expire, so the library refreshes it
  (rotation: a new refresh token each time);
* every ``rate_change_every`` rounds asks for a rate change, reads the passcode from the
  mail sink's Maildir, confirms it and waits for the decision (bounded);
* every ``reconsent_every`` rounds revokes its grant (RFC 7009) and authorizes again.

What it records: every rate change it confirmed (the accounting checks each was decided
exactly once), every passcode it asked for, and every failure with its time -- failures
inside a fault window are expected, outside one they are the soak's finding.  A refusal
(4xx, e.g. a rate change the tariff rules do not allow) is an answer, not an error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flow  # bench/server/flow.py (run.py puts it on sys.path)

TARGET_RINS = ("USCA-PGPG-0100-0000",)  # E-TOU-C: open to the bundled E-1 customer's copies
MAX_ROUNDS = 100_000
PASSCODE_WAIT_S = 180.0
"""How long a customer waits for the passcode mail: longer than the SMTP outage plus the
outbox's backoff after it (10, 20, 40, 80 s)."""
DECISION_WAIT_S = 120.0


class LoadStopped(Exception):
    """The load ended while this customer waited (for a passcode): not a failure."""


@dataclass(frozen=True)
class Habits:
    """How often each customer does the rarer things (in rounds)."""

    refresh_every: int = 5
    rate_change_every: int = 6
    reconsent_every: int = 15
    pause_s: float = 0.5


@dataclass
class Failure:
    at: float  # time.time()
    what: str


@dataclass
class Tally:
    """What every customer did, shared by their threads (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    rounds: int = 0
    calls: int = 0
    refreshes: int = 0
    refusals: int = 0
    revocations: int = 0
    consents: int = 0
    rate_changes_requested: list[str] = field(default_factory=list)  # request URLs
    rate_changes_confirmed: list[str] = field(default_factory=list)
    rate_changes_decided: int = 0
    passcodes_used: list[str] = field(default_factory=list)  # Message-IDs
    failures: list[Failure] = field(default_factory=list)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(Failure(time.time(), what[:300]))

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


@dataclass(frozen=True)
class Customer:
    username: str
    password: str
    email: str
    asp: flow.Asp


def _passcode(maildir: Path, email: str, used: set[str], since: float, deadline: float,
              stop: threading.Event) -> tuple[str, str]:  # fmt: skip
    """The first passcode mail to ``email`` delivered since ``since`` and not used yet:
    (code, Message-ID)."""
    from espi_sst_server.demo.mail_sink import read_maildir

    while time.monotonic() < deadline and not stop.is_set():
        for message in sorted(read_maildir(maildir, email), key=lambda m: m.delivered):
            if message.message_id in used or message.delivered < since - 1:
                continue
            for line in message.text.splitlines():
                if "confirmation code is" in line:
                    return line.rsplit(" ", 1)[1].strip().rstrip("."), message.message_id
        time.sleep(0.3)
    if stop.is_set():
        raise LoadStopped
    raise TimeoutError(f"no new passcode mail for {email} in {PASSCODE_WAIT_S:g} s")


def _authorize(issuer: str, customer: Customer, tally: Tally) -> dict[str, Any]:
    for attempt in range(30):  # bounded: a fault window is shorter than 30 tries
        try:
            _times, issued = flow.run_flow(issuer, customer.asp, customer.username,
                                           customer.password)  # fmt: skip
            tally.add("consents")
            return issued
        except Exception as exc:
            tally.fail(f"authorize {customer.username} (try {attempt + 1}): "
                       f"{type(exc).__name__}: {exc}")  # fmt: skip
            time.sleep(2)
    raise RuntimeError(f"{customer.username} could not authorize in 30 tries")


def run_customer(issuer: str, maildir: Path, customer: Customer, habits: Habits, tally: Tally,
                 end: float, stop: threading.Event, offset: int) -> None:  # fmt: skip
    """One customer of one ASP until ``end`` (time.monotonic()) or ``stop``."""
    from espi_sst.client import AspClient, MemoryTokenStore
    from espi_sst.client.errors import AuthorizationEnded, ClientError
    from espi_sst.client.oauth import discover

    store = MemoryTokenStore()
    key = customer.username
    used_codes: set[str] = set()
    try:
        store.save(key, dict(_authorize(issuer, customer, tally)))
        metadata = discover(issuer)
    except Exception as exc:
        tally.fail(f"start {key}: {type(exc).__name__}: {exc}")
        return
    client = AspClient(metadata, client_id=customer.asp.client_id,
                       client_secret=customer.asp.client_secret or None,
                       redirect_uri=customer.asp.redirect_uri, scope=customer.asp.scope,
                       token_store=store)  # fmt: skip
    rounds = offset  # customers do the rarer things at different rounds
    while time.monotonic() < end and not stop.is_set() and rounds < MAX_ROUNDS + offset:
        rounds += 1
        tally.add("rounds")
        try:
            if rounds % habits.refresh_every == 0:
                token = dict(store.load(key) or {})
                token["expires_at"] = int(time.time()) - 1  # the library refreshes it
                store.save(key, token)
                tally.add("refreshes")
            with client.connect(key) as connection:
                points = connection.usage_points()
                electric = next(p for p in points if p.electric)
                connection.usage_summaries(electric)
                connection.rate_information(electric)
                connection.bill_comparison(electric)
                tally.add("calls", 4)
                if rounds % habits.rate_change_every == 0:
                    _rate_change(connection, electric, maildir, customer, used_codes, tally, stop)
            if rounds % habits.reconsent_every == 0:
                client.revoke(key)
                tally.add("revocations")
                store.save(key, dict(_authorize(issuer, customer, tally)))
        except LoadStopped:
            return
        except AuthorizationEnded as exc:
            # The grant died under the customer (nothing in the soak revokes it but the
            # customer): a failure, once; then the customer authorizes again, as an ASP
            # would ask them to.
            tally.fail(f"{key} round {rounds}: {type(exc).__name__}: {exc}")
            try:
                store.save(key, dict(_authorize(issuer, customer, tally)))
            except Exception:
                return
        except ClientError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                tally.add("refusals")
            else:
                tally.fail(f"{key} round {rounds}: {type(exc).__name__}: {exc}")
                time.sleep(1)
        except Exception as exc:
            tally.fail(f"{key} round {rounds}: {type(exc).__name__}: {exc}")
            time.sleep(1)
            if store.load(key) is None:  # revoked, re-consent failed: authorize again
                try:
                    store.save(key, dict(_authorize(issuer, customer, tally)))
                except Exception:
                    return
        time.sleep(habits.pause_s)


def _rate_change(connection: Any, point: Any, maildir: Path, customer: Customer,
                 used: set[str], tally: Tally, stop: threading.Event) -> None:  # fmt: skip
    asked = time.time()
    change = connection.request_rate_change(point, rin=TARGET_RINS[0])
    with tally.lock:
        tally.rate_changes_requested.append(change.url)
    code, message_id = _passcode(maildir, customer.email, used, asked,
                                 time.monotonic() + PASSCODE_WAIT_S, stop)  # fmt: skip
    used.add(message_id)
    with tally.lock:
        tally.passcodes_used.append(message_id)
    connection.confirm_rate_change(change.url, code)
    with tally.lock:
        tally.rate_changes_confirmed.append(change.url)
    decided = connection.wait_for_decision(change.url, timeout=DECISION_WAIT_S, poll=1.0)
    if str(getattr(decided.status, "value", decided.status)) in ("accepted", "rejected"):
        tally.add("rate_changes_decided")
