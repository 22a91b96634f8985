"""Server configuration: defaults, then ``ESPI_*`` environment variables, then test config.

Every key is documented here and in docs/server.md.  Environment variables share the
``ESPI_`` prefix and are read with Flask's ``from_prefixed_env`` (values are parsed as
JSON when they can be: ``ESPI_ACCESS_TOKEN_SECONDS=600``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    # Storage: SQLite in the instance folder unless a URL is given (PostgreSQL:
    # postgresql+psycopg://user:pass@127.0.0.1/espi).
    "DATABASE_URL": None,
    "AUTO_MIGRATE": True,
    # Public identity.  ISSUER is the OAuth/OpenID issuer (RFC 8414, RFC 9207); it must
    # be the externally visible base URL (behind the gateway: the gateway's URL).
    "ISSUER": "http://127.0.0.1:5000",
    "DATA_CUSTODIAN_ID": "espi-sst-demo-utility",
    "UTILITY_NAME": "Demo Utility",
    # Token lifetimes (seconds).  Short access tokens + rotated refresh tokens (RFC 9700).
    "AUTHORIZATION_CODE_SECONDS": 300,
    "ACCESS_TOKEN_SECONDS": 900,
    "REFRESH_TOKEN_SECONDS": 365 * 86400,
    "ID_TOKEN_SECONDS": 900,
    # Sessions / CSRF.  SECRET_KEY is generated and kept in the instance folder when unset.
    "SECRET_KEY": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": 3600,
    # Where customers sign in: None for the built-in table, or "module:attribute" naming an
    # IdentitySource (authenticate, needs_second_factor, verify_second_factor).
    "IDENTITY_SOURCE": None,
}


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Defaults < ESPI_* environment < test_config, then derived values."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("ESPI")
    if test_config:
        app.config.update(test_config)
    instance = Path(app.instance_path)
    if not app.config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'espi-sst.db'}"
    if not app.config["SECRET_KEY"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SECRET_KEY"] = _persistent_secret(instance / "secret_key")
    app.config["ISSUER"] = str(app.config["ISSUER"]).rstrip("/")


def _persistent_secret(path: Path) -> str:
    """A random key created once and kept (sessions survive restarts; nothing to configure)."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
