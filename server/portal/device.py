"""The "recognised device" cookie: browsers a customer signed in from before.

Why (issue 11, item 9): backoff per account must not let strangers guessing elsewhere hold
up the owner.  OWASP's "Slow Down Online Guessing Attacks with Device Cookies": after a
successful sign-in the browser gets a signed, expiring cookie naming the account (by keyed
hash) and a random nonce; later attempts at that account from that browser are counted
under the nonce only, not under the account's strangers' backoff.  A thief of the cookie
gets a backoff of its own (the nonce's), nothing more.

The cookie (``sign_in_device``) lists up to five accounts (a shared household computer),
each with its nonce and issue time; it is signed with ``SECRET_KEY`` (itsdangerous), lives
``SIGN_IN_DEVICE_SECONDS``, is HttpOnly, SameSite=Strict (only our own sign-in form needs
it) and Secure like the session cookie.  Each successful sign-in replaces the account's
entry with a new nonce.  It grants nothing by itself: the password is still checked.
"""

from __future__ import annotations

from flask import after_this_request, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from ..security import new_token, now

COOKIE = "sign_in_device"
_SALT = "espi-sst sign-in device"
_MOST_ACCOUNTS = 5
_Entry = tuple[str, str, int]  # account (keyed hash), nonce, issued at


def _lifetime() -> int:
    return int(current_app.config["SIGN_IN_DEVICE_SECONDS"])


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt=_SALT)


def _entries() -> list[_Entry]:
    """The cookie's live entries (none if it is missing, forged, expired or malformed)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        loaded = _serializer().loads(raw, max_age=_lifetime())
    except BadSignature:  # includes SignatureExpired
        return []
    oldest = now() - _lifetime()
    if not isinstance(loaded, list):
        return []
    return [
        (entry[0], entry[1], entry[2])
        for entry in loaded[:_MOST_ACCOUNTS]
        if isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and isinstance(entry[1], str)
        and isinstance(entry[2], int)
        and entry[2] > oldest
    ]


def recognised(account: str) -> str | None:
    """This browser's nonce for ``account`` if it signed in to it before, else None."""
    for entry_account, nonce, _issued in _entries():
        if entry_account == account:
            return nonce
    return None


def remember(account: str) -> None:
    """After a successful sign-in: this browser is recognised for ``account`` (new nonce)."""
    others = [entry for entry in _entries() if entry[0] != account]
    entries = [[account, new_token(16), now()]] + [list(e) for e in others]
    value = _serializer().dumps(entries[:_MOST_ACCOUNTS])
    interface = current_app.session_interface

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            COOKIE,
            value,
            max_age=_lifetime(),
            path=interface.get_cookie_path(current_app),
            domain=interface.get_cookie_domain(current_app),
            secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
            httponly=True,
            samesite="Strict",
        )
        return response
