"""The SST central authority (concept design 6.4.1, 6.4.3, 11.3, Table 17): a small Flask
service beside the entities' servers that qualifies ASPs once, publishes the signed list every
entity trusts (``espi-sst-asp-registry/2``), and receives the entities' reports and the
customers' complaints.  docs/central-authority.md.

``create_authority_app(config)`` builds it; ``espi-sst authority serve|create-staff|migrate``
(command.py) runs it.  Nothing in the server imports this package (import-linter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ..errors import EspiServerError, Refused
from .database import make_engine, session_factory, upgrade
from .keys import signing_key
from .settings import authority_settings

__all__ = ["create_authority_app"]


def create_authority_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The authority's app: settings (ESPI_AUTHORITY_* then ``config``), its database migrated
    (unless ``AUTHORITY_AUTO_MIGRATE`` is off), its signing key made at first start, its
    abuse limits (limits.py) and, behind ``AUTHORITY_TRUSTED_PROXY_HOPS`` proxies, Werkzeug's
    ProxyFix (the client address, scheme and host from their X-Forwarded-* headers)."""
    from . import limits
    from .asp_pages import asp_pages
    from .entity_api import entity_api
    from .registry_api import registry_api
    from .staff_pages import staff_pages
    from .web import close_session, error_answer

    settings = authority_settings(config)
    app = Flask(__name__)
    app.config.update(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["AUTHORITY_ISSUER"].startswith("https://"),
        SESSION_COOKIE_NAME="authority_session",
        MAX_CONTENT_LENGTH=5 * settings["AUTHORITY_MAX_DOCUMENT_BYTES"] + 65536,
        WTF_CSRF_TIME_LIMIT=None,
    )
    engine = make_engine(settings["AUTHORITY_DATABASE_URL"])
    if settings["AUTHORITY_AUTO_MIGRATE"]:
        upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        signing_key(session)
    app.extensions["authority_engine"] = engine
    app.extensions["authority_sessions"] = sessions
    app.extensions["authority_settings"] = settings
    csrf = CSRFProtect(app)
    csrf.exempt(entity_api)  # bearer-authenticated JSON, no cookies
    for blueprint in (asp_pages, staff_pages, registry_api, entity_api):
        app.register_blueprint(blueprint)
    limits.init_app(app)  # after the blueprints: it wraps this app's views
    hops = settings["AUTHORITY_TRUSTED_PROXY_HOPS"]
    if hops > 0:  # behind proxies that set X-Forwarded-*: the client address is theirs
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    app.teardown_appcontext(close_session)
    app.register_error_handler(EspiServerError, error_answer)
    app.register_error_handler(
        CSRFError,
        lambda exc: error_answer(
            Refused(
                400, "csrf", "the form expired or came from elsewhere: reload it and send again"
            )
        ),
    )
    return app
