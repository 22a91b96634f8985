"""Scale-out scenario, end to end: 2 web nodes + 2 workers on one PostgreSQL and one Redis.

``python bench/scaleout/run.py [--short] [--json]`` starts the topology of topology.py (nginx
round robin over both nodes; the issuer is nginx's URL), then:

1. **load**: N simulated ASP customers, each in a thread of its own -- the
   authorization-code flow with PKCE through nginx (bench/server/flow.py: sign-in, consent,
   token), then with the library's client (``espi_sst.client``): the usage points, a rate
   change (``request_rate_change``), the passcode read from the mail sink's Maildir,
   ``confirm_rate_change``, then resource GETs until the load window ends;
2. **worker crash**: when a worker has handed a rate change to billing (billing.py logs it
   and then takes ``BILLING_DELAY`` seconds), that worker is killed with SIGKILL;
   ``takeover_s`` is from the kill until the database shows the killed job decided by the
   other worker -- the lease (``ESPI_WORKER_LEASE_SECONDS``, ``LEASE_SECONDS`` here instead
   of the default 300 so that it fits in a bench) must run out first.  The killed worker is
   then restarted, as systemd would;
3. **revocation**: one customer's access token is revoked (RFC 7009) on node A directly,
   then node B is asked directly with it until it answers 401: ``revocation_visible_s``;
4. **checks**, once the outbox has drained: rate changes decided twice (``duplicated``) or
   confirmed but never decided (``lost``), read from the database's audit log; e-mails and
   ASP notifications received more often than the outbox sent them, or never, counted
   against the mail sink and the notification receiver.

The last line printed is one JSON object (``--json``: the only line on stdout).  Every
loop is bounded by count and time; ``--short`` (about 1-2 minutes) is what CI runs
(tests/scaleout/test_scaleout_short.py); the full run about 3-4 minutes.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import platform
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "server")]

import flow  # noqa: E402  (bench/server/flow.py)
import topology  # noqa: E402

LEASE_SECONDS = 5
OUTBOX_CLAIM_SECONDS = 15
"""``ESPI_WORKER_LEASE_SECONDS`` for the bench (production: 300): the takeover waits for it."""
BILLING_DELAY = 1.0
"""Seconds the bench's billing system takes per submission: the window of the kill."""
REVOCATION_BOUND_S = 5.0
"""What run.py checks ``revocation_visible_s`` against (docs/deployment.md, "Scaling out")."""
TARGET_RIN = "USCA-PGPG-0100-0000"  # E-TOU-C, bundled: open to the bundled E-1 customers
ASP_CLIENT = "demo-energy-insights"


@dataclass(frozen=True)
class Plan:
    customers: int
    load_seconds: float
    drain_seconds: float


SHORT = Plan(customers=6, load_seconds=25, drain_seconds=140)
FULL = Plan(customers=16, load_seconds=150, drain_seconds=160)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    flows: int = 0
    resource_gets: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    rate_changes_confirmed: list[str] = field(default_factory=list)  # request URLs

    def error(self, what: str) -> None:
        with self.lock:
            self.errors += 1
            if len(self.first_errors) < 5:
                self.first_errors.append(what[:300])


class NotificationReceiver:
    """The ASP's notify URI: a loopback HTTP server counting every POSTed BatchList."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        lock = threading.Lock()
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with lock:
                    bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NotificationReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _psql(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _passcode(maildir: Path, email: str, deadline: float) -> str:
    from espi_sst_server.demo.mail_sink import read_maildir

    while time.monotonic() < deadline:
        for message in read_maildir(maildir, email):
            for line in message.text.splitlines():
                if "confirmation code is" in line:
                    return line.rsplit(" ", 1)[1].strip().rstrip(".")
        time.sleep(0.2)
    raise TimeoutError(f"no passcode mail for {email}")


def _customer(
    world: topology.Topology,
    maildir: Path,
    username: str,
    password: str,
    email: str,
    tally: Tally,
    end: float,
    tokens: dict[str, dict[str, Any]],
) -> None:
    """One customer of one ASP: authorize, a rate change confirmed by passcode, then GETs."""
    from espi_sst.client import AspClient, MemoryTokenStore
    from espi_sst.client.oauth import discover

    asp = _asp(world)
    try:
        _times, issued = flow.run_flow(world.issuer, asp, username, password)
    except Exception as exc:  # counted, the customer gives up: what an ASP would see
        tally.error(f"flow {username}: {type(exc).__name__}: {exc}")
        return
    with tally.lock:
        tally.flows += 1
        tokens[username] = issued
    store = MemoryTokenStore()
    store.save(username, dict(issued))
    client = AspClient(discover(world.issuer), client_id=asp.client_id,
                       client_secret=asp.client_secret, redirect_uri=asp.redirect_uri,
                       scope=asp.scope, token_store=store)  # fmt: skip
    with client.connect(username) as connection:
        try:
            points = [p for p in connection.usage_points() if p.electric]
            change = connection.request_rate_change(points[0], rin=TARGET_RIN)
            code = _passcode(maildir, email, time.monotonic() + 60)
            connection.confirm_rate_change(change.url, code)
            with tally.lock:
                tally.resource_gets += 2
                tally.rate_changes_confirmed.append(change.url)
        except Exception as exc:
            tally.error(f"rate change {username}: {type(exc).__name__}: {exc}")
            return
        rounds = 0
        while time.monotonic() < end and rounds < 10_000:
            rounds += 1
            try:
                connection.usage_summaries(points[0])
                with tally.lock:
                    tally.resource_gets += 1
            except Exception as exc:
                tally.error(f"GET {username}: {type(exc).__name__}: {exc}")
                time.sleep(0.5)


def _asp(world: topology.Topology) -> flow.Asp:
    from espi_sst_server.demo.clients import DEMO_SCOPE

    client = next(c for c in world.demo["clients"] if c["client_id"] == ASP_CLIENT)
    return flow.Asp(client["client_id"], client["client_secret"], client["redirect_uris"][0],
                    DEMO_SCOPE)  # fmt: skip


@dataclass
class Crash:
    """The worker killed mid-job and what became of its job."""

    worker: str = ""
    job: str = ""
    killed_at: float = 0.0
    takeover_s: float | None = None


def _kill_mid_job(world: topology.Topology, billing_log: Path, crash: Crash, end: float) -> None:
    """Watch the billing log; SIGKILL the first worker seen inside a submission."""
    while time.monotonic() < end:
        if billing_log.exists():
            for line in billing_log.read_text().splitlines():
                entry = json.loads(line)
                victim = next((w for w in world.workers if w.pid == entry["pid"]), None)
                if entry["event"] == "begin" and victim is not None and victim.alive():
                    victim.kill9()
                    crash.killed_at = time.time()
                    crash.worker, crash.job = victim.name, entry["uuid"]
                    return
        time.sleep(0.05)


def _await_takeover(world: topology.Topology, crash: Crash, bound: float) -> None:
    """Until the killed worker's job is decided in the database (by the other worker)."""
    deadline = time.monotonic() + bound
    with _psql(world.database_url) as db:
        while time.monotonic() < deadline:
            row = db.execute("SELECT status FROM rate_change_request WHERE uuid = %s",
                             (crash.job,)).fetchone()  # fmt: skip
            if row and row[0] in ("accepted", "rejected"):
                crash.takeover_s = round(time.time() - crash.killed_at, 2)
                return
            time.sleep(0.1)


def _revocation(world: topology.Topology, tokens: dict[str, dict[str, Any]]) -> float | None:
    """Revoke one access token on node A; seconds until node B refuses it (None: never)."""
    if not tokens:
        return None
    issued = next(iter(tokens.values()))
    asp = _asp(world)
    node_a, node_b = world.nodes[0].url, world.nodes[1].url
    resource = str(issued["resourceURI"]).replace(world.issuer, node_b)
    bearer = {"Authorization": f"Bearer {issued['access_token']}", "Accept": "application/atom+xml"}
    before = requests.get(resource, headers=bearer, timeout=30)
    if before.status_code != 200:
        raise RuntimeError(f"node B refused the token before revocation: {before.status_code}")
    basic = base64.b64encode(f"{asp.client_id}:{asp.client_secret}".encode()).decode()
    revoked = requests.post(
        node_a + "/oauth/revoke",
        data={"token": issued["access_token"], "token_type_hint": "access_token"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=30,
    )
    started = time.monotonic()
    if revoked.status_code != 200:
        raise RuntimeError(f"node A did not revoke: {revoked.status_code} {revoked.text[:200]}")
    for _ in range(600):  # 30 s at most
        if requests.get(resource, headers=bearer, timeout=30).status_code == 401:
            return round(time.monotonic() - started, 3)
        time.sleep(0.05)
    return None


def _drain(world: topology.Topology, confirmed: int, bound: float) -> None:
    """Until every confirmed rate change is decided and the outbox is empty (or ``bound``)."""
    deadline = time.monotonic() + bound
    with _psql(world.database_url) as db:
        while time.monotonic() < deadline:
            open_changes = db.execute(
                "SELECT count(*) FROM rate_change_request "
                "WHERE status IN ('confirmed', 'submitted')"
            ).fetchone()
            pending = db.execute(
                "SELECT count(*) FROM outbox_message WHERE sent_at IS NULL AND failed_at IS NULL"
            ).fetchone()
            if open_changes and pending and open_changes[0] == 0 and pending[0] == 0:
                return
            time.sleep(0.5)


def _checks(world: topology.Topology, maildir: Path, receiver: NotificationReceiver,
            confirmed_urls: list[str]) -> dict[str, Any]:  # fmt: skip
    """Exactly once, from the database, the mail sink and the notification receiver."""
    from espi_sst_server.demo.mail_sink import read_maildir

    confirmed = {url.rstrip("/").rsplit("/", 1)[1] for url in confirmed_urls}
    with _psql(world.database_url) as db:
        decided = Counter(
            subject.split(":", 1)[1]
            for (subject,) in db.execute(
                "SELECT subject FROM audit_event WHERE action IN "
                "('rate_change_accepted', 'rate_change_rejected')"
            )
        )
        statuses = dict(db.execute("SELECT uuid, status FROM rate_change_request").fetchall())
        mails = db.execute("SELECT destination, payload, sent_at, failed_at FROM outbox_message "
                           "WHERE kind = 'email'").fetchall()  # fmt: skip
        notices = db.execute("SELECT sent_at, failed_at FROM outbox_message "
                             "WHERE kind = 'asp_notification'").fetchall()  # fmt: skip
    rate_dup = sum(1 for uuid in confirmed if decided[uuid] > 1)
    rate_lost = sum(1 for uuid in confirmed if decided[uuid] == 0)
    expected_mail = Counter((dest.lower(), (payload or {}).get("subject", "")) for dest, payload,
                            _s, _f in mails)  # fmt: skip
    unsent_mail = sum(1 for _d, _p, sent, _f in mails if sent is None)
    received_mail = Counter(
        (recipient, message.subject)
        for message in read_maildir(maildir)
        for recipient in message.recipients
    )
    mail_dup = sum(max(0, received_mail[k] - n) for k, n in expected_mail.items())
    mail_dup += sum(n for k, n in received_mail.items() if k not in expected_mail)
    mail_lost = sum(max(0, n - received_mail[k]) for k, n in expected_mail.items())
    passcodes = sum(n for (_d, subject), n in received_mail.items() if "passcode" in subject
                    or "code to confirm" in subject)  # fmt: skip
    sent_notices = sum(1 for sent, _f in notices if sent is not None)
    received_notices = len(receiver.bodies)
    notice_dup = max(0, received_notices - sent_notices)
    notice_lost = max(0, sent_notices - received_notices) + sum(
        1 for sent, _f in notices if sent is None
    )
    return {
        "rate_changes": len(confirmed),
        "rate_changes_decided": sum(1 for uuid in confirmed if decided[uuid] >= 1),
        "rate_change_statuses": dict(Counter(statuses[u] for u in confirmed if u in statuses)),
        "rate_changes_duplicated": rate_dup,
        "rate_changes_lost": rate_lost,
        "mails_outbox": len(mails),
        "mails_received": sum(received_mail.values()),
        "passcode_mails": passcodes,
        "mails_unsent": unsent_mail,
        "mails_duplicated": mail_dup,
        "mails_lost": mail_lost,
        "notifications_outbox": len(notices),
        "notifications_received": received_notices,
        "notifications_duplicated": notice_dup,
        "notifications_lost": notice_lost,
    }


def run(plan: Plan, say: Any) -> dict[str, Any]:
    from espi_sst_server.demo.mail_sink import MailSink

    began = time.monotonic()
    scratch = Path(topology.tempfile.mkdtemp(prefix="espi-scaleout-run."))
    maildir, billing_log = scratch / "mail", scratch / "billing.jsonl"
    with MailSink(maildir) as sink, NotificationReceiver() as receiver:
        settings = {
            "ESPI_SMTP_HOST": "127.0.0.1",
            "ESPI_SMTP_PORT": str(sink.port),
            "ESPI_SMTP_STARTTLS": "false",
            "ESPI_MAIL_FROM": "Demo Utility <no-reply@utility.example>",
            "ESPI_NOTIFY_ALLOW_LOOPBACK": "true",
            "ESPI_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
            # A killed worker's claimed outbox row is sent again after this (production: 120);
            # it must outlast one send (SMTP timeout 10 s, notify 3 + 5 s).
            "ESPI_OUTBOX_CLAIM_SECONDS": str(OUTBOX_CLAIM_SECONDS),
            "ESPI_BILLING_BACKEND": "billing:factory",
            "ESPI_BENCH_BILLING_LOG": str(billing_log),
            "ESPI_BENCH_BILLING_DELAY": str(BILLING_DELAY),
            # Every browser of the bench signs in from 127.0.0.1: the per-address sign-in
            # limit (30 a minute) would refuse most of them.  The other limits stay on, in Redis.
            "ESPI_LOGIN_IP_RATE_LIMIT": "",
            "ESPI_RESOURCE_RATE_LIMIT": "200 per second",
        }
        say(f"starting 2 nodes, 2 workers, PostgreSQL, Redis, nginx ({plan.customers} customers)")
        with topology.scaleout(extra_customers=plan.customers, settings=settings) as world:
            with _psql(world.database_url) as db:
                db.execute("UPDATE application SET notify_uri = %s WHERE client_id = %s",
                           (receiver.url, ASP_CLIENT))  # fmt: skip
            say(f"up in {time.monotonic() - began:.1f} s; issuer {world.issuer}")
            tally, tokens, crash = Tally(), {}, Crash()
            customers = [c for c in world.demo["customers"] if c["username"].startswith("casey-")]
            end = time.monotonic() + plan.load_seconds
            killer = threading.Thread(target=_kill_mid_job,
                                      args=(world, billing_log, crash, end + 30))  # fmt: skip
            killer.start()
            threads = [
                threading.Thread(
                    target=_customer,
                    args=(
                        world,
                        maildir,
                        c["username"],
                        c["password"],
                        c["email"],
                        tally,
                        end,
                        tokens,
                    ),
                )  # fmt: skip
                for c in customers[: plan.customers]
            ]
            for thread in threads:
                thread.start()
                time.sleep(0.3)  # customers arrive one after another, not in one burst
            killer.join(timeout=plan.load_seconds + 40)
            if crash.job:
                say(f"killed {crash.worker} (SIGKILL) inside job {crash.job}")
                _await_takeover(world, crash, bound=LEASE_SECONDS * 4 + 30)
                say(f"takeover after {crash.takeover_s} s; restarting {crash.worker}")
                world.start_worker(crash.worker + "-restarted")
            for thread in threads:
                thread.join(timeout=plan.load_seconds + 120)
            say(f"load done: {tally.flows} flows, {tally.resource_gets} resource GETs")
            revocation_s = _revocation(world, tokens)
            say(f"revocation visible on the other node after {revocation_s} s")
            _drain(world, len(tally.rate_changes_confirmed), plan.drain_seconds)
            checks = _checks(world, maildir, receiver, tally.rate_changes_confirmed)
            per_node = world.requests_per_node()
            logged_per_node = world.requests_logged_per_node()
            resubmitted = Counter(
                json.loads(line)["uuid"]
                for line in billing_log.read_text().splitlines()
                if json.loads(line)["event"] == "begin"
            ) if billing_log.exists() else Counter()  # fmt: skip
    topology.shutil.rmtree(scratch, ignore_errors=True)
    duplicated = (checks["rate_changes_duplicated"] + checks["mails_duplicated"]
                  + checks["notifications_duplicated"])  # fmt: skip
    lost = checks["rate_changes_lost"] + checks["mails_lost"] + checks["notifications_lost"]
    return {
        "nodes": len(world.nodes),
        "workers": 2,
        "duplicated": duplicated,
        "lost": lost,
        "revocation_visible_s": revocation_s,
        "revocation_bound_s": REVOCATION_BOUND_S,
        "takeover_s": crash.takeover_s,
        "killed_worker": crash.worker or None,
        "lease_seconds": LEASE_SECONDS,
        "billing_delay_s": BILLING_DELAY,
        "billing_submissions": sum(resubmitted.values()),
        "billing_resubmitted": sum(1 for n in resubmitted.values() if n > 1),
        "customers": plan.customers,
        "flows": tally.flows,
        "requests": sum(per_node.values()),
        "requests_per_node": per_node,  # nginx's access log: which upstream answered
        "requests_logged_per_node": logged_per_node,  # each node's own request log lines
        "resource_gets": tally.resource_gets,
        "errors": tally.errors,
        "first_errors": tally.first_errors,
        **checks,
        "seconds": round(time.monotonic() - began, 1),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="about 1-2 minutes (CI)")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        result = run(SHORT if args.short else FULL, say)
    except topology.Unavailable as exc:
        print(json.dumps({"unavailable": str(exc)}))
        return 3
    print(json.dumps(result))
    return 0 if result["duplicated"] == 0 and result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
