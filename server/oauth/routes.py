"""OAuth / OpenID Connect endpoints: authorize (with consent), token, revoke, introspect,
userinfo, JWKS and discovery metadata (RFC 8414, OpenID Connect Discovery).

The authorization endpoint never redirects to an unverified client or redirect URI: such
errors get an error page (RFC 6749 4.1.2.1).  Every other authorization response, error or
not, is written by ``responses.py``: in the response mode, with ``state`` and ``iss``
(RFC 9207) beside the rest.  Both onboarding modes of the concept design
(section 7.2) end here: Mode 2, consent in the flow; Mode 1, a pre-authorization the
customer made in the portal, so the flow needs only sign-in.  Which pages the request
allows or demands (``prompt``, ``max_age``) is ``prompt.py``'s rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Payload
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select, update
from werkzeug.wrappers import Response

from espi_sst.model.enums import AuthorizationStatus
from espi_sst.scope import Category, Scope

from ..lifecycle import notices
from ..lifecycle.access import may_request_consent, refusal_reason
from ..lifecycle.classes import class_refusal
from ..lifecycle.replacement import replace_earlier_grants
from ..lifecycle.terms import new_grant_refusal
from ..limits import client_limit
from ..portal.consent_page import render_consent
from ..portal.forms import ConsentForm
from ..portal.session import auth_time, current_customer
from ..security import new_uuid, now
from ..sst import phases
from ..storage import db
from ..storage.models import (
    Application,
    Authorization,
    PreAuthorization,
    RetailCustomer,
    UsagePoint,
)
from ..storage.rows import audit, rowcount
from . import responses, routing
from .discovery import metadata
from .guard import current_grant, refuse
from .keys import jwks
from .prompt import after_sign_in, read_prompt
from .server import EspiAuthorizationServer

bp = Blueprint("oauth", __name__)


@dataclass(frozen=True)
class Consent:
    """What the customer agreed to, read by ``save_authorization_code``."""

    authorization_id: int
    scope: str
    auth_time: int


def _server() -> EspiAuthorizationServer:
    return current_app.extensions["espi_sst_oauth"]  # type: ignore[no-any-return]


def _error_page(error: OAuth2Error, status: int = 400) -> tuple[str, int]:
    return render_template(
        "portal/error.html", error=error.error, description=error.description or ""
    ), status


def _payload() -> OAuth2Payload:
    """The authorization request's parameters, as Authlib reads them."""
    return _server().create_oauth2_request(None).payload


def _answer(redirect_uri: str, params: responses.Params) -> Response:
    """The authorization response: ``params`` with state and iss, in the request's mode."""
    payload = _payload()
    return responses.authorization_redirect(
        redirect_uri,
        params,
        mode=responses.delivery_mode(payload),
        state=payload.state,
        issuer=current_app.config["ISSUER"],
    )


def _error_redirect(
    error: OAuth2Error, extra: responses.Params | None = None
) -> Response | tuple[str, int]:
    """Errors after the client and redirect URI are verified go back to the client; before
    that, an error page (RFC 6749 4.1.2.1: never redirect to an unverified URI)."""
    if not error.redirect_uri:
        return _error_page(error)
    return _answer(error.redirect_uri, responses.error_params(error) + (extra or []))


def _refuse_unqualified_client() -> Response | tuple[str, int] | None:
    """Only qualified ASPs reach the consent page (concept design 6.4, 6.4.4-6.4.6).

    * ``pending`` (not yet on the central list): the client and its redirect URI are known
      and were registered by this utility, so the refusal goes back to the ASP as RFC 6749
      4.1.2.1 says -- ``error=unauthorized_client`` ("the client is not authorized to request
      an authorization code"), with ``state`` and ``iss`` -- before any sign-in.  A redirect
      URI that is not one it registered gets the error page instead (never redirect to an
      unverified URI).
    * ``suspended`` / ``dequalified`` / ``blocked``: an error page for the customer and no
      redirect.  This utility no longer deals with the client, so its identifier counts as
      invalid (4.1.2.1: inform the resource owner, MUST NOT redirect): a withdrawn ASP's
      redirect URI is not trusted to receive the customer.
    """
    client_id = request.values.get("client_id")
    row = (
        db.session.scalar(select(Application).where(Application.client_id == client_id))
        if client_id
        else None
    )
    if row is None or may_request_consent(row):
        return None
    if row.qualification == "pending":
        redirect_uri = _registered_redirect_uri(row)
        if redirect_uri is not None:
            audit(
                db.session,
                now(),
                f"client:{row.client_id}",
                "authorization_refused",
                subject=f"client:{row.client_id}",
                detail={"qualification": row.qualification},
            )
            db.session.commit()
            refusal = UnauthorizedClientError(
                description=(
                    f"{row.client_id} is not yet qualified for the Single Statewide Tool "
                    "(concept design 6.4.4): it may ask customers for access once the central "
                    "registry lists it as qualified"
                )
            )
            return _answer(redirect_uri, responses.error_params(refusal))
    description = (
        f"{row.client_name} may not ask for access to your data: {refusal_reason(row)}. "
        "Nothing was shared with it."
    )
    return _error_page(UnauthorizedClientError(description=description), 403)


def _registered_redirect_uri(row: Application) -> str | None:
    """The request's redirect URI when it is exactly one the client registered (RFC 6749
    3.1.2.3; absent: the client's only one), else None."""
    given = request.values.getlist("redirect_uri")
    if len(given) > 1:
        return None
    if not given:
        return row.redirect_uris[0] if len(row.redirect_uris) == 1 else None
    return given[0] if given[0] in row.redirect_uris else None


def _scope_refusal(client: Application, requested: Scope) -> str | None:
    """Why the client may not ask for ``requested`` (None: it may): beyond its registration,
    or beyond its class (a data-only ASP and ``sst:rate_change``, concept design 6.4.2.1)."""
    if not requested.within(Scope.parse(client.scope)):
        return f"the scope asks for more than {client.client_id} is registered for"
    return class_refusal(client.asp_class, requested)


def _refuse_without_terms(grant: Any) -> None:
    """Terms gating (Title 20 1623(c)(2)(C); concept design 6.4.3 item 6): an ASP that has
    not accepted the SST terms in force asks for no new grant.  Answered to the client
    (verified, with its redirect URI) as ``unauthorized_client`` (RFC 6749 4.1.2.1: not
    authorized to request a code), before any page: the customer neither signs in nor sees
    a consent page for a grant that could not be given."""
    why = new_grant_refusal(grant.client.row)
    if why is not None:
        audit(
            db.session,
            now(),
            f"client:{grant.client.row.client_id}",
            "authorization_refused_terms",
            subject=f"client:{grant.client.row.client_id}",
            detail={"accepted_version": grant.client.row.terms_version},
        )
        db.session.commit()
        raise UnauthorizedClientError(description=why, redirect_uri=grant.redirect_uri)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    refused = _refuse_unqualified_client()
    if refused is not None:
        return refused
    customer = current_customer()
    try:
        grant = _server().get_consent_grant(end_user=customer)
        # Before any page: an answer the client could not receive must not need consent.
        responses.check_response_mode(grant.request.payload, grant.redirect_uri)
        demands = read_prompt(grant.request.payload, grant.redirect_uri)
        _refuse_without_terms(grant)
    except OAuth2Error as error:
        return _error_redirect(error)
    config = current_app.config
    misrouted = routing.before_sign_in(config)
    if misrouted is None and customer is not None:
        misrouted = routing.after_sign_in(config, customer)
    if misrouted is not None:  # concept design 7.3.5: tell the ASP where to go instead
        audit(
            db.session,
            now(),
            "anonymous" if customer is None else f"customer:{customer.uuid}",
            "authorization_misrouted",
            subject=f"client:{grant.client.row.client_id}",
            detail={"route_to": misrouted.route_to},
        )
        db.session.commit()
        return _error_redirect(
            InvalidRequestError(
                misrouted.description,
                redirect_uri=grant.redirect_uri,
            ),
            extra=misrouted.params(),
        )
    if customer is None or demands.needs_fresh_sign_in(auth_time(), now()):
        if demands.none:  # OIDC Core 3.1.2.1: no page, not even the sign-in page
            return _error_redirect(LoginRequiredError(redirect_uri=grant.redirect_uri))
        target = after_sign_in(request.script_root + request.path, request.args)
        return redirect(url_for("portal.login", next=target))
    client = grant.client.row
    asked = Scope.parse(grant.request.payload.scope)
    refusal = _scope_refusal(client, asked)
    if refusal is not None:
        # RFC 6749 4.1.2.1: asking for more than the registration or the ASP's class allows
        # is invalid_scope, answered to the client -- not a consent page for less.
        return _error_redirect(InvalidScopeError(refusal, redirect_uri=grant.redirect_uri))
    # The SST functions of a later phase are narrowed out (RFC 6749 3.3; concept design
    # 6.1): never on the consent page, never in the token, whose scope says what was given.
    requested = phases.narrowed(asked, current_app.config)
    if asked.categories and not requested.categories:
        return _error_redirect(
            InvalidScopeError(
                "nothing asked for is offered by this utility yet (SST_PHASE "
                f"{phases.phase(current_app.config)}, concept design 6.1)",
                redirect_uri=grant.redirect_uri,
            )
        )
    points = [p for p in customer.usage_points if p.closed_at is None]  # closed: not shareable

    if request.method == "GET" or demands.none:
        pre = None if demands.consent else _preauthorization(customer, client.id, requested)
        if pre is not None and any(p.closed_at is None for p in pre.usage_points) and _claim(pre):
            # Mode 1: consent was given in the portal beforehand
            chosen = frozenset(requested.categories & Scope.parse(pre.scope).categories)
            return _approve(
                grant,
                customer,
                requested.narrowed_to(chosen),
                [p for p in pre.usage_points if p.closed_at is None],
                pre.ends_at,
                "mode1",
            )
        if demands.none:  # signed in, but only the consent page could grant this
            return _error_redirect(ConsentRequiredError(redirect_uri=grant.redirect_uri))
        return _consent_page(client, customer, requested, points, ConsentForm())

    if request.form.get("decision") != "approve":  # CSRF was checked (CSRFProtect)
        audit(
            db.session,
            now(),
            f"customer:{customer.uuid}",
            "consent_denied",
            subject=f"client:{client.client_id}",
        )
        db.session.commit()
        return _error_redirect(AccessDeniedError(redirect_uri=grant.redirect_uri))
    form = ConsentForm()
    form.categories.choices = [(c.value, c.label) for c in requested.categories]
    form.usage_points.choices = [(p.uuid, p.title) for p in points]
    if not form.validate_on_submit():
        if form.how_long_error:  # no choice of how long, or a date out of range: say so
            return _consent_page(
                client, customer, requested, points, form, form.how_long_error
            ), 400
        return render_template(
            "portal/error.html",
            error="invalid_request",
            description="the consent form expired or was not ours",
        ), 400
    chosen_categories = frozenset(Category(v) for v in form.categories.data or [])
    chosen_points = [p for p in points if p.uuid in set(form.usage_points.data or [])]
    if not chosen_points:
        return _consent_page(
            client,
            customer,
            requested,
            points,
            form,
            "Choose at least one service agreement to share.",
        ), 400
    ends_at = form.ends_at()
    return _approve(
        grant, customer, requested.narrowed_to(chosen_categories), chosen_points, ends_at, "mode2"
    )


def _consent_page(
    client: Application,
    customer: RetailCustomer,
    requested: Scope,
    points: list[UsagePoint],
    form: ConsentForm,
    error: str | None = None,
) -> str:
    return render_consent(
        client=client,
        customer=customer,
        scope=requested,
        categories=requested.categories,
        usage_points=points,
        form=form,
        error=error,
    )


def _claim(pre: PreAuthorization) -> bool:
    """Use the pre-authorization up, race-safely: a conditional UPDATE as the request's first
    write, committed with the grant and its code (``save_code``).  Parallel requests (with
    ``prompt=none`` a script can send many) wait for the first one's commit and match
    nothing: one grant per pre-authorization."""
    return (
        rowcount(
            db.session.execute(
                update(PreAuthorization)
                .where(PreAuthorization.id == pre.id, PreAuthorization.used_at.is_(None))
                .values(used_at=now())
            )
        )
        == 1
    )


def _preauthorization(
    customer: RetailCustomer, application_id: int, requested: Scope
) -> PreAuthorization | None:
    moment = now()
    rows = db.session.scalars(
        select(PreAuthorization).where(
            PreAuthorization.customer_id == customer.id,
            PreAuthorization.application_id == application_id,
            PreAuthorization.used_at.is_(None),
        )
    )
    for row in rows:
        if row.ends_at is None or row.ends_at > moment:
            return row
    return None


def _approve(
    grant: Any,
    customer: RetailCustomer,
    scope: Scope,
    usage_points: list[UsagePoint],
    ends_at: int | None,
    mode: str,
) -> Response:
    moment = now()
    authorization = Authorization(
        uuid=new_uuid(),
        subscription_uuid=new_uuid(),
        customer_id=customer.id,
        application_id=grant.client.row.id,
        scope=str(scope),
        status=AuthorizationStatus.Active,
        created_at=moment,
        updated_at=moment,
        ends_at=ends_at,
        grant_type="authorization_code",
        usage_points=usage_points,
    )
    db.session.add(authorization)
    db.session.flush()  # its id, for the code; committed with the code (save_code)
    # One grant per customer, ASP and service agreements: this consent replaces the
    # earlier ones (lifecycle/access.py, issue 12), in the same commit as the new grant.
    replaced = replace_earlier_grants(
        db.session, authorization, actor=f"customer:{customer.uuid}", now=moment
    )
    audit(
        db.session,
        now(),
        f"customer:{customer.uuid}",
        "consent_granted",
        subject=f"authorization:{authorization.uuid}",
        detail={
            "client": grant.client.row.client_id,
            "scope": str(scope),
            "mode": mode,
            "usage_points": [p.uuid for p in usage_points],
            "ends_at": ends_at,
            "replaces": replaced,
        },
    )
    # 7.4, 7.5: the customer's confirmation (with the terms) and the ASP's BatchList naming
    # the Authorization, queued in this transaction: no notice of a grant never made.
    notices.grant_created(db.session, authorization, now=moment)
    g.espi_consent = Consent(authorization.id, str(scope), auth_time())
    # The grant, its audit row and the code are one commit: no grant its ASP never got.
    return _answer(grant.redirect_uri, grant.front_channel_params(customer))


@bp.route("/oauth/token", methods=["POST"])
@client_limit
def token() -> Any:
    return _server().create_token_response()


@bp.route("/oauth/revoke", methods=["POST"])
@client_limit
def revoke() -> Any:
    return _server().create_endpoint_response("revocation")


@bp.route("/oauth/introspect", methods=["POST"])
@client_limit
def introspect() -> Any:
    return _server().create_endpoint_response("introspection")


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    grant = current_grant()
    if (
        not grant.scope.openid
        or grant.authorization is None
        or grant.authorization.customer is None
    ):
        refuse(403, "insufficient_scope", "userinfo needs the openid scope")
    assert grant.authorization is not None and grant.authorization.customer is not None
    customer = grant.authorization.customer
    info: dict[str, Any] = {"sub": customer.uuid}
    if grant.scope.allows(Category.BASIC):
        info["name"] = customer.display_name
        if customer.email:
            info["email"] = customer.email
    return jsonify(info)


@bp.route("/oauth/jwks.json")
def jwks_document() -> Any:
    return jsonify(jwks(db.session))


@bp.route("/.well-known/oauth-authorization-server")
@bp.route("/.well-known/openid-configuration")
def discovery() -> Any:
    return jsonify(metadata())  # discovery.py


def init_app(app: Any) -> None:
    """Register the endpoints (a CSRF failure is answered by ``errors/wire.py``)."""
    app.register_blueprint(bp)
