"""The statewide SST terms and conditions an ASP must accept (Title 20 1623(c)(2)(C);
concept design 6.4.3 item 6, 7.5).

One set of terms for the whole state, versioned, published by the utility's configuration:

* ``TERMS_VERSION`` -- the version in force (e.g. ``2025-01``); unset, no terms apply;
* ``TERMS_URL`` -- where customers and ASPs read that version (https);
* ``TERMS_FILE`` -- the text itself on this host; its SHA-256 is computed at start, or
  ``TERMS_SHA256`` -- the digest given (the text lives elsewhere).  One of them is required,
  so an acceptance names exactly which text was accepted; both given must agree.

:func:`terms_of` checks them when the app starts (a clear error, never a first request's
500).  An ASP accepts a version (:func:`accept_terms`: ``espi-sst register-client
--accept-terms VERSION`` or ``espi-sst asp accept-terms CLIENT_ID VERSION``); the
application row keeps the last version, digest and time, and each acceptance is an audit
row (NFR24).  When the version changes, an ASP that has not accepted it is refused **new**
grants (:func:`new_grant_refusal`: the authorization endpoint, the Mode 1 pre-authorization
page, the bolt-on's add-on consent).  Its existing grants keep running unless the utility
sets ``TERMS_ENFORCE_ON_EXISTING``; then the one rule of a usable grant
(``lifecycle/usable.py``) refuses them too.  The ASP's own client_credentials token is no
grant of a customer's: it keeps working, so the ASP can still read its registration and the
Authorizations it is told about.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from ..errors import ConfigurationError, InvalidInput
from ..storage.models import Application, Authorization
from ..storage.rows import audit

EXTENSION_KEY = "espi_sst_terms"
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class TermsError(InvalidInput):
    """An acceptance that cannot be recorded (a version that is not the one in force ...)."""

    code = "terms_error"


@dataclass(frozen=True)
class Terms:
    """The terms in force: version, where to read them, the SHA-256 of their text."""

    version: str
    url: str
    sha256: str
    enforce_on_existing: bool = False


def terms_of(app: Flask) -> Terms | None:
    """The app's terms (None: none configured), checked and kept once per app.

    Raises:
        ConfigurationError: a setting that is missing, malformed or inconsistent; the message
            names the setting and how to fix it.
    """
    if EXTENSION_KEY in app.extensions:
        return app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
    terms = _read(app)
    app.extensions[EXTENSION_KEY] = terms
    return terms


def current_terms() -> Terms | None:
    """The running app's terms (None outside an app, or when none are configured)."""
    return terms_of(current_app) if has_app_context() else None


def _read(app: Flask) -> Terms | None:
    config = app.config
    version = config.get("TERMS_VERSION")
    url = config.get("TERMS_URL")
    file = config.get("TERMS_FILE")
    given = config.get("TERMS_SHA256")
    enforce = config.get("TERMS_ENFORCE_ON_EXISTING", False)
    if not isinstance(enforce, bool):
        raise ConfigurationError(
            f"TERMS_ENFORCE_ON_EXISTING must be true or false, got {enforce!r}"
        )
    if version in (None, ""):
        stray = [k for k in ("TERMS_URL", "TERMS_FILE", "TERMS_SHA256") if config.get(k)]
        if stray:
            raise ConfigurationError(
                f"{', '.join(stray)} set without TERMS_VERSION: set TERMS_VERSION to the version "
                "of the SST terms and conditions in force, or unset them"
            )
        return None
    version = str(version)
    if not VERSION_PATTERN.match(version):
        raise ConfigurationError(
            f"TERMS_VERSION {version!r} must be 1-32 letters, digits, '.', '_' or '-' "
            "(e.g. 2025-01), starting with a letter or digit"
        )
    if not url:
        raise ConfigurationError(
            "TERMS_URL is required with TERMS_VERSION: the https address where customers and "
            "ASPs read the SST terms and conditions"
        )
    url = str(url)
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" and parts.hostname) and not loopback:
        raise ConfigurationError(
            f"TERMS_URL {url!r} must be an https URL (e.g. https://utility.example/sst-terms-2025-01.pdf)"
        )
    digest = None
    if file:
        path = Path(str(file))
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigurationError(
                f"TERMS_FILE {str(path)!r} cannot be read ({exc.strerror or exc}): give the path "
                "of the terms document, or TERMS_SHA256 instead"
            ) from None
    if given:
        claimed = str(given).strip().lower()
        if not SHA256_PATTERN.match(claimed):
            raise ConfigurationError(
                f"TERMS_SHA256 {given!r} must be 64 hexadecimal digits (sha256sum of the terms)"
            )
        if digest is not None and digest != claimed:
            raise ConfigurationError(
                f"TERMS_SHA256 is {claimed} but TERMS_FILE {str(file)!r} hashes to {digest}: "
                "the file is not the text you meant; fix one of them"
            )
        digest = claimed
    if digest is None:
        raise ConfigurationError(
            "TERMS_VERSION needs TERMS_FILE (the terms document, hashed at start) or "
            "TERMS_SHA256 (its SHA-256): an acceptance must name exactly which text it accepts"
        )
    return Terms(version, url, digest, enforce)


# ---- acceptance ----------------------------------------------------------------------------


def accept_terms(
    session: Session, application: Application, version: str, *, actor: str, now: int
) -> bool:
    """Record that the ASP accepted ``version`` of the terms in force; audited, not committed.

    Returns False (and writes nothing) when it had already accepted that very text.

    Raises:
        TermsError: no terms are configured, or ``version`` is not the version in force
            (an ASP accepts what the utility publishes, nothing else).
    """
    terms = current_terms()
    if terms is None:
        raise TermsError(
            "no SST terms are configured here (TERMS_VERSION is unset): there is nothing to accept",
            code="no_terms",
        )
    if version != terms.version:
        raise TermsError(
            f"the SST terms in force are version {terms.version!r} ({terms.url}); "
            f"{version!r} is not it: accept {terms.version!r}",
            code="wrong_terms_version",
        )
    if application.terms_version == terms.version and application.terms_sha256 == terms.sha256:
        return False
    previous = application.terms_version
    application.terms_version = terms.version
    application.terms_sha256 = terms.sha256
    application.terms_accepted_at = now
    audit(
        session,
        now,
        actor,
        "asp_terms_accepted",
        f"client:{application.client_id}",
        {
            "version": terms.version,
            "sha256": terms.sha256,
            "url": terms.url,
            "previous_version": previous,
        },
    )
    return True


def has_accepted(application: Application, terms: Terms) -> bool:
    """Whether the ASP accepted exactly the text in force (version and digest)."""
    return application.terms_version == terms.version and application.terms_sha256 == terms.sha256


def new_grant_refusal(application: Application) -> str | None:
    """None when the ASP may ask customers for a new grant, else why not (ASCII, no quotes:
    it goes into an OAuth ``error_description``)."""
    terms = current_terms()
    if terms is None or has_accepted(application, terms):
        return None
    return (
        f"{application.client_id} must accept the SST terms and conditions version "
        f"{terms.version} ({terms.url}) before it may ask for new authorizations"
    )


def existing_grant_refused(grant: Authorization) -> bool:
    """Whether ``TERMS_ENFORCE_ON_EXISTING`` stops this existing grant (lifecycle/usable.py):
    its ASP has not accepted the terms in force.  The ASP's row is read only when that
    setting is on (the token guard's one query stays one)."""
    terms = current_terms()
    if terms is None or not terms.enforce_on_existing:
        return False
    return not has_accepted(grant.application, terms)


__all__ = [
    "Terms",
    "TermsError",
    "accept_terms",
    "current_terms",
    "existing_grant_refused",
    "has_accepted",
    "new_grant_refusal",
    "terms_of",
]
