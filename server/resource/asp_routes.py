"""The grants and the ASP-level resources: Authorization, ReadServiceStatus,
ApplicationInformation and Batch/Bulk (ESPI 1_1; GBA openapi; NAESB REQ.21 FB 3, 33, 35).

Who reads what:

* ``Authorization`` (feed) and ``Authorization/{id}``: a customer's token sees its own grant
  only; the ASP's client_credentials token sees every grant of the ASP, whatever its status
  (GBA DataCustodian and PG&E Share My Data list them so an ASP can reconcile: status,
  scope, resourceURI, authorizationURI), and never another ASP's (404, as if absent);
* ``ReadServiceStatus``: any token;
* ``ApplicationInformation`` (feed) and ``ApplicationInformation/{id}``: the client's own
  registration only;
* ``Batch/Bulk/{bulkId}``: the client's own bulk (``lifecycle/bulk.py``): every usable grant's
  subscription in one feed, as each grant's ``Batch/Subscription`` shows it (its scope
  decides the categories), with the same query parameters.

Every ``up`` link these entries carry names one of the collections served here, so every
href the server writes resolves (issue 14; tests/server/resource/test_link_crawl.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from flask import Response, current_app, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from espi_sst.scope import Category, Scope

from ..errors import Refused
from ..lifecycle.bulk import bulk_grants, bulk_id, bulk_refusal
from ..oauth.guard import Grant, current_grant
from ..security import now
from ..storage import db
from ..storage.models import Application, Authorization, Token
from .atom_stream import FeedItem
from .build import EntryBuilder
from .build_asp import application_entry, asp_feed, authorization_entry, service_status
from .conditional import bulk_etag, not_modified
from .errors import insufficient_scope, not_found
from .feed_response import cache_headers, streamed_feed
from .query import FeedQuery, parse_query
from .routes import atom, bp
from .sst_content import SstView
from .subscription import subscription_entries
from .urls import Urls


def any_grant() -> Grant:
    """A customer's or an ASP's (client_credentials) token: either may ask.

    The guard takes one kind per call; with no category required, its only 403 is the
    wrong kind, so a 403 for a customer grant means "try the client grant".
    """
    try:
        return current_grant(None)
    except Refused as exc:
        if exc.status != 403:
            raise
    return current_grant(None, client_level=True)


def _own_application(grant: Grant) -> Application:
    app = db.session.scalar(select(Application).where(Application.client_id == grant.client_id))
    if app is None:  # a token of a deleted registration: nothing of it exists
        raise not_found("ApplicationInformation")
    return app


def _asp_authorizations(grant: Grant) -> list[tuple[Authorization, int]]:
    """The ASP's grants with each one's ESPI ``expires_at`` (its newest token's expiry)."""
    newest = (
        select(Token.authorization_id, func.max(Token.access_expires_at).label("expires"))
        .group_by(Token.authorization_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Authorization, newest.c.expires)
        .join(Application, Application.id == Authorization.application_id)
        .outerjoin(newest, newest.c.authorization_id == Authorization.id)
        .where(Application.client_id == grant.client_id)
        .order_by(Authorization.id)
    )
    found: list[tuple[Authorization, int]] = []
    for row in rows:
        held = cast(Authorization, row[0])
        expires = cast("int | None", row[1])
        found.append((held, expires or held.revoked_at or held.created_at))
    return found


# ---- Authorization ------------------------------------------------------------------------


@bp.get("/Authorization")
def authorizations() -> Response:
    """The Authorization collection: a customer token's own grant, or all of the ASP's."""
    grant = any_grant()
    query = parse_query(request.args)
    urls = Urls.current()
    if grant.authorization is not None:
        mine = [(grant.authorization, grant.token.access_expires_at)]
    else:
        mine = _asp_authorizations(grant)
    entries = [authorization_entry(urls, row, expires) for row, expires in query.page(mine)]
    return atom(asp_feed(urls, urls.collection("Authorization"), "Authorization", entries, now()))


@bp.get("/Authorization/<aid>")
def authorization(aid: str) -> Response:
    """A customer's token reads its own Authorization; the ASP's client_credentials token
    reads any of the ASP's own (ESPI: Authorization is an ASP-level resource too) -- how it
    follows the BatchList it is sent when a grant is created, changed or ended
    (``lifecycle/notices.py``; concept design 7.4, 7.5; Mode 1 step 2).  Another ASP's
    Authorization is 404, as if it did not exist."""
    grant = any_grant()
    parse_query(request.args)
    if grant.authorization is not None:
        if grant.authorization.uuid != aid:
            raise not_found("Authorization")
        return atom(
            authorization_entry(Urls.current(), grant.authorization, grant.token.access_expires_at)
        )
    for row, expires in _asp_authorizations(grant):
        if row.uuid == aid:
            return atom(authorization_entry(Urls.current(), row, expires))
    raise not_found("Authorization")


@bp.get("/ReadServiceStatus")
def read_service_status() -> Response:
    any_grant()
    return atom(service_status())


# ---- ApplicationInformation ---------------------------------------------------------------


@bp.get("/ApplicationInformation")
def application_informations() -> Response:
    """The collection an ApplicationInformation's ``up`` link names: the client's own."""
    grant = current_grant(None, client_level=True)
    query = parse_query(request.args)
    urls = Urls.current()
    entries = query.page([application_entry(urls, _own_application(grant))])
    href = urls.collection("ApplicationInformation")
    return atom(asp_feed(urls, href, "ApplicationInformation", entries, now()))


@bp.get("/ApplicationInformation/<app_id>")
def application_information(app_id: str) -> Response:
    grant = current_grant(None, client_level=True)
    parse_query(request.args)
    app = _own_application(grant)
    if app.uuid != app_id:
        raise not_found("ApplicationInformation")
    return atom(application_entry(Urls.current(), app))


# ---- Batch/Bulk (FB 35) -------------------------------------------------------------------


def _bulk_application(grant: Grant) -> Application:
    """The client's registration, if it claims FB 35; else 403 saying so (``lifecycle/bulk``)."""
    app = _own_application(grant)
    refusal = bulk_refusal(app)
    if refusal is not None:
        raise insufficient_scope(refusal)
    return app


@bp.get("/Batch/Bulk")
def batch_bulk_endpoint() -> Response:
    """The bulk endpoint without an id (what an ASP without FB 35 is told): 403 for such an
    ASP, 404 for one with FB 35 (its bulk has an id: its ApplicationInformation names it)."""
    _bulk_application(current_grant(None, client_level=True))
    raise not_found("Bulk")


@bp.get("/Batch/Bulk/<requested>")
def batch_bulk(requested: str) -> Response:
    """The ASP's bulk: each usable grant's subscription, in grant order, each shared
    resource (ReadingType, LocalTimeParameters) once; paged as a whole; a weak ETag and 304
    as the Batch/Subscription (``conditional.bulk_etag``)."""
    grant = current_grant(None, client_level=True)
    query = parse_query(request.args)
    app = _bulk_application(grant)
    if requested != bulk_id(app):
        raise not_found("Bulk")
    urls = Urls.current()
    moment = now()
    grants = bulk_grants(db.session, app, moment)
    etag = bulk_etag(db.session, app, grants)
    unchanged = not_modified(etag, cache_headers(etag))
    if unchanged is not None:
        return unchanged
    feed = asp_feed(urls, urls.bulk(requested), "Bulk", [], moment)
    session = db.stream_session()
    entries = _bulk_entries(session, urls, grants, query)
    return streamed_feed(feed, entries, query, session=session, etag=etag)


def _bulk_entries(
    session: Session, urls: Urls, grants: list[Authorization], query: FeedQuery
) -> Iterator[FeedItem]:
    """Each grant's subscription entries in turn (``published-*`` / ``updated-*`` select
    blocks and summaries; the caller pages the whole), each entry -- a shared ReadingType,
    or the same usage point granted twice -- once."""
    shown: set[str] = set()
    for authorization in grants:
        scope = Scope.parse(authorization.scope)
        make = EntryBuilder(urls, authorization.subscription_uuid, authorization.created_at)
        for entry in subscription_entries(
            session,
            make,
            authorization,
            query,
            usage=scope.allows(Category.USAGE),
            billing=scope.allows(Category.BILLING),
            sst=SstView(scope, current_app, session),
        ):
            if entry.id is None or entry.id not in shown:
                shown.add(entry.id or "")
                yield entry
