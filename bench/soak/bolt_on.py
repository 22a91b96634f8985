"""The soak's bolt-on lane: our server beside an upstream custodian that gets slow, then goes down.

Bolt-on mode (server/upstream/, docs/bolt-on.md) forwards every plain ESPI GET to the
utility's existing Green Button Connect custodian with the ASP's own token and checks that
token by the custodian's RFC 7662 introspection (cached ``INTROSPECTION_CACHE_SECONDS``).
Issue 15's fault "in bolt-on mode the upstream GBC slow then down" is injected here:

* the **upstream**: the stand-in custodian we did not write (upstream_custodian.py, its own
  process) behind a TCP relay (fault_proxy.py) the fault acts on;
* the **bolt-on**: one of our servers in bolt-on mode (gunicorn, 2 gthread workers of 4
  threads each, as docs/deployment.md runs production; its own SQLite database, seeded
  with the utility's rates and customers by tests/server/upstream/bolt_on_seed.py) behind its own nginx, whose timing log is the
  record of what the ASPs got (windows.py);
* the **customers**: ``customers`` consents of one ASP at the custodian (its two customers,
  in turn), each reading through the bolt-on, round after round, the Subscription's
  UsagePoints (a forwarded GET, introspection) and a usage point's UsageSummary (forwarded,
  given the SST additions);
* the **fault** (:func:`upstream_slow_then_down`): every request to the upstream delayed
  ``delay_s`` -- past the bolt-on's read timeout (``UPSTREAM_READ_TIMEOUT``, set short here)
  -- for ``slow_s``, then the upstream's port closed for ``down_s``, then back.

What must hold (the bolt-on's contract, server/upstream/__init__.py): every failure is a
JSON error 502/503/504 with ``Retry-After`` (never a 500, never nginx's own page: a
bolt-on worker that hangs past nginx's 60 s shows as that), answered within the bounds the
settings promise; no 5xx outside the window; and, by itself, data again for every customer
once the upstream is back.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faults
import requests
import topology
import windows
from fault_proxy import FaultProxy

HERE = Path(__file__).resolve().parent
UPSTREAM_TESTS = HERE.parent.parent / "tests" / "server" / "upstream"
PREFIX = "/GreenButtonConnect"
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, RETRIES = 1.0, 2.0, 2
"""The bolt-on's ``UPSTREAM_CONNECT_TIMEOUT``, ``UPSTREAM_READ_TIMEOUT``, ``UPSTREAM_RETRIES``
here (production: 3, 15, 2): short, so that a slow window of a few seconds is many timeouts."""
DEADLINE_S = 8.0
"""``UPSTREAM_DEADLINE_SECONDS`` here (production 25): all of one request's upstream calls."""
SLOW_DELAY_S = 5.0
"""How late each request reaches the slow upstream: past ``READ_TIMEOUT_S``."""
ANSWER_BOUND_S = DEADLINE_S + 2.0
"""The longest any bolt-on answer may take, fault or not (the deadline and the bolt-on's own
work); an answer slower than this is counted as a hang (``over_bound``)."""
CLIENT_TIMEOUT_S = 65.0  # past nginx's proxy_read_timeout: nginx answers first
MAX_ROUNDS = 100_000


@dataclass
class _Failure:
    at: float
    what: str


@dataclass
class Lane:
    """The running lane: what the fault acts on and what the customers recorded."""

    gateway: str  # the bolt-on's nginx
    proxy: FaultProxy
    folder: Path
    tokens: list[tuple[str, str, str]]  # (access token, subscription id, usage point id)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0
    answered_200: list[tuple[int, float]] = field(default_factory=list)  # (customer, when)
    improper: list[str] = field(default_factory=list)  # 5xx not as the contract says
    over_bound: list[str] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)

    def url(self, index: int, tail: str = "") -> str:
        _token, sid, point = self.tokens[index]
        base = f"{self.gateway}/espi/1_1/resource/Subscription/{sid}/UsagePoint"
        return base + (f"/{point}{tail}" if tail else "")

    def get(self, index: int, url: str) -> requests.Response:
        token = self.tokens[index][0]
        return requests.get(url, headers={"Authorization": f"Bearer {token}"},
                            timeout=CLIENT_TIMEOUT_S)  # fmt: skip

    def answers(self) -> bool:
        """The first customer's UsagePoints answer 200 (the probe of recovery)."""
        return self.get(0, self.url(0)).status_code == 200


def _check(lane: Lane, index: int, url: str, answer: requests.Response, seconds: float) -> None:
    """Record one answer against the contract (server/upstream/__init__.py)."""
    now = time.time()
    what = f"customer {index} GET {url.split('/resource', 1)[-1]}"
    with lane.lock:
        lane.calls += 1
        if seconds > ANSWER_BOUND_S:
            lane.over_bound.append(f"{what}: {answer.status_code} after {seconds:.1f} s")
        if answer.status_code == 200:
            lane.answered_200.append((index, now))
            return
    if answer.status_code < 500:
        with lane.lock:
            lane.failures.append(_Failure(now, f"{what}: {answer.status_code} {answer.text[:120]}"))
        return
    try:
        error = answer.json().get("error")
    except ValueError:
        error = None
    retry_after = answer.headers.get("Retry-After", "")
    fine = answer.status_code in (502, 503, 504) and bool(error) and retry_after.isdigit()
    if not fine:
        with lane.lock:
            lane.improper.append(f"+{now:.0f} {what}: {answer.status_code} error={error!r} "
                                 f"Retry-After={retry_after!r} {answer.text[:120]!r}")  # fmt: skip


def run_customer(lane: Lane, index: int, end: float, stop: threading.Event,
                 pause_s: float) -> None:  # fmt: skip
    """One ASP customer reading through the bolt-on until ``end`` or ``stop`` (bounded)."""
    rounds = 0
    while time.monotonic() < end and not stop.is_set() and rounds < MAX_ROUNDS:
        rounds += 1
        for url in (lane.url(index), lane.url(index, "/UsageSummary")):
            started = time.monotonic()
            try:
                answer = lane.get(index, url)
            except requests.RequestException as exc:  # nginx itself did not answer
                with lane.lock:
                    lane.failures.append(_Failure(time.time(), f"customer {index}: {exc}"))
                continue
            _check(lane, index, url, answer, time.monotonic() - started)
        stop.wait(pause_s)


def upstream_slow_then_down(lane: Lane, stop: threading.Event, record: faults.FaultRecord, *,
                            slow_s: float, down_s: float) -> None:  # fmt: skip
    """Every upstream request ``SLOW_DELAY_S`` late for ``slow_s``, then its port closed for
    ``down_s``, then back; recovered when the bolt-on answers a customer 200 again."""
    record.injected_at = time.time()
    lane.proxy.slow(SLOW_DELAY_S)
    stop.wait(slow_s)
    record.detail["down_at"] = time.time()
    lane.proxy.down()
    stop.wait(down_s)
    lane.proxy.up()
    record.cause_removed_at = time.time()
    record.detail.update(slow_s=slow_s, down_s=down_s, delay_s=SLOW_DELAY_S,
                         read_timeout_s=READ_TIMEOUT_S, deadline_s=DEADLINE_S)  # fmt: skip
    record.recovered_at = faults._until(lane.answers, 60, stop, 0.2)


def figures(lane: Lane, record: faults.FaultRecord, since: float, until: float) -> dict[str, Any]:
    """The lane's requests inside the fault (slow, down, recovering) and outside it."""
    served = windows.read_timing_log(lane.folder / "nginx" / "timing.log")
    spans = [record.window(until)] if record.injected else []
    per_window, outside = windows.split(served, spans, since, until)
    row: dict[str, Any] = {}
    if record.injected:
        assert record.injected_at is not None
        down_at = float(record.detail.get("down_at", record.injected_at))
        back = record.cause_removed_at or until
        phases = {"slow": (record.injected_at, down_at), "down": (down_at, back),
                  "recovering": (back, spans[0][1])}  # fmt: skip
        row = {**windows.summary(per_window[0]),
               **{name: windows.summary([s for s in per_window[0] if a <= s.at <= b])
                  for name, (a, b) in phases.items()}}  # fmt: skip
    recovered = record.recovered_at or until
    fed_again = {i for i, at in lane.answered_200 if at > recovered}
    failures_outside = [f for f in lane.failures if not windows.inside(f.at, spans)]
    return {
        "window": row,
        "outside": windows.summary(outside),
        "requests": len(served),
        "5xx": sum(1 for s in served if s.status >= 500),
        "calls": lane.calls,
        "answered_200": len(lane.answered_200),
        "customers": len(lane.tokens),
        "customers_fed_after_recovery": len(fed_again),
        "improper_5xx": len(lane.improper),
        "first_improper": lane.improper[:5],
        "over_bound": len(lane.over_bound),
        "first_over_bound": lane.over_bound[:5],
        "client_failures_outside_fault": len(failures_outside),
        "first_failures_outside_fault": [f.what for f in failures_outside[:5]],
    }


def _consent(custodian: Any, customer: Any) -> tuple[str, str]:
    """The ASP's Green Button consent at the custodian: (access token, subscription id)."""
    from bolt_on_seed import ASP_ID, ASP_SECRET, GBC_SCOPE, REDIRECT

    from espi_sst.client import AspClient, MemoryTokenStore

    asp = AspClient.from_issuer(custodian.issuer, client_id=ASP_ID, client_secret=ASP_SECRET,
                                redirect_uri=REDIRECT, scope=GBC_SCOPE,
                                token_store=MemoryTokenStore())  # fmt: skip
    started = asp.authorization_url()
    grant = asp.fetch_token(custodian.sign_in_and_allow(started.url, customer), started)
    assert grant.resource_uri is not None
    token = str(asp.connect(grant.key).session.token["access_token"])
    return token, grant.resource_uri.rstrip("/").rsplit("/", 1)[1]


def _seed(database: Path, issuer: str, settings: dict[str, Any], custodian: Any) -> None:
    """The bolt-on's database: migrated, the utility's customers and rates (no usage)."""
    from bolt_on_seed import seed_bolt_on
    from espi_sst_server import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "seed-only",
                      "ISSUER": issuer, "RATELIMIT_STORAGE_URI": "memory://", **settings})  # fmt: skip
    try:
        seed_bolt_on(app, custodian)
    finally:
        app.extensions["espi_sst_db"].engine.dispose()


@contextmanager
def running_lane(customers: int, folder: Path, say: Any) -> Iterator[Lane]:
    """Custodian, relay, seeded bolt-on and its nginx; stopped (by their ids) on exit."""
    sys.path[:0] = [str(UPSTREAM_TESTS)]
    from bolt_on_seed import introspection_settings
    from foreign.state import Store
    from foreign_custodian import CUSTOMERS, ForeignCustodian

    began = time.monotonic()
    with ExitStack() as stack:
        proxy_port = topology.free_port()
        custodian_process = subprocess.Popen(
            [sys.executable, str(HERE / "upstream_custodian.py"),
             "--public-base", f"http://127.0.0.1:{proxy_port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        stack.callback(_stop, custodian_process)
        assert custodian_process.stdout is not None
        started = json.loads(custodian_process.stdout.readline() or "{}")
        if "url" not in started:
            raise RuntimeError("the upstream custodian did not start")
        target_port = int(started["url"].split(":")[2].split("/")[0])
        proxy = FaultProxy(target_port, proxy_port).up()
        stack.callback(proxy.close)
        public = str(started["public_base"])
        # What the bolt-on and the ASP see of the custodian: the relay's address.
        handle = ForeignCustodian(public, public, Store())
        gateway_port, node_port = topology.free_port(), topology.free_port()
        gateway = f"http://127.0.0.1:{gateway_port}"
        settings = {
            **introspection_settings(handle, 10),
            "UPSTREAM_CONNECT_TIMEOUT": CONNECT_TIMEOUT_S,
            "UPSTREAM_READ_TIMEOUT": READ_TIMEOUT_S,
            "UPSTREAM_RETRIES": RETRIES,
            "UPSTREAM_DEADLINE_SECONDS": DEADLINE_S,
            "READINESS_UPSTREAM_TIMEOUT": 1.0,
        }
        database, metrics = folder / "bolt-on.db", folder / "metrics"
        metrics.mkdir()
        _seed(database, gateway, settings, handle)
        env = {f"ESPI_{k}": v if isinstance(v, str) else json.dumps(v)
               for k, v in settings.items()}  # fmt: skip
        env |= {
            "ESPI_DATABASE_URL": f"sqlite:///{database}",
            "ESPI_ISSUER": gateway,
            "ESPI_SECRET_KEY": secrets.token_urlsafe(32),
            "ESPI_RATELIMIT_STORAGE_URI": "memory://",
            "ESPI_RESOURCE_RATE_LIMIT": "500 per second",
            "ESPI_AUTO_MIGRATE": "false",
            "ESPI_LOG_FORMAT": "json",
            # its own folder: gunicorn_conf.py empties it of *.db files at start
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        node = topology._spawn("bolt-on-node", [
            str(topology.BIN / "gunicorn"), "-c", "python:espi_sst_server.gunicorn_conf",
            "-w", "2", "--worker-class", "gthread", "--threads", "4",
            "-b", f"127.0.0.1:{node_port}", "--no-control-socket", "--timeout", "60",
            "espi_sst_server.wsgi:app"], folder, env)  # fmt: skip
        # ^ the worker model docs/deployment.md gives production: a request waiting on a slow
        # upstream holds a thread, not the whole worker.  With sync workers (the first full
        # run) four customers queued behind two workers each held for the 8 s deadline, and
        # 8 answers took 12-13 s: the queue, not the server's deadline, broke the bound.
        stack.callback(node.stop)
        topology._wait_http(node, f"http://127.0.0.1:{node_port}/healthz")
        nginx = topology._nginx(folder / "nginx", gateway_port, [node_port])
        stack.callback(nginx.stop)
        topology._wait_http(nginx, gateway + "/healthz", timeout=20)
        tokens = []
        for i in range(customers):
            customer = CUSTOMERS[i % len(CUSTOMERS)]
            token, sid = _consent(handle, customer)
            tokens.append((token, sid, customer.usage_points[0]))
        lane = Lane(gateway, proxy, folder, tokens)
        if not lane.answers():
            raise RuntimeError(f"the bolt-on does not answer; its log ends:\n"
                               f"{node.log.read_text(errors='replace')[-2000:]}")  # fmt: skip
        say(
            f"bolt-on lane up in {time.monotonic() - began:.1f} s: custodian "
            f"{started['url']} behind {proxy.url}, bolt-on {gateway}, {customers} customers"
        )
        yield lane


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
