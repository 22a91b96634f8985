"""Limits of the OAuth client endpoints -- token, revocation, introspection -- counted where
a stranger cannot spend them.

Why (issue 11, finding 1): the per-client limit used to count every request under the
client id it *claimed*, before anyone checked the secret.  Forty wrong-secret requests in a
second under an ASP's (public) client id filled its bucket, and the ASP's own requests with
its real secret got 429: anyone could lock any ASP out, and with it every customer it
serves.  RFC 6749 section 10.10 asks that guessing be stopped, not that the guessed party
be stopped.  So:

* **failed client authentications count per remote address**
  (``TOKEN_FAILURE_IP_RATE_LIMIT``), and an address over that limit is refused 429 before
  it may try again (``limits.client_limit`` checks it first thing; so does
  ``authenticate_client`` for any other caller).  Failures sent in parallel can pass that
  check together and are counted after: the overshoot is at most the number in flight --
  harmless against secrets of 256 bits, and no lock-out of anyone else.
* **the per-client limit counts only authenticated requests** (``TOKEN_RATE_LIMIT``):
  ``EspiAuthorizationServer.authenticate_client`` (server/oauth/server.py), which every
  grant and the revocation and introspection endpoints call, counts the client Authlib
  authenticated, by its registered id.
* **a public client** (``token_endpoint_auth_method`` ``none``, RFC 6749 section 2.1)
  authenticates by naming its id: a stranger can do that too.  Its requests count per
  client *and* remote address: one app on many customers' devices, each device its own
  share; a stranger using up his share stops only himself.  (Its codes and refresh tokens
  are what protect it; a wrong one is ``invalid_grant``, which the grant's single use and
  family revocation already answer.)
* each endpoint (the Flask endpoint: ``oauth.token``, ``oauth.revoke``,
  ``oauth.introspect``) keeps its own buckets.

Counts live in Flask-Limiter's storage (``limits/_counters.py``): in Redis, shared by every
process, when ``RATELIMIT_STORAGE_URI`` says so.  Refusals are the usual 429 with
``Retry-After`` and ``Cache-Control: no-store`` (``errors.TooManyRequests``).
"""

from __future__ import annotations

from flask import g, request

from . import _counters, remote_address

FAILURES = "TOKEN_FAILURE_IP_RATE_LIMIT"
PER_CLIENT = "TOKEN_RATE_LIMIT"


def _endpoint() -> str:
    return request.endpoint or request.path


def refuse_failing_address() -> None:
    """429 if this address failed client authentication too often here (counts nothing)."""
    if getattr(g, "espi_client_address_checked", False):
        return
    _counters.check(FAILURES, remote_address(), f"{_endpoint()}/failed")
    g.espi_client_address_checked = True


def authentication_failed() -> None:
    """Count a failed client authentication against the remote address."""
    _counters.hit(FAILURES, remote_address(), f"{_endpoint()}/failed")


def authenticated(client_id: str, auth_method: str | None) -> None:
    """Count a request of an authenticated client; 429 if its limit is over."""
    key = f"client:{client_id}"
    if auth_method == "none":  # anyone can name a public client: its share per address
        key = f"{key}|{remote_address()}"
    _counters.hit(PER_CLIENT, key, f"{_endpoint()}/client")


__all__ = ["authenticated", "authentication_failed", "refuse_failing_address"]
