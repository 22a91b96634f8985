"""``espi-sst demo`` with three deliberate defects: the conformance kit must catch each.

Run as ``python broken_demo.py DEMO-ARGS...`` (tests/integration/test_conformance_kit.py does).
The defects are ones a real server could ship, each placed where exactly one area of the kit
looks:

* **PKCE not enforced**: the authorization server accepts requests without a
  code_challenge or with ``plain``, and never checks the code_verifier (RFC 9700 2.1.1);
* **a wrong RIN role**: an unbundled customer's UsageSummary carries the CCA's generation RIN
  in its ``deliveryRin`` element, where the utility's delivery RIN belongs;
* **a schema-invalid body**: every LocalTimeParameters gets an element the ESPI schema does
  not have.

Everything else is the demo as a developer starts it.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from espi_sst_server.demo import run as demo_run
from espi_sst_server.oauth.grants import StrictPKCE
from espi_sst_server.storage.models import AuthorizationCode
from flask import Response, request
from sqlalchemy import event

from espi_sst.cli import main

_DELIVERY = re.compile(r"(<(?:\w+:)?deliveryRin>\s*<(?:\w+:)?rin>)([^<]+)(<)")
_GENERATION = re.compile(r"<(?:\w+:)?generationRin>\s*<(?:\w+:)?rin>([^<]+)<")
_LTP_END = re.compile(r"</(\w+:)?LocalTimeParameters>")


def ignore_pkce() -> None:
    """No challenge required, any method, no verifier check; a code without a challenge is
    stored with an empty one (the real schema requires the column)."""
    StrictPKCE.validate_code_challenge = lambda self, grant, redirect_uri: None  # type: ignore[method-assign]
    StrictPKCE.validate_code_verifier = lambda self, grant, result: None  # type: ignore[method-assign]

    @event.listens_for(AuthorizationCode, "before_insert")
    def empty_challenge(_mapper: Any, _connection: Any, row: AuthorizationCode) -> None:
        if row.code_challenge is None:
            row.code_challenge = ""


def wrong_rin_role(body: str) -> str:
    """deliveryRin gets the generation RIN of the same document."""
    generation = _GENERATION.findall(body)
    if not generation:
        return body
    return _DELIVERY.sub(lambda m: m.group(1) + generation[0] + m.group(3), body)


def schema_invalid(body: str) -> str:
    def add(match: re.Match[str]) -> str:
        prefix = match.group(1) or ""
        return f"<{prefix}notInTheSchema>1</{prefix}notInTheSchema>{match.group(0)}"

    return _LTP_END.sub(add, body)


def plain_bodies() -> None:
    """No gzip from this server: its bodies are rewritten below."""
    request.environ.pop("HTTP_ACCEPT_ENCODING", None)


def break_bodies(response: Response) -> Response:
    if "xml" not in (response.content_type or "") or response.status_code != 200:
        return response
    if response.is_streamed:  # the feeds: rewritten as they stream out, whole
        parts = response.response

        def rewritten() -> Any:
            try:
                body = b"".join(
                    p if isinstance(p, bytes) else str(p).encode() for p in parts
                ).decode()
            finally:
                close = getattr(parts, "close", None)
                if close is not None:
                    close()
            yield schema_invalid(wrong_rin_role(body)).encode()

        response.response = rewritten()
        return response
    body = response.get_data(as_text=True)
    broken = schema_invalid(wrong_rin_role(body))
    if broken != body:
        response.direct_passthrough = False
        response.set_data(broken)
    return response


_prepare = demo_run.prepare


def broken_prepare(*args: Any, **kwargs: Any) -> Any:
    app, demo, base_url = _prepare(*args, **kwargs)
    app.before_request(plain_bodies)
    app.after_request(break_bodies)
    return app, demo, base_url


if __name__ == "__main__":
    ignore_pkce()
    demo_run.prepare = broken_prepare
    sys.exit(main(["demo", *sys.argv[1:]]))
