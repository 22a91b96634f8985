"""The SST resources under a UsagePoint (docs/sst-extension.md; 1623(c)(1)(A)-(D)).

====================================================  ==========================  =====
path (under ``/Subscription/{sid}/UsagePoint/{uid}``)  scope                       verb
====================================================  ==========================  =====
``/RateInformation[/{id}]``                           ``sst:rin``                 GET
``/BillComparison[/{id}]``                            ``sst:bill_comparison``     GET
``/UsageSummary[/{id}]?SST=BillComparison`` (11.5)  ``sst:bill_comparison``     GET
``/RateChangeRequest[/{id}]``                         ``sst:rate_change``         GET
``/RateChangeRequest``  (Idempotency-Key header)      ``sst:rate_change``         POST
``/RateChangeRequest/{id}/Confirmation``              ``sst:rate_change``         POST
``/RateChangeRequest/{id}``  (withdraw)               ``sst:rate_change``         DELETE
====================================================  ==========================  =====

Bodies are Atom like every ESPI resource, the SST object in ``atom:content``.  The two POSTs
take JSON (``{"targetRin": ..., "targetTariffCode": ...}``, ``{"code": "123456"}``) or the
same names form-encoded; errors are the API's JSON errors with a code and what to do
(``server/errors/wire.py`` answers them and rolls the request's session back: a view only commits).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import select

from espi_sst.model import Entry, Link
from espi_sst.model import sst as sst_model
from espi_sst.scope import Category

from ..errors import Refused
from ..limits import otp_confirmation_limit, rate_change_creation_limit
from ..security import now
from ..sst import comparison, rate_change
from ..sst.catalog import catalog_for
from ..sst.eligibility import availability
from ..storage import db
from ..storage.models import (
    Authorization,
    BillComparisonRecord,
    RateChangeRequestRecord,
    UsagePoint,
)
from . import access
from .build import EntryBuilder, moment
from .errors import not_found
from .routes import atom, bp, builder, customer, usage_point_in
from .urls import Urls, entry_link, feed_link, urn

RATE_INFORMATION = "RateInformation"
BILL_COMPARISON = "BillComparison"
RATE_CHANGE_REQUEST = "RateChangeRequest"
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:espi-sst:rate-information")


def sst_href(sid: str, uid: str, kind: str, rid: str | None = None) -> str:
    base = f"{Urls.current().usage_point(sid, uid)}/{kind}"
    return base if rid is None else f"{base}/{rid}"


def rate_information_id(point: UsagePoint) -> str:
    """One RateInformation per usage point: a stable id derived from the point's."""
    return str(uuid.uuid5(_IDS, point.uuid))


def _entry(
    make: EntryBuilder,
    sid: str,
    uid: str,
    kind: str,
    rid: str,
    content: Any,
    published: int,
    updated: int,
    title: str,
) -> Entry:
    links: list[Link] = [
        entry_link(sst_href(sid, uid, kind, rid), "self", kind),
        feed_link(sst_href(sid, uid, kind), "up", kind),
        entry_link(make.urls.usage_point(sid, uid), "related", "UsagePoint"),
    ]
    return Entry(
        id=urn(rid),
        title=title,
        published=moment(published),
        updated=moment(updated),
        links=links,
        content=content,
    )


# ---- RateInformation (1623(c)(1)(A), (B)) -------------------------------------------------


def _rate_information_entry(authorization: Authorization, sid: str, point: UsagePoint) -> Entry:
    catalog = catalog_for(current_app, db.session)
    current = catalog.current_rates(point)
    if not current.rates:
        raise Refused(
            404,
            "not_found",
            "this service agreement has no rate with a RIN (gas service, or no rate on file)",
        )
    moment = now()
    content = sst_model.RateInformation(
        current_rate=current.rates,
        generation_rin_status=current.generation_status,
        # Eligibility up front (issue 12): each rate says whether a change to it can be
        # asked for now, and if not why and from when -- the API's own answer (409).
        eligible_rate=[
            replace(option.rate, availability=availability(catalog, point, option, now=moment))
            for option in catalog.eligible_rates(point)
        ],
    )
    changed = max(point.rate_effective_date or 0, authorization.created_at)
    return _entry(
        builder(authorization),
        sid,
        point.uuid,
        RATE_INFORMATION,
        rate_information_id(point),
        content,
        authorization.created_at,
        changed,
        f"Rates of {point.title}",
    )


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/RateInformation")
def rate_information_feed(sid: str, uid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_RIN)
    entry = _rate_information_entry(authorization, sid, point)
    make = builder(authorization)
    return atom(
        make.feed(sst_href(sid, uid, RATE_INFORMATION), RATE_INFORMATION, [entry], now=now())
    )


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/RateInformation/<rid>")
def rate_information(sid: str, uid: str, rid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_RIN)
    if rid != rate_information_id(point):
        raise not_found(RATE_INFORMATION)
    return atom(_rate_information_entry(authorization, sid, point))


# ---- BillComparison (1623(c)(1)(C)) -------------------------------------------------------


def _comparison_entry(
    authorization: Authorization, sid: str, point: UsagePoint, record: Any
) -> Entry:
    return _entry(
        builder(authorization),
        sid,
        point.uuid,
        BILL_COMPARISON,
        record.uuid,
        comparison.to_model(record),
        record.computed_at,
        record.computed_at,
        f"Bill comparison for {point.title}",
    )


def bill_comparison_feed_response(sid: str, uid: str) -> Response:
    """The current billing cycle's comparison, as a feed of one (both URL forms)."""
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_BILL_COMPARISON)
    record = comparison.current_comparison(
        current_app, db.session, point, now=now(), read_usage=_upstream_usage(authorization)
    )
    entry = _comparison_entry(authorization, sid, point, record)
    make = builder(authorization)
    return atom(make.feed(sst_href(sid, uid, BILL_COMPARISON), BILL_COMPARISON, [entry], now=now()))


def bill_comparison_of_summary_response(sid: str, uid: str, summary_id: str) -> Response:
    """``.../UsageSummary/{id}?SST=BillComparison`` (concept design 11.5, literally): the
    bill comparison of the summary's service agreement -- the same current comparison as
    the feed forms, answered only for a summary the grant shares (else 404)."""
    authorization, _query, _point = usage_point_in(sid, uid, Category.SST_BILL_COMPARISON)
    access.usage_summary(db.session, authorization, uid, summary_id)
    return bill_comparison_feed_response(sid, uid)


def _upstream_usage(authorization: Authorization) -> comparison.UsageReader | None:
    """Bolt-on mode: the usage to price is upstream, read with this request's bearer token."""
    if not current_app.config.get("UPSTREAM_RESOURCE_URL"):
        return None
    from ..upstream.usage import UpstreamUsage

    bearer = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return UpstreamUsage(current_app, authorization.subscription_uuid, bearer)


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/BillComparison")
def bill_comparison_feed(sid: str, uid: str) -> Response:
    return bill_comparison_feed_response(sid, uid)


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/BillComparison/<bid>")
def bill_comparison(sid: str, uid: str, bid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_BILL_COMPARISON)
    record = db.session.scalar(
        select(BillComparisonRecord).where(
            BillComparisonRecord.uuid == bid,
            BillComparisonRecord.usage_point_id == point.id,
        )
    )
    if record is None:
        raise not_found(BILL_COMPARISON)
    return atom(_comparison_entry(authorization, sid, point, record))


# ---- RateChangeRequest (1623(c)(1)(D)) ------------------------------------------------------


def _request_entry(
    authorization: Authorization, sid: str, uid: str, record: RateChangeRequestRecord
) -> Entry:
    entry = _entry(
        builder(authorization),
        sid,
        uid,
        RATE_CHANGE_REQUEST,
        record.uuid,
        rate_change.to_model(record),
        record.requested_at,
        record.updated_at,
        f"Rate change to {record.target_tariff_code}",
    )
    if record.status == rate_change.Status.awaitingConfirmation.value:
        entry.links.append(
            Link(
                href=sst_href(sid, uid, RATE_CHANGE_REQUEST, record.uuid) + "/Confirmation",
                rel="related",
                type="espi-sst/Confirmation",
            )
        )
    return entry


def _record(authorization: Authorization, point: UsagePoint, rid: str) -> RateChangeRequestRecord:
    record = db.session.scalar(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.uuid == rid,
            RateChangeRequestRecord.usage_point_id == point.id,
            RateChangeRequestRecord.authorization_id == authorization.id,
        )
    )
    if record is None:
        raise not_found(RATE_CHANGE_REQUEST)
    return record


def _body() -> dict[str, Any]:
    """JSON object or form fields; anything else is a 400 saying what to send."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Refused(400, "invalid_request", "the body must be a JSON object")
        return data
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.to_dict()
    raise Refused(
        415,
        "unsupported_media_type",
        "send application/json (or form-encoded fields); got "
        + (request.mimetype or "no Content-Type"),
    )


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise Refused(400, "invalid_request", f"{name} must be a string of at most 255 characters")
    return value


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/RateChangeRequest")
def rate_change_requests(sid: str, uid: str) -> Response:
    authorization, query, point = usage_point_in(sid, uid, Category.SST_RATE_CHANGE)
    records = db.session.scalars(
        select(RateChangeRequestRecord)
        .where(
            RateChangeRequestRecord.usage_point_id == point.id,
            RateChangeRequestRecord.authorization_id == authorization.id,
        )
        .order_by(RateChangeRequestRecord.requested_at, RateChangeRequestRecord.id)
    ).all()
    entries = [_request_entry(authorization, sid, uid, r) for r in query.page(list(records))]
    make = builder(authorization)
    href = sst_href(sid, uid, RATE_CHANGE_REQUEST)
    return atom(make.feed(href, RATE_CHANGE_REQUEST, entries, now=now()))


@bp.get("/Subscription/<sid>/UsagePoint/<uid>/RateChangeRequest/<rid>")
def rate_change_request(sid: str, uid: str, rid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_RATE_CHANGE)
    return atom(_request_entry(authorization, sid, uid, _record(authorization, point, rid)))


@bp.post("/Subscription/<sid>/UsagePoint/<uid>/RateChangeRequest")
def create_rate_change_request(sid: str, uid: str) -> Response:
    customer(Category.SST_RATE_CHANGE)  # the token first: the creation limit counts per ASP
    return _create_rate_change_request(sid, uid)


@rate_change_creation_limit
def _create_rate_change_request(sid: str, uid: str) -> Response:
    _grant, authorization = customer(Category.SST_RATE_CHANGE)
    access.subscription(authorization, sid)
    point = access.usage_point(db.session, authorization, uid)
    key = rate_change.check_idempotency_key(request.headers.get("Idempotency-Key"))
    data = _body()
    target = rate_change.Target(_text(data, "targetRin"), _text(data, "targetTariffCode"))
    record, created = rate_change.create(
        current_app,
        db.session,
        authorization=authorization,
        point=point,
        idempotency_key=key,
        target=target,
        now=now(),
    )
    db.session.commit()
    response = atom(_request_entry(authorization, sid, uid, record))
    response.status_code = 202
    response.headers["Location"] = sst_href(sid, uid, RATE_CHANGE_REQUEST, record.uuid)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/Subscription/<sid>/UsagePoint/<uid>/RateChangeRequest/<rid>/Confirmation")
@otp_confirmation_limit
def confirm_rate_change_request(sid: str, uid: str, rid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_RATE_CHANGE)
    record = _record(authorization, point, rid)
    code = _text(_body(), "code")
    if code is None:
        raise Refused(400, "invalid_request", "send the customer's one-time passcode as code")
    outcome = rate_change.confirm(current_app, db.session, record, code, now=now())
    db.session.commit()
    if outcome.confirmed:
        return atom(_request_entry(authorization, sid, uid, record))
    if outcome.attempts_left > 0:
        raise Refused(
            422,
            "invalid_code",
            f"the code is not right; {outcome.attempts_left} attempt(s) left",
            attempts_left=str(outcome.attempts_left),
        )
    reason = (
        "the code expired: ask the customer to start a new rate change"
        if outcome.status == rate_change.Status.expired.value
        else "too many wrong codes: the request is rejected (confirmationFailed)"
    )
    raise Refused(409, "confirmation_closed", reason, request_status=outcome.status)


@bp.delete("/Subscription/<sid>/UsagePoint/<uid>/RateChangeRequest/<rid>")
def withdraw_rate_change_request(sid: str, uid: str, rid: str) -> Response:
    authorization, _query, point = usage_point_in(sid, uid, Category.SST_RATE_CHANGE)
    record = _record(authorization, point, rid)
    rate_change.withdraw(current_app, db.session, record, now=now())
    db.session.commit()
    return atom(_request_entry(authorization, sid, uid, record))


CATEGORY_OF_ENDPOINT: dict[str, Category] = {
    "espi_resource." + view.__name__: category
    for category, views in (
        (Category.SST_RIN, (rate_information_feed, rate_information)),
        (Category.SST_BILL_COMPARISON, (bill_comparison_feed, bill_comparison)),
        (
            Category.SST_RATE_CHANGE,
            (
                rate_change_requests,
                rate_change_request,
                create_rate_change_request,
                confirm_rate_change_request,
                withdraw_rate_change_request,
            ),
        ),
    )
    for view in views
}
"""Which SST function (phase, ``sst/phases.py``) each SST endpoint belongs to."""

ENDPOINTS = frozenset(
    "espi_resource." + view.__name__
    for view in (
        rate_information_feed,
        rate_information,
        bill_comparison_feed,
        bill_comparison,
        rate_change_requests,
        rate_change_request,
        create_rate_change_request,
        confirm_rate_change_request,
        withdraw_rate_change_request,
    )
)
"""The SST's endpoints (a plain GBC custodian, SST_ENABLED false, answers 404 for them)."""
