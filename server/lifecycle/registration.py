"""Registering ASPs: an ApplicationInformation record per client (ESPI section 7.13).

``espi-sst register-client`` calls :func:`register_application`; the client secret is
shown once and stored only as a hash.  The URIs an ASP gives are checked here: redirect
URIs (RFC 6749 3.1.2, RFC 8252 8.3), the notify URI the worker will POST to (the outbound
policy of ``server/outbox/outbound.py``: https, public addresses; issue 11, item 12) and the
``client_uri`` customers are shown as a link (https only: a ``javascript:`` link on the
consent page would run in the utility's origin; issue 11, item 25).  In demo and test mode
(``NOTIFY_ALLOW_LOOPBACK``) http to a loopback host is accepted for both.  The ``software_id`` is what the central registry of
qualified ASPs lists the ASP by (concept design 6.4.4, ``server/lifecycle/registry.py``); its
class (``data-only`` unless given, 6.4.2) bounds its scope (``server/lifecycle/classes.py``).
Duplicates are refused: a client_id already taken, and a name another ASP has (ignoring case
and spaces: customers choose an ASP by its name); a shared software id is allowed (RFC 7591
2: every instance of one piece of software has the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.scope import Scope

from ..errors import InvalidInput
from ..outbox.outbound import DestinationRefused, check_notify_uri
from ..security import hash_secret, new_token, new_uuid, now
from ..sst import phases
from ..storage.models import Application
from .classes import ASP_CLASSES, DATA_ONLY, RATE_CHANGE, class_refusal, without_rate_change

DEFAULT_SCOPE = (
    "FB=1_3_4_5_13_14_15_19_35_37_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=13 "
    "basic billing account usage program_enrollment sst:rin sst:bill_comparison sst:rate_change openid"
)
"""A rate-change ASP's default scope; a data-only ASP's is this without ``sst:rate_change``."""
MAX_SOFTWARE_ID = 256  # Application.software_id


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class RegistrationError(InvalidInput):
    """A client registration that cannot be accepted (the message says why)."""

    code = "invalid_registration"


@dataclass(frozen=True)
class Registered:
    client_id: str
    client_secret: str | None
    application_uuid: str
    asp_class: str = DATA_ONLY
    dormant: tuple[str, ...] = ()  # registered SST functions this utility's phase lacks


def default_scope(asp_class: str) -> str:
    """The scope an ASP of this class is registered for unless one is given (6.4.2)."""
    return DEFAULT_SCOPE if asp_class == RATE_CHANGE else without_rate_change(DEFAULT_SCOPE)


def check_client_uris(redirect_uris: list[str], notify_uri: str) -> bool:
    """Refuse redirect URIs (RFC 6749 3.1.2, RFC 8252 8.3) or a notify URI (the outbound
    policy) this server must not use; returns whether loopback is allowed here (demo, tests).

    Also used when the central authority's list changes a registered client's URIs
    (``registry_sync.py``): an update is held to the rules of a registration.

    Raises:
        RegistrationError: which URI, and what it must be.
    """
    if not redirect_uris:
        raise RegistrationError("at least one redirect URI is required (matched exactly)")
    for uri in redirect_uris:
        parts = urlsplit(uri)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if not (parts.scheme == "https" and parts.hostname) and not loopback:
            # Compare the parsed host, not a prefix: http://localhost.evil.example is not
            # loopback (RFC 8252 8.3).
            raise RegistrationError(
                f"redirect URI {uri!r} must use https (http only for loopback): an absolute "
                "https URL with a host, or http://127.0.0.1, http://[::1] or http://localhost "
                "with any port for a native app (RFC 6749 3.1.2, RFC 8252 7.3 and 8.3)"
            )
        if "#" in uri:
            raise RegistrationError(
                f"redirect URI {uri!r} must not contain a fragment (RFC 6749 3.1.2)"
            )
    allow_loopback = bool(current_app.config.get("NOTIFY_ALLOW_LOOPBACK"))
    try:
        check_notify_uri(notify_uri, allow_loopback=allow_loopback)
    except DestinationRefused as exc:
        raise RegistrationError(str(exc)) from None
    return allow_loopback


def register_application(
    session: Session,
    *,
    name: str,
    redirect_uris: list[str],
    notify_uri: str,
    public: bool = False,
    qualification: str = "qualified",
    scope: str | None = None,
    client_id: str | None = None,
    client_uri: str | None = None,
    software_id: str | None = None,
    asp_class: str = DATA_ONLY,
    commit: bool = True,
) -> Registered:
    """Register an ASP; its secret (None for a public client) is returned only here.

    Args:
        asp_class: ``data-only`` (the default: the stricter rate-change qualification is
            the central authority's to grant, concept design 6.4.2.2) or ``rate-change``.
        scope: the most it may ask for; default :func:`default_scope` of its class.  A
            data-only ASP registered for ``sst:rate_change`` is refused.  SST functions this
            utility's phase does not offer yet are kept and reported in ``dormant``:
            consent and tokens are narrowed at use, so the next phase needs no
            re-registration (``sst/phases.py``).
        software_id: the id the central registry lists the ASP by (``espi-sst asp-registry
            load`` matches applications on it; concept design 6.4.4).  Default: the name.
    """
    if not name.strip():
        raise RegistrationError("the client needs a name customers recognise")
    if software_id is None:
        software_id = name.strip()[:MAX_SOFTWARE_ID]
    software_id = software_id.strip()
    if not software_id or len(software_id) > MAX_SOFTWARE_ID:
        raise RegistrationError(
            f"the software id must be 1-{MAX_SOFTWARE_ID} characters: give the id the central "
            "registry of qualified ASPs lists this ASP by"
        )
    allow_loopback = check_client_uris(redirect_uris, notify_uri)
    client_uri = _checked_client_uri(client_uri, allow_loopback=allow_loopback)
    if qualification not in ("qualified", "pending", "suspended"):
        raise RegistrationError("qualification is one of qualified, pending, suspended")
    if asp_class not in ASP_CLASSES:
        raise RegistrationError(f"the ASP class is one of {', '.join(ASP_CLASSES)}")
    if scope is None:
        scope = default_scope(asp_class)
    parsed = Scope.parse(scope)  # raises ScopeError with the reason
    beyond_class = class_refusal(asp_class, parsed)
    if beyond_class is not None:
        raise RegistrationError(
            f"{beyond_class}: leave sst:rate_change out, or register it --class rate-change "
            "once the central authority has qualified it for rate changes"
        )
    client_id = client_id or "asp-" + new_token(9)
    if session.scalar(select(Application.id).where(Application.client_id == client_id)) is not None:
        raise RegistrationError(f"client_id {client_id!r} is taken")
    same_name = _registered_as(session, name)
    if same_name is not None:
        raise RegistrationError(
            f"an application named {name.strip()!r} is registered already ({same_name}): "
            "customers choose an ASP by its name, so two must not share one; give this one "
            "a name of its own, or rotate the existing one's secret (espi-sst asp "
            "rotate-secret) instead of registering it again"
        )
    secret = None if public else new_token(32)
    application = Application(
        uuid=new_uuid(),
        client_id=client_id,
        client_secret_hash=hash_secret(secret) if secret else None,
        client_name=name.strip(),
        client_uri=client_uri,
        redirect_uris=list(redirect_uris),
        notify_uri=notify_uri,
        scope=scope,
        grant_types=["authorization_code", "refresh_token"]
        + ([] if public else ["client_credentials"]),
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        qualification=qualification,
        asp_class=asp_class,
        software_id=software_id,
        software_version="1",
        contacts=[],
        created_at=now(),
    )
    session.add(application)
    if commit:
        session.commit()
    else:  # the caller's transaction (registry_sync.py: a whole list, all or nothing)
        session.flush()
    return Registered(
        client_id,
        secret,
        application.uuid,
        asp_class,
        phases.dormant(parsed, current_app.config),
    )


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _registered_as(session: Session, name: str) -> str | None:
    """The client_id of an ASP already registered under ``name`` (ignoring case and spaces).

    The name is what the consent page and the portal show a customer; the software id may
    be shared (RFC 7591 2: the same for every instance of one piece of software), the
    name may not.  Resource servers (no redirect URIs) are not shown to customers."""
    key = _name_key(name)
    for client_id, client_name, redirect_uris in session.execute(
        select(Application.client_id, Application.client_name, Application.redirect_uris)
    ):
        if redirect_uris and _name_key(client_name) == key:
            return str(client_id)
    return None


def _checked_client_uri(uri: str | None, *, allow_loopback: bool) -> str | None:
    """The ASP's home page, shown to customers as a link: https with a host (or None)."""
    if uri is None or not uri.strip():
        return None
    parts = urlsplit(uri.strip())
    loopback = allow_loopback and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" and parts.hostname) and not loopback:
        raise RegistrationError(
            f"client_uri {uri!r} must be an https URL (the ASP's page customers are shown)"
        )
    if parts.username is not None or parts.password is not None:
        raise RegistrationError(f"client_uri {uri!r} must not carry user information")
    return uri.strip()


def register_resource_server(
    session: Session, *, name: str, client_id: str | None = None
) -> Registered:
    """A resource server that may introspect tokens here (RFC 7662): the SST bolt-on.

    No redirect URIs, no scope, no grant of its own: it only authenticates at
    ``/oauth/introspect`` to learn what an ASP's token allows (docs/deployment.md).
    """
    if not name.strip():
        raise RegistrationError("the resource server needs a name")
    client_id = client_id or "rs-" + new_token(9)
    if session.scalar(select(Application.id).where(Application.client_id == client_id)) is not None:
        raise RegistrationError(f"client_id {client_id!r} is taken")
    secret = new_token(32)
    application = Application(
        uuid=new_uuid(),
        client_id=client_id,
        client_secret_hash=hash_secret(secret),
        client_name=name.strip(),
        client_uri=None,
        redirect_uris=[],
        notify_uri="",
        scope="",
        grant_types=["introspection"],
        token_endpoint_auth_method="client_secret_basic",
        qualification="qualified",
        asp_class=DATA_ONLY,
        software_id=name.strip()[:MAX_SOFTWARE_ID],
        software_version="1",
        contacts=[],
        created_at=now(),
    )
    session.add(application)
    session.commit()
    return Registered(client_id, secret, application.uuid)
