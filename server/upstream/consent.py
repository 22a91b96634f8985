"""The SST add-on consent's endpoints (``addon.py`` says why and how it binds).

* ``POST /sst/consent/requests`` -- the ASP, authenticated with its credentials here
  (``client_secret_basic`` or ``_post``), pushes ``access_token`` (the custodian's),
  ``resource_uri`` (the custodian's Subscription from the same token response), ``scope``
  (SST categories), ``redirect_uri`` (registered here) and ``state``.  The answer, 201:
  ``request_uri``, ``expires_in`` and ``consent_url``, where the ASP sends the customer.
* ``GET|POST /sst/consent?request_uri=...`` -- the customer signs in (the portal's sign-in,
  i.e. the utility's identity source), sees which ASP asks for which SST categories over
  which of their service agreements, and allows or denies.  The browser then returns to
  ``redirect_uri`` with ``state`` and ``sst_consent=granted`` and the granted ``scope``, or
  ``error=access_denied`` (RFC 6749 4.1.2.1's words).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import HiddenField, SelectMultipleField

import espi_sst
from espi_sst.scope import Category, Scope

from ..errors import Refused
from ..lifecycle.terms import current_terms, new_grant_refusal
from ..lifecycle.usable import grant_refusal
from ..oauth.tokens import validation_mode
from ..portal.consent_page import point_words
from ..portal.scope_words import describe_scope
from ..portal.session import current_customer
from ..security import now
from ..storage import db
from ..storage.models import Application
from ..storage.rows import audit
from . import addon
from .forward import UpstreamError, get
from .introspection import introspect
from .views import unavailable

bp = Blueprint("sst_addon", __name__, url_prefix="/sst", template_folder="templates")
MAX_STATE = 512


class AddonConsentForm(FlaskForm):
    request_uri = HiddenField()
    categories = SelectMultipleField("What to share", choices=[])
    usage_points = SelectMultipleField("Which service agreements", choices=[])


@bp.post("/consent/requests")
def push_request() -> Any:
    """The ASP's pushed add-on consent request (RFC 9126's shape: 201 and a request_uri)."""
    server = current_app.extensions["espi_sst_oauth"]
    oauth_request = server.create_oauth2_request(request)
    try:
        client = server.authenticate_client(
            oauth_request, ["client_secret_basic", "client_secret_post"], endpoint="sst_addon"
        )
    except OAuth2Error as error:
        return server.handle_error_response(oauth_request, error)
    application: Application = client.row
    form = request.form
    token = form.get("access_token", "").strip()
    state = form.get("state", "")
    redirect_uri = form.get("redirect_uri", "")
    if not token:
        raise Refused(400, "invalid_request", "access_token (the custodian's) is required")
    if not state or len(state) > MAX_STATE:
        raise Refused(400, "invalid_request", f"state is required (at most {MAX_STATE} characters)")
    if redirect_uri not in (application.redirect_uris or []):
        raise Refused(400, "invalid_request", "redirect_uri is not registered for this client here")
    unaccepted = new_grant_refusal(application)  # 6.4.3 item 6: no new grant without the terms
    if unaccepted is not None:
        raise Refused(403, "unauthorized_client", unaccepted)
    categories = addon.requested_categories(form.get("scope", ""), application)
    subscription_id = addon.subscription_of(form.get("resource_uri", ""))
    points = _custodian_points(token, subscription_id)
    if validation_mode(current_app) == "introspection":
        try:
            found = introspect(current_app, token)
        except UpstreamError as exc:
            raise unavailable(exc) from None
        if found is None or found.client_id != application.client_id:
            raise Refused(400, "invalid_grant", "this access token was not issued to this client")
    pushed = addon.PushedRequest(
        client_id=application.client_id,
        subscription_id=subscription_id,
        usage_points=points,
        categories=categories,
        redirect_uri=redirect_uri,
        state=state,
    )
    request_uri = addon.seal(current_app, pushed)
    response = jsonify(
        request_uri=request_uri,
        expires_in=addon.REQUEST_SECONDS,
        consent_url=url_for("sst_addon.consent", request_uri=request_uri, _external=True),
    )
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _custodian_points(token: str, subscription_id: str) -> tuple[str, ...]:
    """The usage points the custodian lets ``token`` see in the subscription (its feed)."""
    upstream = str(current_app.config["UPSTREAM_RESOURCE_URL"]).rstrip("/")
    try:
        answer = get(
            current_app, f"{upstream}/Subscription/{subscription_id}/UsagePoint", bearer=token
        )
    except UpstreamError as exc:
        raise unavailable(exc) from None
    if answer.status in (401, 403, 404):
        raise Refused(
            400,
            "invalid_grant",
            f"the data custodian does not accept this access token for subscription "
            f"{subscription_id} (HTTP {answer.status})",
        )
    if answer.status != 200:
        raise unavailable(
            UpstreamError(
                502, "bad_gateway", f"the data custodian answered HTTP {answer.status}", 5
            )
        )
    try:
        document = espi_sst.parse(answer.body)
    except espi_sst.EspiError as exc:
        raise unavailable(
            UpstreamError(
                502, "bad_gateway", f"unreadable UsagePoint feed from the custodian: {exc}", 5
            )
        ) from None
    ids = [e.self_href.rstrip("/").rsplit("/", 1)[-1] for e in document.usage_points if e.self_href]
    if not ids:
        raise Refused(400, "invalid_grant", "the custodian shares no usage point under this token")
    return tuple(ids)


def _error_page(status: int, description: str) -> tuple[str, int]:
    return render_template(
        "portal/error.html", error="Cannot continue", description=description
    ), status


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Any:
    """The customer's add-on consent page."""
    form = AddonConsentForm()
    request_uri = request.values.get("request_uri") or form.request_uri.data
    pushed = addon.unseal(current_app, request_uri)
    if pushed is None:
        return _error_page(
            400,
            "this link is not valid or has expired (it lasts 10 minutes): go back to the "
            "application and start again",
        )
    application = db.session.scalar(
        select(Application).where(Application.client_id == pushed.client_id)
    )
    if application is None or grant_refusal(application.qualification, None, now()) is not None:
        return _error_page(403, "this application may no longer be given access here")
    if new_grant_refusal(application) is not None:
        return _error_page(
            403,
            f"{application.client_name} has not accepted the Single Statewide Tool terms and "
            "conditions in force, so it may not be given new access now. Nothing was shared.",
        )
    customer = current_customer()
    if customer is None:
        target = url_for("sst_addon.consent", request_uri=request_uri)
        return redirect(url_for("portal.login", next=target))
    points = addon.offered_points(customer, pushed)
    if not points:
        return _error_page(
            403,
            "none of the service agreements this application may see are yours: sign in "
            "with the account that gave it access to your Green Button data",
        )
    asked = [Category(c) for c in pushed.categories]
    form.request_uri.data = request_uri
    form.categories.choices = [(c.value, c.label) for c in asked]
    form.usage_points.choices = [(p.uuid, p.title) for p in points]
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            current_app.logger.warning("add-on consent form refused: %s", form.errors)
            return _error_page(400, "the form expired or was altered: open the link again")
        if request.form.get("decision") != "approve":
            audit(
                db.session,
                now(),
                f"customer:{customer.uuid}",
                "sst_addon_consent_denied",
                subject=f"client:{application.client_id}",
            )
            db.session.commit()
            return _back(pushed, error="access_denied")
        chosen = frozenset(
            Category(c) for c in form.categories.data or [] if c in pushed.categories
        )
        shared = [p for p in points if p.uuid in set(form.usage_points.data or [])]
        if not chosen or not shared:
            error = "Tick at least one thing to share and one service agreement, or choose Deny."
        else:
            row = addon.record(
                db.session,
                application=application,
                customer=customer,
                subscription_id=pushed.subscription_id,
                categories=chosen,
                points=shared,
            )
            return _back(pushed, sst_consent="granted", scope=row.scope)
    return render_template(
        "sst/addon_consent.html",
        form=form,
        client=application,
        words=describe_scope(Scope(categories=frozenset(asked))),  # the consent page's words
        usage_points=[point_words(p) for p in points],
        error=error,
        terms=current_terms(),
    ), (400 if error else 200)


def _back(pushed: addon.PushedRequest, **params: str) -> WerkzeugResponse:
    """To the ASP's redirect_uri with the outcome and its state."""
    separator = "&" if "?" in pushed.redirect_uri else "?"
    query = urlencode({**params, "state": pushed.state})
    return redirect(f"{pushed.redirect_uri}{separator}{query}")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


__all__ = ["bp", "init_app"]
