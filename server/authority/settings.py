"""The authority's settings: ``ESPI_AUTHORITY_*`` environment variables, then the mapping given
to ``create_authority_app`` (tests and the demo), under the ``AUTHORITY_*`` keys below.

=============================================  =====================================================
environment variable                           meaning (default)
=============================================  =====================================================
ESPI_AUTHORITY_DATABASE_URL                    SQLAlchemy URL (``sqlite:///espi-authority.db``)
ESPI_AUTHORITY_ISSUER                          the authority's base URL, the list's ``issuer``
ESPI_AUTHORITY_SECRET_KEY                      signs sessions and e-mail links (required in production)
ESPI_AUTHORITY_TERMS_VERSION                   the SST terms and conditions version in force (``1``)
ESPI_AUTHORITY_ENTITY_TOKENS                   JSON ``{"PGE": "<bearer token>", ...}``
ESPI_AUTHORITY_LIST_LIFETIME_DAYS              how long a published list is fresh (``7``)
ESPI_AUTHORITY_REPUBLISH_HOURS                 republish an unchanged list this often (``12``)
ESPI_AUTHORITY_KEY_PREPARE_HOURS               a prepared signing key may be activated after (``24``)
ESPI_AUTHORITY_SMTP_HOST / _SMTP_PORT          where the verification e-mail goes (``127.0.0.1:25``)
ESPI_AUTHORITY_MAIL_FROM                       its From (``authority@localhost``)
ESPI_AUTHORITY_EMAIL_LINK_HOURS                how long a verification link works (``24``)
ESPI_AUTHORITY_MAX_DOCUMENT_BYTES              largest attestation document (``5242880``)
ESPI_AUTHORITY_ALLOW_LOOPBACK                  ``1``: accept loopback URIs (the demo only)
ESPI_AUTHORITY_AUTO_MIGRATE                    ``0``: do not migrate at start (``espi-sst authority migrate``)
ESPI_AUTHORITY_TRUSTED_PROXY_HOPS              proxies in front that set X-Forwarded-* (``0``)
ESPI_AUTHORITY_RATELIMIT_STORAGE_URI           where limits count (``memory://``; ``redis://...``)
ESPI_AUTHORITY_SIGN_UP_RATE_LIMIT              sign-ups per client address (``5 per hour``)
ESPI_AUTHORITY_SIGN_IN_RATE_LIMIT              sign-in attempts per address (``20 per 15 minutes``)
ESPI_AUTHORITY_VERIFY_RATE_LIMIT               verification links opened per address (``30 per hour``)
ESPI_AUTHORITY_VERIFICATION_EMAIL_LIMIT        verification e-mails per target address (``3 per day``)
ESPI_AUTHORITY_ENTITY_RATE_LIMIT               reports and complaints per entity (``1200 per hour``)
ESPI_AUTHORITY_LIST_RATE_LIMIT                 list and key-set fetches per address (``120 per minute``)
=============================================  =====================================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..limits.windows import parsed

_ENVIRONMENT: dict[str, tuple[str, Any]] = {
    # key: (environment variable, default)
    "AUTHORITY_DATABASE_URL": ("ESPI_AUTHORITY_DATABASE_URL", "sqlite:///espi-authority.db"),
    "AUTHORITY_ISSUER": ("ESPI_AUTHORITY_ISSUER", "http://127.0.0.1:5100"),
    "SECRET_KEY": ("ESPI_AUTHORITY_SECRET_KEY", None),
    "AUTHORITY_TERMS_VERSION": ("ESPI_AUTHORITY_TERMS_VERSION", "1"),
    "AUTHORITY_ENTITY_TOKENS": ("ESPI_AUTHORITY_ENTITY_TOKENS", "{}"),
    "AUTHORITY_LIST_LIFETIME_DAYS": ("ESPI_AUTHORITY_LIST_LIFETIME_DAYS", "7"),
    "AUTHORITY_REPUBLISH_HOURS": ("ESPI_AUTHORITY_REPUBLISH_HOURS", "12"),
    "AUTHORITY_KEY_PREPARE_HOURS": ("ESPI_AUTHORITY_KEY_PREPARE_HOURS", "24"),
    "AUTHORITY_SMTP_HOST": ("ESPI_AUTHORITY_SMTP_HOST", "127.0.0.1"),
    "AUTHORITY_SMTP_PORT": ("ESPI_AUTHORITY_SMTP_PORT", "25"),
    "AUTHORITY_MAIL_FROM": ("ESPI_AUTHORITY_MAIL_FROM", "authority@localhost"),
    "AUTHORITY_EMAIL_LINK_HOURS": ("ESPI_AUTHORITY_EMAIL_LINK_HOURS", "24"),
    "AUTHORITY_MAX_DOCUMENT_BYTES": ("ESPI_AUTHORITY_MAX_DOCUMENT_BYTES", "5242880"),
    "AUTHORITY_ALLOW_LOOPBACK": ("ESPI_AUTHORITY_ALLOW_LOOPBACK", "0"),
    "AUTHORITY_AUTO_MIGRATE": ("ESPI_AUTHORITY_AUTO_MIGRATE", "1"),
    # Abuse limits (limits.py): Flask-Limiter's notation, "N per <period>[; ...]"; "" is off.
    "AUTHORITY_TRUSTED_PROXY_HOPS": ("ESPI_AUTHORITY_TRUSTED_PROXY_HOPS", "0"),
    "RATELIMIT_STORAGE_URI": ("ESPI_AUTHORITY_RATELIMIT_STORAGE_URI", "memory://"),
    "AUTHORITY_SIGN_UP_RATE_LIMIT": ("ESPI_AUTHORITY_SIGN_UP_RATE_LIMIT", "5 per hour"),
    "AUTHORITY_SIGN_IN_RATE_LIMIT": ("ESPI_AUTHORITY_SIGN_IN_RATE_LIMIT", "20 per 15 minutes"),
    "AUTHORITY_VERIFY_RATE_LIMIT": ("ESPI_AUTHORITY_VERIFY_RATE_LIMIT", "30 per hour"),
    "AUTHORITY_VERIFICATION_EMAIL_LIMIT": ("ESPI_AUTHORITY_VERIFICATION_EMAIL_LIMIT", "3 per day"),
    "AUTHORITY_ENTITY_RATE_LIMIT": ("ESPI_AUTHORITY_ENTITY_RATE_LIMIT", "1200 per hour"),
    "AUTHORITY_LIST_RATE_LIMIT": ("ESPI_AUTHORITY_LIST_RATE_LIMIT", "120 per minute"),
}
RATE_LIMITS = (
    "AUTHORITY_SIGN_UP_RATE_LIMIT",
    "AUTHORITY_SIGN_IN_RATE_LIMIT",
    "AUTHORITY_VERIFY_RATE_LIMIT",
    "AUTHORITY_VERIFICATION_EMAIL_LIMIT",
    "AUTHORITY_ENTITY_RATE_LIMIT",
    "AUTHORITY_LIST_RATE_LIMIT",
)
_INTEGERS = (
    "AUTHORITY_LIST_LIFETIME_DAYS",
    "AUTHORITY_REPUBLISH_HOURS",
    "AUTHORITY_KEY_PREPARE_HOURS",
    "AUTHORITY_SMTP_PORT",
    "AUTHORITY_EMAIL_LINK_HOURS",
    "AUTHORITY_MAX_DOCUMENT_BYTES",
    "AUTHORITY_TRUSTED_PROXY_HOPS",
)
_FLAGS = ("AUTHORITY_ALLOW_LOOPBACK", "AUTHORITY_AUTO_MIGRATE")


def authority_settings(given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings, checked: a value that cannot work is a :class:`ConfigurationError` naming
    the variable and what it takes."""
    settings: dict[str, Any] = {}
    for key, (variable, default) in _ENVIRONMENT.items():
        settings[key] = os.environ.get(variable, default)
    settings.update(given or {})
    for key in _INTEGERS:
        try:
            settings[key] = int(settings[key])
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{_ENVIRONMENT[key][0]}={settings[key]!r}: give a whole number"
            ) from None
    for key in _FLAGS:
        settings[key] = str(settings[key]).strip().lower() in ("1", "true", "yes", "on")
    tokens = settings["AUTHORITY_ENTITY_TOKENS"]
    if isinstance(tokens, str):
        try:
            tokens = json.loads(tokens)
        except ValueError:
            tokens = None
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in tokens.items()
    ):
        raise ConfigurationError(
            'ESPI_AUTHORITY_ENTITY_TOKENS: give a JSON object {"PGE": "<token>", ...}'
        )
    settings["AUTHORITY_ENTITY_TOKENS"] = tokens
    if settings["AUTHORITY_TRUSTED_PROXY_HOPS"] < 0:
        raise ConfigurationError(
            "ESPI_AUTHORITY_TRUSTED_PROXY_HOPS: 0 (no proxy) or the number of proxies in front"
        )
    for key in RATE_LIMITS:
        settings[key] = str(settings[key] or "").strip()
        try:
            parsed(settings[key])
        except ValueError:
            raise ConfigurationError(
                f"{_ENVIRONMENT[key][0]}={settings[key]!r}: give limits like '5 per hour' or "
                "'20 per 15 minutes; 100 per day' (empty: no limit)"
            ) from None
    if not settings["SECRET_KEY"]:
        if str(settings["AUTHORITY_ISSUER"]).startswith("https://"):
            raise ConfigurationError(
                "ESPI_AUTHORITY_SECRET_KEY is required with an https issuer (it signs sessions "
                "and the e-mail verification links)"
            )
        settings["SECRET_KEY"] = os.urandom(32).hex()  # development: sessions end at restart
    settings["AUTHORITY_ISSUER"] = str(settings["AUTHORITY_ISSUER"]).rstrip("/")
    return settings
