"""The ESPI 1_1 resource endpoints (REQ.21 REST; GBA openapi ``paths``): GET only, Atom XML.

Every view: (1) the token guard with the scope category the resource needs, (2) the
query parameters (400 on a bad value), (3) a lookup through the grant (``access.py``: 404
for anything outside it), (4) ``espi_sst.serialize`` -- which refuses a model the official
schema would not accept -- returned as ``application/atom+xml``.  The feeds that carry
interval data (Subscription, Batch/Subscription, IntervalBlock) first compare the request's
``If-None-Match`` with their ETag (``conditional.py``: 304, no body), then stream
(``feed_response.py``: chunked, gzip on request).

Scope categories per resource (``espi_sst.scope.Category``):

* ``usage``: UsagePoint, MeterReading, IntervalBlock, ReadingType, LocalTimeParameters,
  ElectricPowerQualitySummary -- the "usage information" checkbox;
* ``billing``: UsageSummary.  It carries the bill (``billLastPeriod``, currency), the rate
  (``tariffProfile``) and the read cycle -- what the consent page calls "billing records
  and history, billing and meter read dates, rate schedule"; a usage-only grant must not
  disclose what the customer paid.  (ESPI puts it in its own function block, FB 15/16.)
* the Subscription feeds take any customer grant and include what its categories allow
  (403 ``insufficient_scope`` when that is nothing);
* Authorization, ReadServiceStatus, ApplicationInformation and Batch/Bulk -- the grants
  and the ASP-level resources -- are in ``asp_routes.py``.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

import espi_sst
from espi_sst.model import Entry, Feed, ModelObject
from espi_sst.scope import Category

from ..errors.wire import RESOURCE_BLUEPRINT
from ..oauth.guard import Grant, current_grant
from ..security import now
from ..storage import db
from ..storage.models import Authorization, UsagePoint
from ..storage.zones import zone_of
from . import access
from .atom_stream import BlockEntry
from .blocks import LAST_DAY, Calendar, day_block, iter_day_blocks
from .build import EntryBuilder
from .conditional import feed_etag, not_modified
from .errors import bad_parameter, insufficient_scope, not_found
from .feed_response import cache_headers, streamed_feed
from .query import FeedQuery, parse_query
from .sst_content import SstView
from .subscription import selected_summary, subscription_entries
from .summary_consumption import summary_consumption_wh
from .summary_quality import summary_quality
from .urls import PREFIX, Urls

ATOM = "application/atom+xml"
bp = Blueprint(RESOURCE_BLUEPRINT, __name__, url_prefix=PREFIX)  # its errors are JSON


# ---- helpers ------------------------------------------------------------------------------


def atom(document: Feed | Entry | ModelObject) -> Response:
    response = Response(espi_sst.serialize(document, pretty=False), mimetype=ATOM)
    response.headers["Cache-Control"] = "no-store"  # a customer's data, per token
    return response


def customer(required: Category | None) -> tuple[Grant, Authorization]:
    grant = current_grant(required)
    assert grant.authorization is not None  # the guard refuses client tokens here
    return grant, grant.authorization


def builder(authorization: Authorization) -> EntryBuilder:
    return EntryBuilder(Urls.current(), authorization.subscription_uuid, authorization.created_at)


def usage_point_in(
    sid: str, uid: str, required: Category = Category.USAGE
) -> tuple[Authorization, FeedQuery, UsagePoint]:
    """Guard, query and grant checks shared by everything under a UsagePoint."""
    _grant, authorization = customer(required)
    query = parse_query(request.args)
    access.subscription(authorization, sid)
    point = access.usage_point(db.session, authorization, uid)
    return authorization, query, point


def sst_view(grant: Grant) -> SstView:
    return SstView(grant.scope, current_app, db.session)


def block_id(text: str) -> int:
    """An IntervalBlock id: the epoch second of a local midnight (``blocks.py``)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 11 or int(text) >= LAST_DAY:
        raise not_found("IntervalBlock")
    return int(text)


# ---- the subscription ---------------------------------------------------------------------


@bp.get("/Subscription/<sid>")
def subscription(sid: str) -> Response:
    return _subscription_feed(sid, Urls.current().subscription(sid))


@bp.get("/Batch/Subscription/<sid>")
def batch_subscription(sid: str) -> Response:
    return _subscription_feed(sid, Urls.current().batch_subscription(sid))


def _subscription_feed(sid: str, self_href: str) -> Response:
    grant, authorization = customer(None)
    query = parse_query(request.args)
    access.subscription(authorization, sid)
    usage = grant.scope.allows(Category.USAGE)
    billing = grant.scope.allows(Category.BILLING)
    if not (usage or billing):
        raise insufficient_scope("this resource needs the usage or billing scope")
    etag = feed_etag(db.session, grant, access.usage_points(db.session, authorization))
    unchanged = not_modified(etag, cache_headers(etag))
    if unchanged is not None:
        return unchanged
    make = builder(authorization)
    session = db.stream_session()
    sst = SstView(grant.scope, current_app, session)
    entries = subscription_entries(
        session, make, authorization, query, usage=usage, billing=billing, sst=sst
    )
    return streamed_feed(
        make.feed(self_href, "Subscription", [], now=now()),
        entries,
        query,
        session=session,
        etag=etag,
    )


@bp.get("/Subscription/<sid>/UsagePoint")
def usage_points(sid: str) -> Response:
    grant, authorization = customer(Category.USAGE)
    query = parse_query(request.args)
    access.subscription(authorization, sid)
    make = builder(authorization)
    points = query.page(access.usage_points(db.session, authorization))
    sst = sst_view(grant)
    entries = [
        make.usage_point(p, p.local_time.uuid if p.local_time else None, sst.kinds(p))
        for p in points
    ]
    return atom(make.feed(make.urls.usage_points(sid), "UsagePoint", entries, now=now()))


@bp.get("/Subscription/<sid>/UsagePoint/<uid>")
def usage_point(sid: str, uid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid)
    local_time = point.local_time
    kinds = sst_view(current_grant()).kinds(point)
    return atom(
        builder(authorization).usage_point(point, local_time.uuid if local_time else None, kinds)
    )


# ---- meter readings and interval blocks ---------------------------------------------------


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/MeterReading")
def meter_readings(sid: str, uid: str) -> Response:
    authorization, query, point = usage_point_in(sid, uid)
    make = builder(authorization)
    readings = query.page(access.meter_readings(db.session, point))
    entries = [make.meter_reading(uid, r, r.reading_type.uuid) for r in readings]
    return atom(make.feed(make.urls.meter_readings(sid, uid), "MeterReading", entries, now=now()))


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/MeterReading/<mid>")
def meter_reading(sid: str, uid: str, mid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid)
    reading = access.meter_reading(db.session, point, mid)
    return atom(builder(authorization).meter_reading(uid, reading, reading.reading_type.uuid))


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/MeterReading/<mid>/IntervalBlock")
def interval_blocks(sid: str, uid: str, mid: str) -> Response:
    authorization, query, point = usage_point_in(sid, uid)
    reading = access.meter_reading(db.session, point, mid)
    etag = feed_etag(db.session, current_grant(), [point], [reading.id])
    unchanged = not_modified(etag, cache_headers(etag))
    if unchanged is not None:
        return unchanged
    calendar = Calendar(zone_of(point.local_time))
    make = builder(authorization)
    session = db.stream_session()
    blocks = (
        BlockEntry(make, uid, mid, block)
        for block in iter_day_blocks(session, reading.id, calendar, query)
    )
    href = make.urls.interval_blocks(sid, uid, mid)
    return streamed_feed(
        make.feed(href, "IntervalBlock", [], now=now()), blocks, query, session=session, etag=etag
    )


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/MeterReading/<mid>/IntervalBlock/<bid>")
def interval_block(sid: str, uid: str, mid: str, bid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid)
    reading = access.meter_reading(db.session, point, mid)
    calendar = Calendar(zone_of(point.local_time))
    block = day_block(db.session, reading.id, calendar, block_id(bid))
    if block is None:
        raise not_found("IntervalBlock")
    return atom(builder(authorization).interval_block(uid, mid, block))


# ---- summaries ----------------------------------------------------------------------------


SST_QUERIES = ("BillComparison",)
"""The values of the SST query parameter on UsageSummary (concept design 11.5)."""


def _sst_query() -> bool:
    """Whether the request carries ``SST=BillComparison``; another SST value is a 400 (it
    was once ignored, and the plain UsageSummary came back as if it were the answer)."""
    value = request.args.get("SST")
    if value is None:
        return False
    if value not in SST_QUERIES:
        raise bad_parameter(
            "SST",
            f"{value!r} is not an SST query here; the only one is SST=BillComparison (the "
            "customer's bill comparison, also at .../UsagePoint/{id}/BillComparison)",
        )
    return True


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/UsageSummary")
def usage_summaries(sid: str, uid: str) -> Response:
    if _sst_query():  # the concept design's form (section 11.5)
        from .sst_routes import bill_comparison_feed_response

        return bill_comparison_feed_response(sid, uid)
    authorization, query, point = usage_point_in(sid, uid, Category.BILLING)
    make = builder(authorization)
    sst = sst_view(current_grant())
    summaries = [
        s
        for s in access.usage_summaries(db.session, point)
        if selected_summary(s.billing_period_start, s.status_time_stamp, query)
    ]
    entries = [
        make.usage_summary(
            uid,
            s,
            sst.rin_elements(point, s),
            quality=summary_quality(db.session, s),
            consumption_wh=summary_consumption_wh(db.session, s),
        )
        for s in query.page(summaries)
    ]
    return atom(make.feed(make.urls.usage_summaries(sid, uid), "UsageSummary", entries, now=now()))


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/UsageSummary/<summary_id>")
def usage_summary(sid: str, uid: str, summary_id: str) -> Response:
    # The hot path (benchmarked): guard, then ONE query joining summary, usage point and
    # the grant's usage points.
    if _sst_query():  # concept design 11.5's literal form: .../UsageSummary/{id}?SST=...
        from .sst_routes import bill_comparison_of_summary_response

        return bill_comparison_of_summary_response(sid, uid, summary_id)
    db.read_only_request()  # reads only: no BEGIN/ROLLBACK round trips on PostgreSQL
    grant, authorization = customer(Category.BILLING)
    parse_query(request.args)
    access.subscription(authorization, sid)
    summary = access.usage_summary(db.session, authorization, uid, summary_id)
    rins = (  # the RIN lookups cost queries: only for grants that release RINs
        sst_view(grant).rin_elements(summary.usage_point, summary)
        if grant.scope.allows(Category.SST_RIN)
        else []
    )
    quality = summary_quality(db.session, summary)
    consumption = summary_consumption_wh(db.session, summary)
    return atom(
        builder(authorization).usage_summary(
            uid, summary, rins, quality=quality, consumption_wh=consumption
        )
    )


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/ElectricPowerQualitySummary")
def quality_summaries(sid: str, uid: str) -> Response:
    """No power quality data is kept: an empty (valid) feed."""
    authorization, _query, _point = usage_point_in(sid, uid)
    make = builder(authorization)
    href = make.urls.quality_summaries(sid, uid)
    return atom(make.feed(href, "ElectricPowerQualitySummary", [], now=now()))


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/ElectricPowerQualitySummary/<_qid>")
def quality_summary(sid: str, uid: str, _qid: str) -> Response:
    usage_point_in(sid, uid)
    raise not_found("ElectricPowerQualitySummary")


# ---- shared resources ---------------------------------------------------------------------


@bp.get("/ReadingType")
def reading_types() -> Response:
    _grant, authorization = customer(Category.USAGE)
    query = parse_query(request.args)
    make = builder(authorization)
    rows = query.page(access.reading_types(db.session, authorization))
    entries = [make.reading_type(rt) for rt in rows]
    return atom(make.feed(make.urls.collection("ReadingType"), "ReadingType", entries, now=now()))


@bp.get("/ReadingType/<rid>")
def reading_type(rid: str) -> Response:
    _grant, authorization = customer(Category.USAGE)
    parse_query(request.args)
    return atom(
        builder(authorization).reading_type(access.reading_type(db.session, authorization, rid))
    )


@bp.get("/LocalTimeParameters")
def local_times() -> Response:
    _grant, authorization = customer(Category.USAGE)
    query = parse_query(request.args)
    make = builder(authorization)
    entries = [
        make.local_time(ltp) for ltp in query.page(access.local_times(db.session, authorization))
    ]
    href = make.urls.collection("LocalTimeParameters")
    return atom(make.feed(href, "LocalTimeParameters", entries, now=now()))


@bp.get("/LocalTimeParameters/<lid>")
def local_time(lid: str) -> Response:
    _grant, authorization = customer(Category.USAGE)
    parse_query(request.args)
    return atom(
        builder(authorization).local_time(access.local_time(db.session, authorization, lid))
    )


# ---- everything else under the prefix: JSON 404 / 405 -------------------------------------

_ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("/", defaults={"rest": ""}, methods=_ANY_METHOD)
@bp.route("/<path:rest>", methods=_ANY_METHOD)
def unknown(rest: str) -> Response:
    """No such resource (404), or a resource that exists but is read-only (405)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _args = adapter.match(method="GET")
    except HTTPException:  # no GET here either (or a redirect): nothing to name
        endpoint = None
    if endpoint is not None and endpoint != request.endpoint:
        raise MethodNotAllowed(valid_methods=["GET", "HEAD"])
    raise NotFound()
