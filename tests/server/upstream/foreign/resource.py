"""The foreign custodian's ESPI resource API (REQ.21 REST), bearer tokens only.

Refusals, as a GBC custodian answers them: no, unknown, expired or revoked token -> 401
``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3.1); a customer token on
another subscription, or an ASP-level (client-credentials) token on a customer's data ->
403; a usage point, meter reading, block or summary not in the subscription -> 404.
``published-min`` (inclusive) / ``published-max`` (exclusive), RFC 3339 date-times, bound
the IntervalBlocks (published = the block's local-midnight start) of Subscription,
Batch/Subscription and IntervalBlock feeds; a malformed one -> 400.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .resources import LOCAL_TIME_ID, READING_TYPE_ID, Catalog, meter_reading_id, summary_id
from .state import Grant, Store, Token

ATOM_XML = "application/atom+xml"
_SPACE_FOR_PLUS = re.compile(r"^(.*\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refusal(status: int, message: str) -> Response:
    response = Response(message + "\n", status, mimetype="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{message}"'
        )
    return response


def _moment(request: Request, name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    spaced = _SPACE_FOR_PLUS.match(text.strip())
    if spaced:
        text = f"{spaced.group(1)}+{spaced.group(2)}"
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Refused(
            400, f"{name}: expected an ISO 8601 date-time such as 2024-03-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise Refused(400, f"{name}: the date-time needs an offset (Z or +hh:mm)")
    return int(moment.timestamp())


RULES = [
    Rule("/Batch/Subscription/<sid>", endpoint="subscription"),
    Rule("/Subscription/<sid>", endpoint="subscription"),
    Rule("/Subscription/<sid>/UsagePoint", endpoint="points"),
    Rule("/Subscription/<sid>/UsagePoint/<uid>", endpoint="point"),
    Rule("/Subscription/<sid>/UsagePoint/<uid>/MeterReading", endpoint="readings"),
    Rule("/Subscription/<sid>/UsagePoint/<uid>/MeterReading/<mid>", endpoint="reading"),
    Rule(
        "/Subscription/<sid>/UsagePoint/<uid>/MeterReading/<mid>/IntervalBlock", endpoint="blocks"
    ),
    Rule(
        "/Subscription/<sid>/UsagePoint/<uid>/MeterReading/<mid>/IntervalBlock/<bid>",
        endpoint="block",
    ),
    Rule("/Subscription/<sid>/UsagePoint/<uid>/UsageSummary", endpoint="summaries"),
    Rule("/Subscription/<sid>/UsagePoint/<uid>/UsageSummary/<ident>", endpoint="summary"),
    Rule("/ReadingType", endpoint="reading_types"),
    Rule("/ReadingType/<ident>", endpoint="reading_type"),
    Rule("/LocalTimeParameters", endpoint="local_times"),
    Rule("/LocalTimeParameters/<ident>", endpoint="local_time"),
    Rule("/Authorization", endpoint="authorizations"),
    Rule("/Authorization/<aid>", endpoint="authorization"),
    Rule("/ApplicationInformation/<ident>", endpoint="application"),
    Rule("/ReadServiceStatus", endpoint="status"),
]


class ResourceApi:
    """GET-only resources under ``.../espi/1_1/resource``."""

    def __init__(self, store: Store, catalog: Catalog, public_base: str) -> None:
        self.store = store
        self.catalog = catalog
        self.public_base = public_base
        self.map = Map([rule.empty() for rule in RULES], strict_slashes=False, merge_slashes=False)

    def __call__(self, request: Request, path: str) -> Response:
        if request.method != "GET":
            return refusal(405, "only GET")
        try:
            adapter = self.map.bind("custodian", path_info=path)
            endpoint, values = adapter.match(path, method="GET")
        except HTTPException:
            return refusal(404, f"no such resource: {path}")
        try:
            token = self._token(request)
            body = getattr(self, f"_{endpoint}")(request, token, **values)
        except Refused as refused:
            return refusal(refused.status, refused.message)
        return Response(body, 200, mimetype=ATOM_XML)

    # ---- access ----------------------------------------------------------------------
    def _token(self, request: Request) -> Token:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            raise Refused(401, "a Bearer access token is required")
        token = self.store.access(header[7:].strip())
        if token is None:
            raise Refused(401, "the access token is unknown, expired or revoked")
        return token

    def _grant(self, token: Token, sid: str, uid: str | None = None) -> Grant:
        if token.grant is None:
            raise Refused(
                403, "an application (client-credentials) token cannot read customer data"
            )
        if token.grant.subscription_id != sid:
            raise Refused(403, "the access token is not for this subscription")
        if uid is not None and uid not in token.grant.usage_points:
            raise Refused(404, f"no UsagePoint {uid} in subscription {sid}")
        return token.grant

    def _mid(self, uid: str, mid: str) -> None:
        if mid != meter_reading_id(uid):
            raise Refused(404, f"no MeterReading {mid} in UsagePoint {uid}")

    def _feed(self, self_href: str, entries: Iterable[str]) -> bytes:
        return "".join(self.catalog.shape.feed(self_href, time.time(), entries)).encode()

    def _bounds(self, request: Request) -> tuple[int | None, int | None]:
        low, high = _moment(request, "published-min"), _moment(request, "published-max")
        if low is not None and high is not None and low >= high:
            raise Refused(400, "published-max must be after published-min")
        return low, high

    # ---- customer data ---------------------------------------------------------------
    def _subscription(self, request: Request, token: Token, sid: str) -> bytes:
        grant = self._grant(token, sid)
        low, high = self._bounds(request)
        c = self.catalog

        def entries() -> Iterable[str]:
            for n, point in enumerate(grant.usage_points):
                yield c.usage_point(sid, point, standalone=False)
                yield c.meter_reading(sid, point, standalone=False)
                if n == 0:
                    yield c.reading_type(standalone=False)
                for block in c.blocks(point, low, high):
                    yield c.interval_block(sid, point, block, standalone=False)
                for period in c.periods(point):
                    yield c.usage_summary(sid, point, period, standalone=False)
            yield c.local_time(standalone=False)

        batch = "Batch/" if "/Batch/Subscription/" in request.path else ""
        return self._feed(f"{c.base}/{batch}Subscription/{sid}", entries())

    def _points(self, request: Request, token: Token, sid: str) -> bytes:
        grant = self._grant(token, sid)
        return self._feed(
            f"{self.catalog.base}/Subscription/{sid}/UsagePoint",
            (self.catalog.usage_point(sid, p, standalone=False) for p in grant.usage_points),
        )

    def _point(self, request: Request, token: Token, sid: str, uid: str) -> bytes:
        self._grant(token, sid, uid)
        return self.catalog.usage_point(sid, uid, standalone=True).encode()

    def _readings(self, request: Request, token: Token, sid: str, uid: str) -> bytes:
        self._grant(token, sid, uid)
        return self._feed(
            f"{self.catalog.point_href(sid, uid)}/MeterReading",
            [self.catalog.meter_reading(sid, uid, standalone=False)],
        )

    def _reading(self, request: Request, token: Token, sid: str, uid: str, mid: str) -> bytes:
        self._grant(token, sid, uid)
        self._mid(uid, mid)
        return self.catalog.meter_reading(sid, uid, standalone=True).encode()

    def _blocks(self, request: Request, token: Token, sid: str, uid: str, mid: str) -> bytes:
        self._grant(token, sid, uid)
        self._mid(uid, mid)
        low, high = self._bounds(request)
        c = self.catalog
        return self._feed(
            f"{c.reading_href(sid, uid)}/IntervalBlock",
            (c.interval_block(sid, uid, b, standalone=False) for b in c.blocks(uid, low, high)),
        )

    def _block(
        self, request: Request, token: Token, sid: str, uid: str, mid: str, bid: str
    ) -> bytes:
        self._grant(token, sid, uid)
        self._mid(uid, mid)
        for block in self.catalog.blocks(uid, None, None):
            if str(block.start) == bid:
                return self.catalog.interval_block(sid, uid, block, standalone=True).encode()
        raise Refused(404, f"no IntervalBlock {bid}")

    def _summaries(self, request: Request, token: Token, sid: str, uid: str) -> bytes:
        self._grant(token, sid, uid)
        c = self.catalog
        return self._feed(
            f"{c.point_href(sid, uid)}/UsageSummary",
            (c.usage_summary(sid, uid, p, standalone=False) for p in c.periods(uid)),
        )

    def _summary(self, request: Request, token: Token, sid: str, uid: str, ident: str) -> bytes:
        self._grant(token, sid, uid)
        for period in self.catalog.periods(uid):
            if summary_id(period) == ident:
                return self.catalog.usage_summary(sid, uid, period, standalone=True).encode()
        raise Refused(404, f"no UsageSummary {ident}")

    # ---- shared and application resources ----------------------------------------------
    def _reading_types(self, request: Request, token: Token) -> bytes:
        return self._feed(
            f"{self.catalog.base}/ReadingType", [self.catalog.reading_type(standalone=False)]
        )

    def _reading_type(self, request: Request, token: Token, ident: str) -> bytes:
        if ident != READING_TYPE_ID:
            raise Refused(404, f"no ReadingType {ident}")
        return self.catalog.reading_type(standalone=True).encode()

    def _local_times(self, request: Request, token: Token) -> bytes:
        return self._feed(
            f"{self.catalog.base}/LocalTimeParameters", [self.catalog.local_time(standalone=False)]
        )

    def _local_time(self, request: Request, token: Token, ident: str) -> bytes:
        if ident != LOCAL_TIME_ID:
            raise Refused(404, f"no LocalTimeParameters {ident}")
        return self.catalog.local_time(standalone=True).encode()

    def _authorizations(self, request: Request, token: Token) -> bytes:
        """The client's own authorizations (client-credentials token) or the customer's one."""
        client = self.store.clients[token.client_id]
        if token.grant is not None:
            listed = [self.catalog.authorization(token.grant, client, standalone=False)]
        else:
            listed = [self.catalog.authorization(None, client, standalone=False)] + [
                self.catalog.authorization(g, client, standalone=False)
                for g in list(self.store.grants.values())
                if g.client_id == client.client_id
            ]
        return self._feed(f"{self.catalog.base}/Authorization", listed)

    def _authorization(self, request: Request, token: Token, aid: str) -> bytes:
        client = self.store.clients[token.client_id]
        if token.grant is not None:
            if token.grant.authorization_id != aid:
                raise Refused(403, "the access token is not for this authorization")
            return self.catalog.authorization(token.grant, client, standalone=True).encode()
        if aid == client.authorization_id:
            return self.catalog.authorization(None, client, standalone=True).encode()
        for grant in list(self.store.grants.values()):
            if grant.authorization_id == aid and grant.client_id == client.client_id:
                return self.catalog.authorization(grant, client, standalone=True).encode()
        raise Refused(404, f"no Authorization {aid} of this application")

    def _application(self, request: Request, token: Token, ident: str) -> bytes:
        if token.grant is not None:
            raise Refused(
                403, "ApplicationInformation needs the application's client-credentials token"
            )
        client = self.store.clients[token.client_id]
        if ident != client.application_id:
            raise Refused(403, "not this application's ApplicationInformation")
        return self.catalog.application(client, self.public_base, standalone=True).encode()

    def _status(self, request: Request, token: Token) -> bytes:
        return self.catalog.service_status().encode()
