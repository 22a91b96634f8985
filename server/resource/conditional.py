"""Conditional GET for the big feeds (RFC 9110 8.8.3 ETag, 13.1.2 If-None-Match, 15.4.5 304).

An ASP polling a Batch/Subscription (or its Batch/Bulk, ESPI FB 35) every night used to pay
for the whole document even when nothing had changed.  The feeds now carry a weak ETag
computed from what the document is made of -- never by rendering it:

* the request: the base URL the hrefs are built from, the path and the query string;
* the grant: its id, status, scope, ``updated_at`` and end, and the token's own scope (a
  scope change, a re-consent or a new usage point gives a new tag); for a bulk, every grant
  the bulk holds (a grant revoked or expired leaves it: a new tag) and the ASP's registered
  scope and qualification;
* every row the body renders, whole, not only its id: the shared usage points, their
  LocalTimeParameters (``dstOffset`` ... and the day boundaries of the IntervalBlocks), the
  meter readings and their ReadingTypes (``powerOfTenMultiplier`` ...), the UsageSummaries
  and the tariffs their SST elements name (``sst_content.py``), and the configuration that
  decides which SST elements and links appear;
* per meter reading, ``storage/interval_data.reading_fingerprints`` (count, first start,
  last end, digest of the packed days: new or corrected readings change it).

A rate catalog adapter (``RATE_CATALOG``) that reads rates from elsewhere than the tariff
table is outside the tag: its rates change a summary's SST elements without a new tag until
any of the above changes (the sample catalog reads only the tariff table).

It is weak (``W/``): the feed's ``atom:updated`` is the time of the response, so two
responses with the same tag are equivalent, not byte-identical.  A matching
``If-None-Match`` is answered 304 with no body.  The order in the views is what keeps a
revoked grant out: the token guard runs first (401), then the grant checks (404), and only
then is the tag compared.  A 304 is not charged to the ASP's bulk-feed limit
(``limits/resources.py``: ``charge_feed``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

from flask import Response, current_app, request
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ..limits.resources import charge_feed
from ..oauth.guard import Grant
from ..storage.interval_data import reading_fingerprints
from ..storage.models import (
    Application,
    Authorization,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    Tariff,
    UsagePoint,
    UsageSummary,
    authorization_usage_point,
)

VERSION = "feed-2"
"""Bumped when the feed writer's output (or what the tag covers) changes, so old tags stop
matching."""

SST_SETTINGS = ("SST_ENABLED", "SST_PHASE", "CACHED_CCA_RINS", "ENTITIES", "ENTITY_URL_TEMPLATE")
"""The configuration that decides the SST links of a UsagePoint and the SST elements of a
UsageSummary (``sst_content.py``, ``sst/catalog.py``)."""


class _Digest:
    """SHA-256 over a sequence of value tuples, each ``repr``-ed and separated."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, *values: object) -> None:
        self._hash.update(repr(values).encode())
        self._hash.update(b"\x00")

    def rows(self, session: Session, table: Table, ids: Iterable[int | None]) -> None:
        """Every column of the rows of ``table`` with these ids, in id order."""
        wanted = sorted({i for i in ids if i is not None})
        if not wanted:
            self.add(table.name)
            return
        found = session.execute(
            select(table).where(table.c.id.in_(wanted)).order_by(table.c.id)
        ).all()
        self.add(table.name, *(tuple(row) for row in found))

    def etag(self) -> str:
        return f'W/"{self._hash.hexdigest()[:32]}"'


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _add_request(digest: _Digest) -> None:
    digest.add(VERSION, request.url_root, request.path, request.query_string)
    digest.add(*(repr(current_app.config.get(key)) for key in SST_SETTINGS))


def _add_grant(digest: _Digest, authorization: Authorization, point_ids: Sequence[int]) -> None:
    digest.add(
        authorization.id,
        authorization.uuid,
        authorization.subscription_uuid,
        authorization.status,
        authorization.scope,
        authorization.created_at,
        authorization.updated_at,
        authorization.ends_at,
        authorization.revoked_at,
        tuple(point_ids),
    )


def _add_content(
    digest: _Digest,
    session: Session,
    point_ids: Sequence[int],
    meter_reading_ids: Sequence[int] | None,
    summaries: bool,
) -> None:
    """The rows a feed over ``point_ids`` renders (see the module docstring)."""
    points = session.execute(
        select(_table(UsagePoint)).where(UsagePoint.id.in_(point_ids)).order_by(UsagePoint.id)
    ).all()
    digest.add(*(tuple(p) for p in points))
    point_columns = _table(UsagePoint).c.keys()
    by_name: list[dict[str, Any]] = [dict(zip(point_columns, p, strict=True)) for p in points]
    digest.rows(session, _table(LocalTimeParameters), (p["local_time_id"] for p in by_name))
    readings = session.execute(
        select(
            MeterReading.id,
            MeterReading.uuid,
            MeterReading.title,
            MeterReading.usage_point_id,
            MeterReading.reading_type_id,
        )
        .where(MeterReading.usage_point_id.in_(point_ids))
        .order_by(MeterReading.id)
    ).all()
    only = None if meter_reading_ids is None else set(meter_reading_ids)
    wanted = [r[0] for r in readings if only is None or r[0] in only]
    digest.add(*(tuple(r) for r in readings))
    digest.rows(
        session, _table(ReadingType), (r[4] for r in readings if only is None or r[0] in only)
    )
    fingerprints = reading_fingerprints(session, wanted)
    digest.add(*((mid, fingerprints.get(mid)) for mid in wanted))
    if summaries:
        rows = session.execute(
            select(_table(UsageSummary))
            .where(UsageSummary.usage_point_id.in_(point_ids))
            .order_by(UsageSummary.id)
        ).all()
        digest.add(*(tuple(s) for s in rows))
        tariffs: list[int | None] = [p["tariff_id"] for p in by_name]
        tariffs += [p["generation_tariff_id"] for p in by_name]
        digest.rows(session, _table(Tariff), tariffs)


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
    digest = _Digest()
    _add_request(digest)
    point_ids = [p.id for p in points]
    _add_grant(digest, authorization, point_ids)
    digest.add(str(grant.scope))
    _add_content(digest, session, point_ids, meter_reading_ids, meter_reading_ids is None)
    return digest.etag()


def bulk_etag(session: Session, application: Application, grants: Sequence[Authorization]) -> str:
    """The weak ETag of an ASP's Batch/Bulk (ESPI FB 35, ``lifecycle/bulk.py``): the grants it
    holds now (``bulk_grants``), each with the usage points it shares, and the rows of all of
    them -- what ``asp_routes._bulk_entries`` renders.  One query for the shared points of
    every grant (the conditions of ``access.usage_points``), so a 304 costs a few queries
    however many grants."""
    digest = _Digest()
    _add_request(digest)
    digest.add(application.id, application.uuid, application.scope, application.qualification)
    shared: dict[int, list[int]] = {grant.id: [] for grant in grants}
    if shared:
        pairs = session.execute(
            select(authorization_usage_point.c.authorization_id, UsagePoint.id)
            .join(UsagePoint, UsagePoint.id == authorization_usage_point.c.usage_point_id)
            .join(Authorization, Authorization.id == authorization_usage_point.c.authorization_id)
            .where(
                authorization_usage_point.c.authorization_id.in_(list(shared)),
                UsagePoint.customer_id == Authorization.customer_id,
                UsagePoint.closed_at.is_(None),
            )
            .order_by(authorization_usage_point.c.authorization_id, UsagePoint.id)
        ).all()
        for grant_id, point_id in pairs:
            shared[cast(int, grant_id)].append(cast(int, point_id))
    for grant in grants:
        _add_grant(digest, grant, shared[grant.id])
    point_ids = sorted({p for ids in shared.values() for p in ids})
    _add_content(digest, session, point_ids, None, True)
    return digest.etag()


def not_modified(etag: str, headers: dict[str, str]) -> Response | None:
    """304 with no body when ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110
    8.8.3.2, as 13.1.2 requires for If-None-Match); else None, once the request has been
    charged to the ASP's bulk-feed limit (a conditional request is charged only when it gets
    a body: ``limits/resources.charge_feed``; 429 when over)."""
    if not request.if_none_match.contains_weak(etag.removeprefix("W/").strip('"')):
        charge_feed()
        return None
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers.update(headers)
    return response
