"""The resource blueprint's hook in bolt-on mode: plain ESPI requests go upstream.

Registered by ``resource.init_app`` when ``UPSTREAM_RESOURCE_URL`` is set.  It runs before
the view: for the plain ESPI endpoints it checks the token (locally or by introspection,
``oauth/guard.py``), forwards the GET with the ASP's bearer token, and answers with the
merged document (``merge.py``).  The SST endpoints and ``UsageSummary?SST=...`` fall
through to their local views.
"""

from __future__ import annotations

from flask import Response, current_app, request

from ..errors import Refused, Unavailable
from ..resource.sst_content import SstView
from ..resource.urls import PREFIX, resource_base
from ..storage import db
from .forward import UpstreamError, get
from .merge import merged
from .probe import Probes

PLAIN_ENDPOINTS = frozenset(
    "espi_resource." + name
    for name in (
        "subscription",
        "batch_subscription",
        "usage_points",
        "usage_point",
        "meter_readings",
        "meter_reading",
        "interval_blocks",
        "interval_block",
        "usage_summaries",
        "usage_summary",
        "quality_summaries",
        "quality_summary",
        "reading_types",
        "reading_type",
        "local_times",
        "local_time",
        "authorization",
        "read_service_status",
        "application_information",
        "batch_bulk",
    )
)


def unavailable(exc: UpstreamError) -> Unavailable:
    """The upstream's failure as this server answers it (502, 503, 504 with Retry-After)."""
    current_app.logger.warning("upstream %s: %s", request.path, exc.description)
    return Unavailable(exc.status, exc.error, exc.description, exc.retry_after)


def forward_plain_request() -> Response | None:
    """``before_request`` of the resource blueprint in bolt-on mode.

    The GET goes to the custodian first, with the ASP's own token: its answer is the
    custodian's own judgement of the token (an unknown, revoked or foreign token gets the
    custodian's 401/403/404, passed on).  Only a 200 is then given the SST additions, as
    far as the grant here allows; a 200 for a Subscription path also counts as the probe
    of that token for those ids (``probe.py``), so it is not asked twice.
    """
    if request.endpoint not in PLAIN_ENDPOINTS:
        return None
    if request.endpoint == "espi_resource.usage_summaries" and "SST" in request.args:
        return None  # the concept design's bill comparison query: served here
    from ..oauth.guard import current_grant

    header = request.headers.get("Authorization", "")
    bearer = header.partition(" ")[2].strip()
    upstream = str(current_app.config["UPSTREAM_RESOURCE_URL"]).rstrip("/")
    path = request.path[request.path.index(PREFIX) + len(PREFIX) :]
    try:
        answer = get(current_app, upstream + path, bearer=bearer, params=request.args.to_dict())
    except UpstreamError as exc:
        raise unavailable(exc) from None
    if answer.status != 200 or "xml" not in answer.content_type:
        return _passthrough(
            answer.status, answer.content_type, answer.body, answer.www_authenticate
        )
    args = request.view_args or {}
    if isinstance(args.get("sid"), str) and bearer:
        uid = args.get("uid")
        Probes.of(current_app).record(bearer, args["sid"], uid if isinstance(uid, str) else None)
    try:
        grant = current_grant(None)
    except Refused as exc:
        if exc.status != 403:
            raise
        # no customer grant here (an ASP-level token, no SST consent): the custodian's own
        # answer, unchanged -- still refused if this utility withdrew the ASP
        if not _asp_level_allowed():
            raise
        return _passthrough(answer.status, answer.content_type, answer.body, None)
    sst = SstView(grant.scope, current_app, db.session)
    try:
        body = merged(
            answer.body,
            upstream=upstream,
            local=resource_base(),
            sst=sst,
            session=db.session,
            shared=grant.usage_point_ids,
        )
    except UpstreamError as exc:
        raise unavailable(exc) from None
    response = Response(body, mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _asp_level_allowed() -> bool:
    """Whether the token may be passed on as an ASP-level (or consent-less) one: only a
    withdrawal here refuses it (401); the rest is the custodian's business."""
    from ..oauth.guard import current_grant

    try:
        current_grant(None, client_level=True)
    except Refused as exc:
        return exc.status == 403
    return True


def _passthrough(status: int, content_type: str, body: bytes, challenge: str | None) -> Response:
    response = Response(body, status=status, content_type=content_type)
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response
