"""espi-sst server: a Green Button Connect data custodian with the SST extension.

``create_app(test_config=None)`` builds the Flask app (the flaskr pattern): configuration
from defaults, ``ESPI_*`` environment variables and the test config; SQLAlchemy storage
migrated by Alembic; the OAuth 2 / OpenID Connect authorization server, the customer
portal and the ESPI resource API as blueprints.  Production: ``gunicorn
'espi_sst_server:create_app()'``.

The server uses the espi_sst library; the library never imports the server.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import limits
from .config import load_config
from .errors import wire
from .lifecycle.terms import terms_of
from .observability import logs
from .security import edge
from .storage import db

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, test_config)
    from .sst.phases import phase

    phase(app.config)  # SST_PHASE not 1, 2 or 3 stops the start, naming the setting
    logs.init_app(app)  # request ids and one line per request, inside ProxyFix (observability)
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops > 0:  # behind the gateway: its public URL and /SST/v1/{ID} prefix in every URL
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    terms_of(app)  # the SST terms settings, checked at start (lifecycle/terms.py)
    db.init_app(app)
    wire.init_app(app)  # the one mapping of every error to an answer (errors/wire.py)
    edge.init_app(app)  # first hook: NUL, size and JSON depth before CSRF, limits and views
    csrf.init_app(app)
    limits.init_app(app)  # per-app Flask-Limiter for the views limits.py decorates
    from .ops import health, metrics_endpoint

    health.init_app(app)  # /healthz, /readyz (docs/operations.md)
    metrics_endpoint.init_app(app)  # request metrics and /metrics, loopback or token only

    from . import portal, resource
    from .oauth import routes as oauth_routes
    from .oauth.server import init_oauth

    init_oauth(app)
    _install_token_source(app)
    oauth_routes.init_app(app)
    portal.init_app(app)
    resource.init_app(app)  # after csrf.init_app: the API is exempt (bearer tokens, no cookies)
    # Machine endpoints authenticate the client, not a browser session: no CSRF token.
    for view in (
        oauth_routes.token,
        oauth_routes.revoke,
        oauth_routes.introspect,
        oauth_routes.userinfo,
    ):
        csrf.exempt(view)
    if app.config.get("UPSTREAM_RESOURCE_URL"):  # bolt-on mode: the SST add-on consent
        from .upstream import consent

        consent.init_app(app)
        csrf.exempt(consent.push_request)  # the ASP authenticates itself; no browser
    if app.config.get("DEMO_MAILDIR"):  # the demo's inbox page; never loads the demo otherwise
        from .demo.inbox import init_app as init_demo_inbox

        init_demo_inbox(app)
    if app.config.get("DEMO_SMS_DIR"):  # the demo's SMS inbox, beside the e-mail one
        from .demo.sms_inbox import init_app as init_demo_sms_inbox

        init_demo_sms_inbox(app)
    return app


def _install_token_source(app: Flask) -> None:
    """The one place that picks how bearer tokens are checked (``oauth/tokens.py``)."""
    from .oauth import tokens

    mode = tokens.validation_mode(app)
    if mode == "local":
        tokens.install(app, tokens.LocalTokens())
        return
    from .upstream.forward import deadline_seconds  # bolt-on mode
    from .upstream.probe import cache_seconds
    from .upstream.tokens import IntrospectedTokens, ProbedTokens

    # a revocation bound out of range stops the start, not the first request
    cache_seconds(app)
    cache_seconds(app, "INTROSPECTION_CACHE_SECONDS")
    deadline_seconds(app)
    tokens.install(app, IntrospectedTokens() if mode == "introspection" else ProbedTokens())


__all__ = ["create_app"]
