"""Where an ASP keeps its customers' tokens: the hook the client saves every new token through.

Refresh tokens rotate: each refresh returns a new refresh token and the old one becomes
useless (presenting it again revokes the whole family, RFC 9700 4.14).  So the newest token
must be saved before it is used, every time, or a crash loses the customer's grant.  The
client calls :meth:`TokenStore.save` from inside the refresh, before the request that
needed it goes out.

Two stores are provided: :class:`MemoryTokenStore` (tests, short scripts) and
:class:`FileTokenStore` (one JSON file, written atomically, readable by the owner only).
A production ASP implements the protocol on its own database.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

__all__ = ["FileTokenStore", "MemoryTokenStore", "TokenStore"]

Token = dict[str, Any]


class TokenStore(Protocol):
    def load(self, key: str) -> Token | None: ...

    def save(self, key: str, token: Token) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryTokenStore:
    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def load(self, key: str) -> Token | None:
        with self._lock:
            found = self._tokens.get(key)
            return None if found is None else dict(found)

    def save(self, key: str, token: Token) -> None:
        with self._lock:
            self._tokens[key] = dict(token)

    def delete(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class FileTokenStore:
    """All tokens in one JSON file (mode 0600), replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Token]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{self.path}: not a JSON token store ({exc}); restore it from a backup"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: a token store holds a JSON object")
        return data

    def _write(self, tokens: dict[str, Token]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(tokens, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, key: str) -> Token | None:
        with self._lock:
            return self._read().get(key)

    def save(self, key: str, token: Token) -> None:
        with self._lock:
            tokens = self._read()
            tokens[key] = dict(token)
            self._write(tokens)

    def delete(self, key: str) -> None:
        with self._lock:
            tokens = self._read()
            if tokens.pop(key, None) is not None:
                self._write(tokens)
