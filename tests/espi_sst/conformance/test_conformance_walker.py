"""The built-in form walker on a portal that is not ours: other field names, a one-time code
step, a GET consent form with "Authorize" / "Cancel" buttons -- over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlencode

import pyotp
import pytest
from werkzeug.serving import make_server
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from espi_sst.conformance.agent import FormWalker
from espi_sst.conformance.config import BrowserConfig, CustomerConfig
from espi_sst.conformance.recorder import RecordingHttp

SECRET = pyotp.random_base32()
CALLBACK = "https://asp.example/cb"
SIGN_IN = (
    "<html><body><form method=post action=/signin>"
    "<input type=hidden name=back value='{back}'>"
    "<input type=email name=email><input type=password name=pwd>"
    "<input type=submit value='Log in'></form></body></html>"
)
OTP = "<html><body><form method=post action=/otp><input type=text name=otp_code><button>Verify</button></form></body></html>"
CONSENT = (
    "<html><body><form method=get action=/decide>"
    "<input type=hidden name=state value='{state}'>"
    "<input type=checkbox name=share value=usage checked>"
    "<button type=submit name=choice value=yes>Authorize</button>"
    "<button type=submit name=choice value=no>Cancel</button></form></body></html>"
)


@Request.application
def portal(request: Request) -> Response:
    stage = request.cookies.get("stage")
    if request.path == "/authorize":
        if stage != "in":
            return redirect("/signin?" + urlencode({"back": request.full_path}))
        page = CONSENT.format(state=request.args["state"])
        return Response(page, content_type="text/html")
    if request.path == "/signin":
        if request.method == "POST":
            if (request.form.get("email"), request.form.get("pwd")) != ("kim@example.com", "pw"):
                return Response(SIGN_IN.format(back=request.form["back"]), content_type="text/html")
            answer = redirect("/otp")
            answer.set_cookie("stage", "otp")
            answer.set_cookie("back", request.form["back"])
            return answer
        return Response(SIGN_IN.format(back=request.args["back"]), content_type="text/html")
    if request.path == "/otp":
        if request.method == "POST" and stage == "otp":
            if pyotp.TOTP(SECRET).verify(request.form.get("otp_code", ""), valid_window=1):
                answer = redirect(request.cookies["back"])
                answer.set_cookie("stage", "in")
                return answer
        return Response(OTP, content_type="text/html")
    if request.path == "/decide" and stage == "in":
        assert request.args.get("share") == "usage"  # the checked box was sent
        state = request.args["state"]
        if request.args.get("choice") == "yes":
            return redirect(f"{CALLBACK}?code=c0de&state={state}")
        return redirect(f"{CALLBACK}?error=access_denied&state={state}")
    return Response("not found", status=404)


@pytest.fixture()
def base() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, portal, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def walker() -> FormWalker:
    return FormWalker(RecordingHttp(10, lambda exchange: None), BrowserConfig())


KIM = CustomerConfig(username="kim@example.com", password="pw", totp_secret=SECRET)


@pytest.mark.parametrize(
    ("decision", "expected"), [("approve", "code=c0de"), ("deny", "error=access_denied")]
)
def test_sign_in_one_time_code_and_consent_are_walked(
    base: str, decision: str, expected: str
) -> None:
    outcome = walker().walk(f"{base}/authorize?state=s1", KIM, decision, CALLBACK)
    assert outcome.callback == f"{CALLBACK}?{expected}&state=s1"


def test_a_refused_password_ends_on_the_portal_page_not_in_a_loop(base: str) -> None:
    wrong = CustomerConfig(username="kim@example.com", password="nope", totp_secret=SECRET)
    outcome = walker().walk(f"{base}/authorize?state=s1", wrong, "approve", CALLBACK)
    assert outcome.callback is None and outcome.status == 200


def test_a_portal_asking_for_a_code_without_a_secret_is_a_clear_failure(base: str) -> None:
    from espi_sst.conformance.errors import ScenarioFailed

    no_secret = CustomerConfig(username="kim@example.com", password="pw")
    with pytest.raises(ScenarioFailed, match="one-time code: give the customer a totp_secret"):
        walker().walk(f"{base}/authorize?state=s1", no_secret, "approve", CALLBACK)
