"""The sample ASP's web app: connect, dashboard, rate change, notifications.

Read it top to bottom: configuration, the pages in the order a customer meets them, then
the friendly answers to the client library's errors.  Everything the utility says comes
through :mod:`espi_sst.client`; prices come from MIDAS through :mod:`espi_sst.midas`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
import time
from collections import deque
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from espi_sst.client import (
    AspClient,
    AuthorizationEnded,
    AuthorizationFlowError,
    AuthorizationRequest,
    ClientError,
    DiscoveryError,
    FileTokenStore,
    InsufficientScope,
    InvalidPasscode,
    NotificationReceiver,
    RateLimited,
    RequestRefused,
    ServerError,
)
from espi_sst.midas import DEFAULT_BASE_URL, MidasClient
from espi_sst.model import sst
from espi_sst.scope import Category

from .dashboard import add_price, gather

DEFAULT_SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change openid"
)
REQUIRED = ("UTILITY_ISSUER", "CLIENT_ID", "REDIRECT_URI", "TOKEN_STORE", "SECRET_KEY")
PACIFIC = ZoneInfo("America/Los_Angeles")
FINAL = {
    sst.RateChangeStatus.accepted,
    sst.RateChangeStatus.rejected,
    sst.RateChangeStatus.expired,
    sst.RateChangeStatus.cancelled,
}
CSP = (
    "default-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

pages = Blueprint("asp", __name__)


# ---- configuration ---------------------------------------------------------------------
class AspState:
    """What the app keeps between requests: the utility client and the notifications."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.notifications: deque[tuple[float, list[str]]] = deque(maxlen=200)
        self._client: AspClient | None = None
        self._lock = threading.Lock()

    def client(self) -> AspClient:
        """The utility client, made at first use (discovery needs the utility to be up)."""
        with self._lock:
            if self._client is None:
                self._client = AspClient.from_issuer(
                    self.config["UTILITY_ISSUER"],
                    client_id=self.config["CLIENT_ID"],
                    client_secret=self.config.get("CLIENT_SECRET"),
                    redirect_uri=self.config["REDIRECT_URI"],
                    scope=self.config["SCOPE"],
                    token_store=FileTokenStore(self.config["TOKEN_STORE"]),
                )
            return self._client

    def notified(self, urls: list[str]) -> None:
        """NotificationReceiver's callback: the utility says these resources changed."""
        self.notifications.append((time.time(), urls))


def create_asp_app(config: dict[str, Any]) -> Flask:
    """The sample ASP; ``config`` needs UTILITY_ISSUER, CLIENT_ID, CLIENT_SECRET (None for a
    public client), REDIRECT_URI, TOKEN_STORE and SECRET_KEY (README.md has the table)."""
    app = Flask(__name__)
    app.config.update(
        SCOPE=DEFAULT_SCOPE,
        MIDAS_BASE_URL=DEFAULT_BASE_URL,
        CLIENT_SECRET=None,
        # The utility may run on the same host: its cookie must not be ours.
        SESSION_COOKIE_NAME="asp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(config)
    missing = [key for key in REQUIRED if not app.config.get(key)]
    if missing:
        raise ValueError(f"create_asp_app: set {', '.join(missing)}")
    state = AspState(app.config)
    app.extensions["asp"] = state
    app.register_blueprint(pages)
    app.jinja_env.filters["day"] = _day
    app.jinja_env.filters["clock"] = _clock
    app.jinja_env.globals["csrf_token"] = _csrf_token
    app.after_request(_security_headers)
    # The notify URI registered at the utility: POSTed ESPI BatchLists land in memory.
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/notify": NotificationReceiver(state.notified)}
    )
    return app


def _state() -> AspState:
    found: AspState = current_app.extensions["asp"]
    return found


# ---- connecting ------------------------------------------------------------------------
@pages.get("/")
def index() -> ResponseReturnValue:
    return render_template(
        "index.html",
        connected="grant" in session,
        disconnected=session.pop("disconnected", False),
    )


@pages.get("/connect")
def connect() -> ResponseReturnValue:
    started = _state().client().authorization_url()
    # PKCE verifier, state and nonce wait in the (signed) session cookie for the callback.
    session["authorization"] = dataclasses.asdict(started)
    return redirect(started.url)


@pages.get("/callback")
def callback() -> ResponseReturnValue:
    saved = session.pop("authorization", None)
    if saved is None:
        return _problem(
            "That sign-in link has already been used",
            "Start again from the Connect button.",
            400,
            reconnect=True,
        )
    try:
        grant = _state().client().fetch_token(request.url, AuthorizationRequest(**saved))
    except AuthorizationFlowError as exc:
        if exc.code == "access_denied":
            return _problem(
                "You did not connect your utility account",
                "You declined at your utility, so we received no data. "
                "You can connect whenever you like.",
                403,
                reconnect=True,
            )
        return _problem("Connecting did not work", exc.message, 400, reconnect=True)
    session["grant"] = grant.key
    return redirect(url_for(".dashboard"))


@pages.post("/disconnect")
def disconnect() -> ResponseReturnValue:
    """End the grant at the utility, then forget it here.

    ``AspClient.revoke`` revokes the refresh token at the utility's revocation endpoint
    (RFC 7009), which ends the customer's authorization there (its status becomes
    revoked: "ended by <ASP>" in the customer's portal), and deletes the tokens from the
    token store.  If the utility cannot be reached the grant stays, and the page says so:
    a Disconnect that only forgot the tokens would leave the access open at the utility.
    """
    _check_csrf()
    key = session.get("grant")
    if key is not None:
        _state().client().revoke(key)  # ServerError: the utility is down; keep the grant
        session.pop("grant", None)
        session.pop("rate_change", None)
        session["disconnected"] = True
    return redirect(url_for(".index"))


# ---- the dashboard ---------------------------------------------------------------------
@pages.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    key = session.get("grant")
    if key is None:
        return redirect(url_for(".index"))
    session["rate_change_form"] = secrets.token_urlsafe(16)  # see rate_change()
    with _state().client().connect(key) as customer:
        shared = set(customer.grant_scope.split())
        agreements = [
            gather(customer, point, shared) for point in customer.usage_points() if point.electric
        ]
    with MidasClient(current_app.config["MIDAS_BASE_URL"], timeout=5, max_retries=1) as midas:
        for agreement in agreements:
            for view in agreement.rins:
                add_price(midas, view)
    return render_template("dashboard.html", agreements=agreements)


# ---- a rate change ---------------------------------------------------------------------
@pages.post("/rate-change")
def rate_change() -> ResponseReturnValue:
    _check_csrf()
    key = session.get("grant")
    form_id = session.get("rate_change_form")
    point_uuid, rin = request.form.get("point", ""), request.form.get("rin", "")
    if key is None or form_id is None or not rin:
        return redirect(url_for(".dashboard"))
    # One key per dashboard visit and choice: a double submit of the form sends the same
    # key, and the utility answers the second POST with the first request (no second one).
    idempotency_key = hashlib.sha256(f"{form_id}/{point_uuid}/{rin}".encode()).hexdigest()
    with _state().client().connect(key) as customer:
        point = next((p for p in customer.usage_points() if p.uuid == point_uuid), None)
        if point is None:
            abort(404)
        change = customer.request_rate_change(point, rin=rin, idempotency_key=idempotency_key)
    target = change.request.target_tariff_code or rin
    session["rate_change"] = {"url": change.url, "rin": rin, "tariff": target}
    return redirect(url_for(".passcode"))


@pages.route("/rate-change/confirm", methods=["GET", "POST"])
def passcode() -> ResponseReturnValue:
    change = session.get("rate_change")
    if change is None or "grant" not in session:
        return redirect(url_for(".dashboard"))
    problem = None
    if request.method == "POST":
        _check_csrf()
        code = request.form.get("code", "").strip()
        with _state().client().connect(session["grant"]) as customer:
            try:
                customer.confirm_rate_change(change["url"], code)
            except InvalidPasscode as exc:
                left = exc.attempts_left
                problem = "That code is not the one your utility sent." + (
                    f" {left} attempt{'s' if left != 1 else ''} left." if left is not None else ""
                )
            else:
                return redirect(url_for(".status"))
    page = render_template("passcode.html", change=change, problem=problem)
    return page, (400 if problem else 200)


@pages.get("/rate-change/status")
def status() -> ResponseReturnValue:
    change = session.get("rate_change")
    if change is None or "grant" not in session:
        return redirect(url_for(".dashboard"))
    with _state().client().connect(session["grant"]) as customer:
        found = customer.rate_change(change["url"])
    heard = [(at, urls) for at, urls in _state().notifications if change["url"] in urls]
    return render_template(
        "status.html",
        change=change,
        request=found,
        final=found.status in FINAL,
        notifications=heard,
    )


# ---- friendly answers to the library's errors --------------------------------------------
def _problem(
    title: str, detail: str, status: int, *, reconnect: bool = False
) -> ResponseReturnValue:
    page = render_template("problem.html", title=title, detail=detail, reconnect=reconnect)
    return page, status


@pages.app_errorhandler(AuthorizationEnded)
def _ended(exc: AuthorizationEnded) -> ResponseReturnValue:
    session.pop("grant", None)
    return _problem(
        "Your utility ended this connection — connect again",
        "The utility no longer accepts our access (you or the utility revoked it, or it "
        "expired). Nothing is lost: connect again to continue.",
        403,
        reconnect=True,
    )


@pages.app_errorhandler(InsufficientScope)
def _not_shared(exc: InsufficientScope) -> ResponseReturnValue:
    missing = _category_of(exc.message)
    return _problem(
        "You did not share what this page needs",
        f"This needs “{missing.label}” ({missing.explanation.rstrip('.').lower()}), which "
        "you did not tick on your utility's consent page. Connect again and tick it.",
        403,
        reconnect=True,
    )


def _category_of(refused: str) -> Category:
    """Which consent-page item a refused call needed, from the URL in its message."""
    if "RateChangeRequest" in refused:
        return Category.SST_RATE_CHANGE
    if "BillComparison" in refused:
        return Category.SST_BILL_COMPARISON
    if "RateInformation" in refused or "UsageSummary" in refused:
        return Category.SST_RIN
    return Category.USAGE


@pages.app_errorhandler(RateLimited)
def _slow_down(exc: RateLimited) -> ResponseReturnValue:
    seconds = max(1, round(exc.retry_after))
    page = render_template(
        "problem.html",
        title="Your utility asks us to slow down",
        detail=f"Please try again in {seconds} seconds.",
        reconnect=False,
    )
    return page, 503, {"Retry-After": str(seconds)}


@pages.app_errorhandler(ServerError)
@pages.app_errorhandler(DiscoveryError)
def _utility_down(exc: ClientError) -> ResponseReturnValue:
    current_app.logger.warning("utility unavailable: %s", exc)
    return _problem(
        "Your utility is not answering right now",
        "This is on their side, not yours. Please try again in a few minutes.",
        502,
    )


@pages.app_errorhandler(RequestRefused)
def _refused(exc: RequestRefused) -> ResponseReturnValue:
    return _problem("Your utility did not accept that", exc.message, 400)


# ---- small helpers -----------------------------------------------------------------------
def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    token: str = session["csrf"]
    return token


def _check_csrf() -> None:
    sent, expected = request.form.get("csrf", ""), session.get("csrf", "")
    if not expected or not secrets.compare_digest(sent, expected):
        abort(400, "the form expired; go back, reload and try again")


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # callback URLs carry codes
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _day(epoch: int | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, PACIFIC).strftime("%A %-d %B %Y")


def _clock(moment: datetime | float, seconds: bool = False) -> str:
    """A time of day in California, with its zone (PST or PDT): the customer may be
    elsewhere, and a bare "3:05 PM" does not say whose afternoon."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, PACIFIC)
    return moment.astimezone(PACIFIC).strftime("%-I:%M:%S %p %Z" if seconds else "%-I:%M %p %Z")
