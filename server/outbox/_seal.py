"""Outbox bodies encrypted at rest (issue 11, item 4): a pending passcode e-mail must not be
readable from the database, a backup or a replica.

Fernet (``cryptography``: AES-128-CBC + HMAC-SHA256, authenticated) seals each body.  The key
is ``OUTBOX_KEY`` when set -- a Fernet key (``Fernet.generate_key()``), or a list of them,
the first encrypting and all decrypting (rotation: put the new key first, keep the old one
until the outbox has drained) -- else derived from ``SECRET_KEY`` with HKDF-SHA256 (RFC
5869, its own ``info`` label, so the derived key is useless as a session key and the other
way round).  The derived key always decrypts too, so moving from the default to a
dedicated key loses nothing.

A body that no configured key opens (``SECRET_KEY`` changed with messages still pending)
raises :class:`SealError`; the outbox records that as a permanent failure of that row,
visible in ``last_error`` and the audit log, and goes on with the others.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask

from ..errors import InvalidInput

EXTENSION = "espi_sst_outbox_seal"
_INFO = b"espi-sst outbox encryption v1"


class SealError(InvalidInput):
    """A sealed body none of the configured keys opens, or a key that is not a Fernet key."""

    code = "sealed_body_unreadable"


def seal(app: Flask, data: dict[str, Any]) -> str:
    """``data`` as JSON, encrypted with the current outbox key (a URL-safe text token)."""
    return _keys(app).encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


def unseal(app: Flask, token: str) -> dict[str, Any]:
    try:
        opened = json.loads(_keys(app).decrypt(token.encode()))
    except InvalidToken:
        raise SealError(
            "cannot decrypt the message: the outbox key changed (SECRET_KEY or OUTBOX_KEY) "
            "while it was pending"
        ) from None
    if not isinstance(opened, dict):
        raise SealError("the decrypted message is not a JSON object")
    return opened


def _keys(app: Flask) -> MultiFernet:
    """The app's keys, built once (per SECRET_KEY / OUTBOX_KEY) and kept in extensions."""
    configured = app.config.get("OUTBOX_KEY") or []
    if isinstance(configured, str):
        configured = [configured]
    identity = (str(app.config["SECRET_KEY"]), tuple(str(k) for k in configured))
    cached = app.extensions.get(EXTENSION)
    if cached is not None and cached[0] == identity:
        return cached[1]  # type: ignore[no-any-return]
    keys = []
    for key in configured:
        try:
            keys.append(Fernet(key))
        except ValueError:
            raise SealError(
                "OUTBOX_KEY must be Fernet keys (32 url-safe base64-encoded bytes; make one "
                "with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from None
    keys.append(Fernet(_derived(str(app.config["SECRET_KEY"]))))
    made = MultiFernet(keys)
    app.extensions[EXTENSION] = (identity, made)
    return made


def _derived(secret_key: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(key)
