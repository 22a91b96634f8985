"""Small security helpers shared by the server's parts: hashing secrets, random ids, time.

Tokens and codes are high-entropy random strings, so a plain SHA-256 is the right store
(a slow password hash adds nothing and costs every request); client secrets are hashed the
same way for the same reason.  Customer passwords use argon2 (see portal).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable


def now() -> int:
    """Epoch seconds (every stored time is one)."""
    return int(time.time())


def running_clock(start: int) -> Callable[[], int]:
    """``start`` (epoch seconds, a caller's "now", which a test may fix) moved on by the
    time that has passed since this call: what a claim or a lease must be measured from.

    A worker's pass takes its time once; a claim made from that time after the pass has run
    for longer than the claim itself is over the moment it is made, and a second worker
    takes the same row while the first still works on it (a passcode e-mail sent twice,
    found by the reliability soak, issue 15).
    """
    began = time.monotonic()
    return lambda: start + int(time.monotonic() - began)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same_secret(value: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented secret with its stored hash."""
    if stored_hash is None:
        return False
    return hmac.compare_digest(hash_secret(value), stored_hash)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_uuid() -> str:
    return str(uuid.uuid4())
