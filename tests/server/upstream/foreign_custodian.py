"""A foreign Green Button Connect custodian for tests: PG&E Share My Data / a GBA OpenESPI
DataCustodian, written without espi-sst and knowing nothing of SST (issue 22).

It replays the shapes of the recorded responses in ``tests/data/corpus`` (``pge-cmd_*``:
Atom under ``ns1:``, ESPI under ``ns0:``, ``xsi:type`` on every Atom child, PG&E's FB scope
strings and numeric / opaque ids; ``gba-sandbox_*``: default Atom namespace and ``espi:``)
from string templates (``foreign/atom.py``, ``foreign/resources.py``), issues opaque tokens,
and offers RFC 7662 introspection with the standard members only, or none at all.

Interface (other tests code against it)::

    with running_foreign_custodian(introspection="standard", shape="pge",
                                   public_base=None, path_prefix="/GreenButtonConnect",
                                   now=None) as custodian:
        custodian.url            # http://127.0.0.1:PORT/GreenButtonConnect (what a gateway proxies to)
        custodian.public_base    # what its hrefs and token responses use (default: url)
        custodian.resource_base  # public_base + "/espi/1_1/resource"
        custodian.issuer         # public_base; RFC 8414 metadata at
                                 #   {url}/.well-known/oauth-authorization-server (and at
                                 #   /.well-known/oauth-authorization-server{path_prefix})
        custodian.customers      # two ForeignCustomer; the first has two electric usage points
        custodian.register_client(client_id, client_secret or None, redirect_uris, scope)
        custodian.register_resource_server(client_id, client_secret)  # may introspect
        custodian.sign_in_and_allow(authorize_url, customer) -> callback URL (code, state)
        custodian.revoke_subscription(subscription_id)  # the customer stops sharing
        custodian.subscription_of(access_token) -> subscription id
        custodian.expire_token(access_token)            # as if its hour were over
        custodian.application_information_uri(client_id)  # read it with a client-credentials token
        custodian.requests       # [(method, path, bearer or None)] of every request

Endpoints, under ``path_prefix`` (hrefs always under ``public_base``):

* ``GET /oauth/authorize`` (response_type=code, client_id, exact redirect_uri, scope absent
  or the registered one, state, PKCE S256 required of public clients): a sign-in form
  (username, password, csrf_token), then the consent form (one ``usage_points`` checkbox per
  service, all ticked; ``decision=approve|deny``), both POSTed to the same URL; approve ->
  302 to ``redirect_uri?code=...&state=...``.  Unknown client or redirect URI: a 400 page.
  The portal (``/portal/login``, ``/portal/authorizations``, ``.../revoke``) is what
  ``tests/integration/demo_process.py``'s ``CustomerBrowser`` walks, so it works here too
  (``CustomerBrowser(custodian.url, {"username":..., "password":..., "usage_points": [...]})``).
* ``POST /oauth/token``: client_secret_basic (public clients: client_id + PKCE).
  authorization_code / refresh_token (rotating) -> ``{access_token, token_type: "Bearer",
  expires_in: 3600, refresh_token, scope, resourceURI: <resource_base>/Batch/Subscription/<sid>,
  authorizationURI: <resource_base>/Authorization/<aid>}``; each consent is a new numeric
  Subscription and Authorization id.  client_credentials -> ASP-level token, resourceURI
  ``<resource_base>/Batch/Bulk/<id>``, authorizationURI the client's own Authorization.
* ``POST /oauth/introspect`` ("standard" only, else 404 and absent from the metadata): Basic
  auth of a registered resource server, else 401; exactly ``active, scope, client_id, exp,
  iat, sub, token_type`` (``sub``: the customer's ``subject``; the client_id for a
  client-credentials token) or ``{"active": false}``.
* ``POST /oauth/revoke`` (RFC 7009; a refresh token takes its grant's access tokens along).
* Resources (``/espi/1_1/resource``; see ``foreign/resource.py`` for the refusals: 401
  ``Bearer error="invalid_token"``, 403 other subscription or ASP token on customer data,
  404 not in the subscription): ``Subscription/{sid}`` and ``Batch/Subscription/{sid}``
  (UsagePoint, MeterReading, ReadingType, IntervalBlock, UsageSummary, LocalTimeParameters;
  ``published-min``/``-max`` bound the IntervalBlocks), ``Subscription/{sid}/UsagePoint[/{uid}]``,
  ``.../UsagePoint/{uid}/MeterReading[/{mid}]``, ``.../MeterReading/{mid}/IntervalBlock[/{start}]``,
  ``.../UsagePoint/{uid}/UsageSummary[/{id}]`` (13 monthly billing periods, PG&E's
  ``1,234,000`` ids), ``ReadingType[/{id}]``, ``LocalTimeParameters[/{id}]``,
  ``Authorization[/{aid}]``, ``ApplicationInformation/{id}`` (client-credentials token),
  ``ReadServiceStatus``.
* Data: per usage point, hourly Wh from the start of its oldest billing period (13 months
  and a few days) to the last complete local day before ``now``, one IntervalBlock per
  local day (America/Los_Angeles), deterministic per point id (``foreign/usage.py``).
"""

from __future__ import annotations

import html as html_lib
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import requests
from foreign.app import CustodianApp
from foreign.atom import Shape
from foreign.oauth import OAuth
from foreign.resource import ResourceApi
from foreign.resources import Catalog
from foreign.state import CUSTOMERS, ForeignCustomer, Store
from werkzeug.serving import WSGIRequestHandler, make_server

__all__ = ["ForeignCustodian", "ForeignCustomer", "running_foreign_custodian"]

INTROSPECTION_MODES = ("standard", "none")
_FORM = re.compile(r'<form method="post" action="([^"]*)">')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_POINT = re.compile(r'name="usage_points" value="([^"]+)"')


class ForeignCustodian:
    """A running foreign custodian (see the module docstring)."""

    def __init__(self, url: str, public_base: str, store: Store) -> None:
        self.url = url
        self.public_base = public_base
        self.resource_base = public_base + "/espi/1_1/resource"
        self.issuer = public_base
        self.customers: tuple[ForeignCustomer, ...] = CUSTOMERS
        self.requests: list[tuple[str, str, str | None]] = []
        self._store = store

    def register_client(
        self, client_id: str, client_secret: str | None, redirect_uris: list[str], scope: str
    ) -> None:
        """An ASP registered at the custodian (client_secret None: a public client, PKCE)."""
        self._store.add_client(client_id, client_secret, redirect_uris, scope)

    def register_resource_server(self, client_id: str, client_secret: str) -> None:
        """A party allowed to call ``/oauth/introspect`` with Basic auth."""
        with self._store.lock:
            self._store.resource_servers[client_id] = client_secret

    def revoke_subscription(self, subscription_id: str) -> None:
        """The customer stops sharing at the custodian's portal: every token of it dies."""
        self._store.revoke_grant(subscription_id)

    def subscription_of(self, access_token: str) -> str:
        token = self._store.tokens[access_token]
        if token.grant is None:
            raise ValueError("a client-credentials token has no subscription")
        return token.grant.subscription_id

    def application_information_uri(self, client_id: str) -> str:
        """The client's ApplicationInformation (its ``registration_client_uri``)."""
        return f"{self.resource_base}/ApplicationInformation/{self._store.clients[client_id].application_id}"

    def expire_token(self, access_token: str) -> None:
        """Let the token's hour be over now (for expiry tests)."""
        with self._store.lock:
            self._store.tokens[access_token].exp = int(time.time()) - 1

    def sign_in_and_allow(self, authorize_url: str, customer: ForeignCustomer) -> str:
        """Walk the sign-in and consent forms over HTTP; return the redirect (callback) URL."""
        with requests.Session() as browser:
            page = browser.get(authorize_url, timeout=10)
            if page.status_code != 200:
                raise AssertionError(f"authorize answered {page.status_code}: {page.text}")
            page = self._submit(
                browser, page, {"username": customer.username, "password": customer.password}
            )
            consent = self._submit(
                browser,
                page,
                {"decision": "approve", "usage_points": _POINT.findall(page.text)},
                allow_redirects=False,
            )
            if consent.status_code != 302:
                raise AssertionError(f"consent answered {consent.status_code}: {consent.text}")
            return str(consent.headers["Location"])

    @staticmethod
    def _submit(
        browser: requests.Session,
        page: requests.Response,
        data: dict[str, object],
        allow_redirects: bool = True,
    ) -> requests.Response:
        action, csrf = _FORM.search(page.text), _CSRF.search(page.text)
        if action is None or csrf is None:
            raise AssertionError(f"no form on the page: {page.text}")
        target = urljoin(page.url, html_lib.unescape(action.group(1)))
        return browser.post(
            target,
            data={**data, "csrf_token": csrf.group(1)},
            allow_redirects=allow_redirects,
            timeout=10,
        )


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: ``custodian.requests`` is the log tests read."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_foreign_custodian(
    *,
    introspection: str = "standard",
    shape: str = "pge",
    public_base: str | None = None,
    path_prefix: str = "/GreenButtonConnect",
    now: int | None = None,
) -> Iterator[ForeignCustodian]:
    """Serve a foreign custodian on 127.0.0.1 (threaded Werkzeug) until the block ends."""
    if introspection not in INTROSPECTION_MODES:
        raise ValueError(f"introspection {introspection!r}: expected one of {INTROSPECTION_MODES}")
    prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
    port = _free_port()
    url = f"http://127.0.0.1:{port}{prefix}"
    public = (public_base or url).rstrip("/")
    store = Store()
    custodian = ForeignCustodian(url, public, store)
    catalog = Catalog(Shape(shape), custodian.resource_base, int(now or time.time()), time.time())
    oauth = OAuth(store, custodian.resource_base, introspection == "standard")
    api = ResourceApi(store, catalog, public)
    app = CustodianApp(prefix, oauth, api, custodian.issuer, custodian.requests)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield custodian
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
