"""``espi-sst registry sync``: pull the central authority's signed list, apply it, report back.

Concept design 6.4.4 (one registration at the authority, distributed to every utility and
CCA), 6.4.5-6.4.6 (withdrawal ends access; complaints reach the authority); issue 20.  One
sync:

1. ``GET REGISTRY_URL`` with ``If-None-Match`` the ETag of the last list applied (RFC 9110
   section 13.1.2); 304: nothing to do.
2. Verify it (``registry_list.verify_registry``): the signature against the pinned key set
   (``REGISTRY_JWKS_FILE``) or the one fetched from ``REGISTRY_JWKS_URL``, ``typ``, the
   format, ``REGISTRY_ISSUER``, ``published`` within ``REGISTRY_MAX_AGE_SECONDS``,
   ``expires`` ahead, ``sequence`` not lower than the last applied.  Refused: nothing applied,
   a one-line :class:`RegistryListError`.
   Each refusal is an audit row ``registry_refused`` (the reason, the body's SHA-256):
   what an attacker between the authority and this entity would send is on record.
   ``404 not_published`` (no ASP approved yet) is not a failure: nothing to apply.
3. Apply it in one transaction (``registry_apply.py``) with an audit row
   ``registry_synced`` holding the sequence and ETag: the audit log is append-only (migration
   0002's triggers), so the last applied sequence cannot be rewritten to let a replay in,
   and it needs no table of its own.
4. ``POST /registry/reports`` what was done per ASP (bearer ``REGISTRY_REPORT_TOKEN``).
5. Forward the customers' complaints not yet forwarded (``POST /complaints``).  A step of
   the sync rather than an outbox kind: the complaint row is already durable, the sync
   already holds the authority's URL and token and runs on a schedule, so a complaint the
   authority could not take is simply sent again next time (an ``complaint_forwarded`` audit
   row marks each one taken); an outbox kind would need a new lane, and sealing, for text
   the utility's own database keeps anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ConfigurationError, EspiServerError
from ..storage.models import Application, AspComplaint, AuditEvent
from ..storage.rows import audit
from .registry_apply import AspResult, apply_registry
from .registry_list import RegistryListError, verify_registry

SYNCED = "registry_synced"
REFUSED = "registry_refused"
FORWARDED = "complaint_forwarded"
TIMEOUT = 20
MAX_BYTES = 8 * 1024 * 1024
ACCEPT = "application/jose"


class RegistryFetchError(EspiServerError):
    """The authority could not be reached, or answered what no list is (the message says)."""

    code = "registry_unreachable"


@dataclass(frozen=True)
class SyncSettings:
    """The ``REGISTRY_*`` settings (docs/server.md), checked."""

    url: str
    issuer: str
    entity_id: str
    max_age_seconds: int
    jwks_file: str | None
    jwks_url: str | None
    report_token: str | None

    @classmethod
    def of(cls, app: Flask) -> SyncSettings:
        config = app.config
        missing = [
            name
            for name in ("REGISTRY_URL", "REGISTRY_ISSUER", "REGISTRY_ENTITY_ID")
            if not str(config.get(name) or "").strip()
        ]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} not set: registry sync needs the authority's list URL, "
                "its issuer and this entity's id in the list (docs/server.md)"
            )
        if not (config.get("REGISTRY_JWKS_FILE") or config.get("REGISTRY_JWKS_URL")):
            raise ConfigurationError(
                "set REGISTRY_JWKS_FILE (the authority's key set, pinned) or REGISTRY_JWKS_URL: "
                "without a key set no list can be verified"
            )
        try:
            max_age = int(config.get("REGISTRY_MAX_AGE_SECONDS") or 0)
        except (TypeError, ValueError):
            max_age = 0
        if max_age <= 0:
            raise ConfigurationError(
                "REGISTRY_MAX_AGE_SECONDS must be a positive number of seconds"
            )
        return cls(
            url=str(config["REGISTRY_URL"]).strip(),
            issuer=str(config["REGISTRY_ISSUER"]).strip(),
            entity_id=str(config["REGISTRY_ENTITY_ID"]).strip(),
            max_age_seconds=max_age,
            jwks_file=config.get("REGISTRY_JWKS_FILE") or None,
            jwks_url=config.get("REGISTRY_JWKS_URL") or None,
            report_token=config.get("REGISTRY_REPORT_TOKEN") or None,
        )

    def endpoint(self, path: str) -> str:
        """``/registry/reports`` or ``/complaints`` at the authority: the list URL's origin
        and any prefix before its ``/registry``."""
        parts = urlsplit(self.url)
        base = parts.path[: -len("/registry")] if parts.path.endswith("/registry") else ""
        return urlunsplit((parts.scheme, parts.netloc, base.rstrip("/") + path, "", ""))


@dataclass
class SyncOutcome:
    """What one sync did (``--json`` prints it; the secrets only there, once)."""

    status: str  # not_modified | not_published | applied
    sequence: int | None = None
    results: list[AspResult] = field(default_factory=list)
    reported: bool | None = None  # None: no report (304, or no REGISTRY_REPORT_TOKEN)
    report_error: str | None = None
    complaints_forwarded: int = 0
    complaint_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "sequence": self.sequence,
            "results": [
                r.report() | ({"client_secret": r.client_secret} if r.client_secret else {})
                for r in self.results
            ],
            "reported": self.reported,
            "report_error": self.report_error,
            "complaints_forwarded": self.complaints_forwarded,
            "complaint_error": self.complaint_error,
        }


def last_applied(session: Session) -> tuple[int | None, str | None]:
    """The sequence and ETag of the last list applied here (None, None: never)."""
    row = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == SYNCED)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if row is None or not row.detail:
        return None, None
    return row.detail.get("sequence"), row.detail.get("etag")


def _get(url: str, headers: dict[str, str]) -> requests.Response:
    try:
        response = requests.get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise RegistryFetchError(
            f"GET {url}: the authority did not answer ({exc.__class__.__name__}); "
            "check REGISTRY_URL and the network, the next sync tries again"
        ) from None
    if len(response.content) > MAX_BYTES:
        raise RegistryFetchError(f"GET {url}: more than {MAX_BYTES} bytes")
    return response


def key_set(settings: SyncSettings) -> dict[str, Any]:
    """The authority's JWKS: the pinned file, else fetched (RFC 7517 section 5)."""
    if settings.jwks_file:
        try:
            data = json.loads(Path(settings.jwks_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"REGISTRY_JWKS_FILE {settings.jwks_file}: {exc}") from None
    else:
        assert settings.jwks_url is not None
        response = _get(settings.jwks_url, {"Accept": "application/json"})
        if response.status_code != 200:
            raise RegistryFetchError(f"GET {settings.jwks_url}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise RegistryFetchError(f"GET {settings.jwks_url}: not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise RegistryListError('the authority\'s key set is not a JWK Set ({"keys": [...]})')
    return data


def sync_once(
    app: Flask, session: Session, *, now: int, actor: str = "registry-sync"
) -> SyncOutcome:
    """One sync (the module docstring): fetch, verify, apply and commit, report, forward.

    Raises:
        RegistryListError: the list is refused; nothing of it was applied.
        RegistryFetchError: the authority did not answer with a list.
        ConfigurationError: the settings cannot work.
    """
    settings = SyncSettings.of(app)
    sequence, etag = last_applied(session)
    headers = {"Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    response = _get(settings.url, headers)
    if response.status_code == 304:
        outcome = SyncOutcome("not_modified", sequence)
    elif _not_published(response):
        outcome = SyncOutcome("not_published", sequence)
    else:
        if response.status_code != 200:
            raise RegistryFetchError(f"GET {settings.url}: HTTP {response.status_code}")
        try:
            registry = verify_registry(
                response.text,
                key_set(settings),
                issuer=settings.issuer,
                max_age_seconds=settings.max_age_seconds,
                now=now,
                last_sequence=sequence,
            )
        except RegistryListError as exc:
            _audit_refusal(session, settings, response, exc, now=now, actor=actor)
            raise
        results = apply_registry(
            session, registry, entity_id=settings.entity_id, now=now, actor=actor
        )
        audit(
            session,
            now,
            actor,
            SYNCED,
            "asp-registry",
            {
                "sequence": registry.sequence,
                "etag": response.headers.get("ETag"),
                "issuer": registry.issuer,
                "published": registry.published.isoformat(),
                "results": [r.report() for r in results],
            },
        )
        session.commit()
        outcome = SyncOutcome("applied", registry.sequence, results)
        if settings.report_token:
            outcome.reported, outcome.report_error = _report(settings, outcome)
    if settings.report_token:
        forward_complaints(session, settings, outcome, now=now)
    return outcome


def _not_published(response: requests.Response) -> bool:
    """The authority's ``404 not_published``: no ASP approved yet, a normal state at the
    start (nothing to apply), not a failure to alarm on."""
    if response.status_code != 404:
        return False
    try:
        return bool(response.json().get("error") == "not_published")
    except (ValueError, AttributeError):
        return False


def _audit_refusal(
    session: Session,
    settings: SyncSettings,
    response: requests.Response,
    exc: RegistryListError,
    *,
    now: int,
    actor: str,
) -> None:
    """A refused list is a security event (a tampered, replayed or stale list is what an
    attacker between the authority and this entity would send): the audit log keeps what
    was refused and why, committed on its own, while nothing of the list is applied."""
    session.rollback()
    audit(
        session,
        now,
        actor,
        REFUSED,
        "asp-registry",
        {
            "code": exc.code,
            "reason": str(exc),
            "url": settings.url,
            "etag": response.headers.get("ETag"),
            "sha256": hashlib.sha256(response.content).hexdigest(),
        },
    )
    session.commit()


def _post(settings: SyncSettings, path: str, body: dict[str, Any]) -> str | None:
    """None when the authority took it (2xx), else why not."""
    url = settings.endpoint(path)
    try:
        response = requests.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {settings.report_token}"},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return f"POST {url}: {exc.__class__.__name__}"
    if 200 <= response.status_code < 300:
        return None
    return f"POST {url}: HTTP {response.status_code} {response.text[:200]}"


def _report(settings: SyncSettings, outcome: SyncOutcome) -> tuple[bool, str | None]:
    error = _post(
        settings,
        "/registry/reports",
        {
            "entity": settings.entity_id,
            "sequence": outcome.sequence,
            "results": [r.report() for r in outcome.results],
        },
    )
    return error is None, error


def forward_complaints(
    session: Session, settings: SyncSettings, outcome: SyncOutcome, *, now: int
) -> None:
    """POST each complaint the authority has not taken yet (6.4.6); each taken one is
    marked with a ``complaint_forwarded`` audit row, committed at once."""
    taken = set(session.scalars(select(AuditEvent.subject).where(AuditEvent.action == FORWARDED)))
    rows = session.execute(
        select(AspComplaint, Application.software_id)
        .join(Application, Application.id == AspComplaint.application_id)
        .order_by(AspComplaint.id)
    ).all()
    for complaint, software_id in rows:
        subject = f"complaint:{complaint.reference}"
        if subject in taken:
            continue
        error = _post(
            settings,
            "/complaints",
            {
                "entity": settings.entity_id,
                "reference": complaint.reference,
                "software_id": software_id,
                "category": complaint.category,
                "text": complaint.text,
                "filed_at": _rfc3339(complaint.created_at),
            },
        )
        if error is not None:
            outcome.complaint_error = error  # sent again at the next sync
            return
        audit(
            session,
            now,
            "registry-sync",
            FORWARDED,
            subject,
            {"to": settings.endpoint("/complaints")},
        )
        session.commit()
        outcome.complaints_forwarded += 1


def _rfc3339(epoch: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
