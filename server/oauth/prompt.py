"""``prompt`` and ``max_age``: when the authorization endpoint must (not) show a page.

OpenID Connect Core 3.1.2.1, applied to every authorization request (with or without the
``openid`` scope -- the same words mean the same thing to an OAuth-only ASP):

* ``prompt=none``: no page at all.  Not signed in (or the sign-in too old for
  ``max_age``): ``login_required``.  Signed in but consent is needed: ``consent_required``
  -- unless a Mode 1 pre-authorization (concept design 7.2) already covers the request.
  ``none`` with any other value: ``invalid_request``.
* ``prompt=login`` (and ``select_account``: the sign-in page is where another account is
  chosen), or a ``max_age`` the session's sign-in is older than (``max_age=0``: always),
  asks for a fresh sign-in even while signed in.  The sign-in page then sends the customer
  back to the same request without those demands (:func:`after_sign_in`), so the flow
  goes on instead of looping; the code's ``auth_time`` is that fresh sign-in's.
* ``prompt=consent`` shows the consent page even when a pre-authorization exists.

Authlib checks ``prompt=none`` without a session and ``none`` with other values for OpenID
requests only, and treats ``prompt=none`` with a session as nothing to check (issue 11,
item 21); this module is the whole rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Payload
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from werkzeug.datastructures import MultiDict

FRESH_SIGN_IN = frozenset({"login", "select_account"})
"""prompt values answered with the sign-in page, signed in or not."""


@dataclass(frozen=True)
class Prompt:
    """What the request demands of the pages (``prompt`` values and ``max_age``)."""

    values: frozenset[str]
    max_age: int | None

    @property
    def none(self) -> bool:
        """No page may be shown."""
        return "none" in self.values

    @property
    def consent(self) -> bool:
        """The consent page must be shown (a pre-authorization does not do)."""
        return "consent" in self.values

    def needs_fresh_sign_in(self, auth_time: int, now: int) -> bool:
        """True when the customer signed in at ``auth_time`` must sign in again now."""
        if self.values & FRESH_SIGN_IN:
            return True
        if self.max_age is None:
            return False
        return self.max_age == 0 or now - auth_time > self.max_age


def read_prompt(payload: OAuth2Payload, redirect_uri: str) -> Prompt:
    """The request's ``prompt`` and ``max_age``; ``invalid_request`` when malformed."""
    values = frozenset((payload.data.get("prompt") or "").split())
    if "none" in values and len(values) > 1:
        raise InvalidRequestError(
            "prompt=none cannot be combined with another prompt value",
            redirect_uri=redirect_uri,
        )
    raw = payload.data.get("max_age")
    max_age = None
    if raw:
        if not raw.isascii() or not raw.isdigit():
            raise InvalidRequestError(
                "max_age must be a whole number of seconds, 0 or more",
                redirect_uri=redirect_uri,
            )
        max_age = int(raw)
    return Prompt(values, max_age)


def after_sign_in(path: str, args: MultiDict[str, str]) -> str:
    """Where the sign-in page sends the customer back: the same authorization request
    without what the sign-in just satisfied (``prompt=login`` / ``select_account``,
    ``max_age``), so it is not asked again (and again)."""
    kept: list[tuple[str, str]] = []
    for key, value in args.items(multi=True):
        if key == "max_age":
            continue
        if key == "prompt":
            value = " ".join(v for v in value.split() if v not in FRESH_SIGN_IN)
            if not value:
                continue
        kept.append((key, value))
    return path + ("?" + urlencode(kept) if kept else "")


__all__ = ["FRESH_SIGN_IN", "Prompt", "after_sign_in", "read_prompt"]
