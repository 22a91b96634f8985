"""Conditional GET for the big feeds (RFC 9110 8.8.3 ETag, 13.1.2 If-None-Match, 15.4.5 304).

An ASP polling a Batch/Subscription every night used to pay for the whole document even
when nothing had changed.  The feeds now carry a weak ETag computed from what the document
is made of -- never by rendering it:

* the request: the base URL the hrefs are built from, the path and the query string;
* the grant: its id, status, scope and ``updated_at``, and the token's own scope (a scope
  change, a re-consent or a new usage point gives a new tag);
* the shared usage points and their meter readings (ids, uuids, titles, closing);
* per meter reading, ``storage/interval_data.reading_fingerprints`` (count, first start,
  last end, sums: new or corrected readings change it);
* the UsageSummaries (status time, bill, consumption).

It is weak (``W/``): the feed's ``atom:updated`` is the time of the response, so two
responses with the same tag are equivalent, not byte-identical.  A matching
``If-None-Match`` is answered 304 with no body.  The order in the views is what keeps a
revoked grant out: the token guard runs first (401), then the grant checks (404), and only
then is the tag compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from flask import Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..oauth.guard import Grant
from ..storage.interval_data import reading_fingerprints
from ..storage.models import MeterReading, UsagePoint, UsageSummary

VERSION = "feed-1"
"""Bumped when the feed writer's output changes, so old tags stop matching."""


def feed_etag(
    session: Session,
    grant: Grant,
    points: Sequence[UsagePoint],
    meter_reading_ids: Sequence[int] | None = None,
) -> str:
    """The weak ETag of a feed over ``points`` (and only ``meter_reading_ids`` of them when
    given: the IntervalBlock feed)."""
    authorization = grant.authorization
    assert authorization is not None
    digest = hashlib.sha256()

    def add(*values: object) -> None:
        digest.update(repr(values).encode())
        digest.update(b"\x00")

    add(VERSION, request.url_root, request.path, request.query_string)
    add(
        authorization.id,
        authorization.status,
        authorization.scope,
        authorization.updated_at,
        authorization.revoked_at,
        str(grant.scope),
    )
    point_ids = [p.id for p in points]
    for point in points:
        add(
            point.id,
            point.uuid,
            point.title,
            point.service_kind,
            point.local_time_id,
            point.closed_at,
        )
    readings = session.execute(
        select(MeterReading.id, MeterReading.uuid, MeterReading.title, MeterReading.reading_type_id)
        .where(MeterReading.usage_point_id.in_(point_ids))
        .order_by(MeterReading.id)
    ).all()
    wanted = [r[0] for r in readings if meter_reading_ids is None or r[0] in meter_reading_ids]
    add(*(tuple(r) for r in readings))
    fingerprints = reading_fingerprints(session, wanted)
    add(*((mid, fingerprints.get(mid)) for mid in wanted))
    if meter_reading_ids is None:
        summaries = session.execute(
            select(
                UsageSummary.id,
                UsageSummary.status_time_stamp,
                UsageSummary.billing_period_start,
                UsageSummary.bill_last_period,
                UsageSummary.consumption_wh,
            )
            .where(UsageSummary.usage_point_id.in_(point_ids))
            .order_by(UsageSummary.id)
        ).all()
        add(*(tuple(s) for s in summaries))
    return f'W/"{digest.hexdigest()[:32]}"'


def not_modified(etag: str, headers: dict[str, str]) -> Response | None:
    """304 with no body when ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110
    8.8.3.2, as 13.1.2 requires for If-None-Match); else None."""
    if not request.if_none_match.contains_weak(etag.removeprefix("W/").strip('"')):
        return None
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers.update(headers)
    return response
