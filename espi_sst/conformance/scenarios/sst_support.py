"""What the SST scenarios share: the functions the server offers, live grants, the service
agreements of a grant, the SST bodies read with the library's model, rate-change requests.

The SST resources hang below a UsagePoint (docs/sst-extension.md; concept design 11.4-11.6):
``UsageSummary`` carries the RIN elements, ``RateInformation``, ``BillComparison`` and
``RateChangeRequest`` are siblings of it.  Links the server writes are preferred; the URL
shape of the extension is the fallback.  Every body is read with :func:`espi_sst.parse`,
which checks the SST rules as it builds the model (a generation RIN in a ``deliveryRin``
element, a rejected request without its reason ...): what it refuses, the kit fails.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import requests

from ... import Document, parse
from ...model import espi as m
from ...model import sst
from ...model.enums import ServiceKind
from ..config import ClientConfig, CustomerConfig
from ..context import Context, Grant
from ..errors import ScenarioFailed, ScenarioSkipped

__all__ = [
    "FUNCTION_NAMES",
    "Point",
    "RateChangeCandidate",
    "client_credentials_token",
    "content_of",
    "current_request",
    "electric_points",
    "fetch",
    "granted",
    "live_grant",
    "offered",
    "passcode_source_ready",
    "rate_change_client",
    "rate_change_in",
    "rate_information",
    "read",
    "request_rate_change",
    "summaries",
    "wait_for_decision",
    "withdraw",
]

SST_RIN = "sst:rin"
SST_BILL_COMPARISON = "sst:bill_comparison"
SST_RATE_CHANGE = "sst:rate_change"
FUNCTION_NAMES = {
    SST_RIN: "customer RINs and eligible rates (Phase 1)",
    SST_BILL_COMPARISON: "bill comparison (Phase 2)",
    SST_RATE_CHANGE: "customer-directed rate change (Phase 3)",
}
FINAL_STATUSES = {
    sst.RateChangeStatus.accepted,
    sst.RateChangeStatus.rejected,
    sst.RateChangeStatus.expired,
    sst.RateChangeStatus.cancelled,
}


def fetch(ctx: Context, url: str, token: str | None, **options: Any) -> requests.Response:
    """``ctx.fetch`` (which already waits out a 429 with a short Retry-After)."""
    return ctx.fetch(url, token, **options)


def client_credentials_token(ctx: Context, client: ClientConfig) -> str:
    """A client_credentials token for the ASP's own resources (ESPI Authorization)."""
    return ctx.client_token(client)


def offered(ctx: Context, category: str, client: ClientConfig | None = None) -> None:
    """Skip unless the server offers ``category`` (and ``client``, if given, asks for it).

    The server says what it offers in ``scopes_supported`` (RFC 8414 2; an SST utility in
    Phase 1 lists only ``sst:rin``, concept design 6.1.1)."""
    supported = ctx.metadata().get("scopes_supported") or []
    words = {word for item in supported if isinstance(item, str) for word in item.split()}
    if category not in words:
        ctx.skip(
            f"the server does not offer {FUNCTION_NAMES[category]}: scopes_supported lacks "
            f"{category} (concept design 6.1.1: each utility's phase)"
        )
    if client is not None and category not in client.scope.split():
        ctx.skip(f"CONFIG's client {client.client_id} does not ask for {category} (its scope)")


def granted(ctx: Context, grant: Grant, category: str) -> None:
    """Fail when the server offers ``category``, the client asked, and the token lacks it.

    RFC 6749 5.1: an absent ``scope`` in the token response means the one requested."""
    scope = (grant.scope or grant.client.scope).split()
    ctx.check(
        category in scope,
        f"the server offers {category} and {grant.client.client_id} asked for it, but the "
        f"token's scope {grant.scope!r} does not grant it (RFC 6749 3.3)",
    )


def rate_change_client(ctx: Context) -> ClientConfig:
    """The first rate-change ASP (concept design 6.4.2.2) asking for ``sst:rate_change``."""
    offered(ctx, SST_RATE_CHANGE)
    for client in ctx.config.clients:
        if client.asp_class == "rate-change" and SST_RATE_CHANGE in client.scope.split():
            return client
    ctx.skip('CONFIG lists no rate-change ASP asking for sst:rate_change (class = "rate-change")')


def live_grant(ctx: Context, client: ClientConfig, customer: CustomerConfig) -> Grant:
    """The run's grant of ``customer`` to ``client``, renewed once if it no longer works.

    Another scenario's new consent by the same customer for the same ASP may have replaced
    the shared grant (one authorization per customer and ASP, concept design 7.4): its
    tokens then answer 401, which is right, and a fresh grant is made."""
    grant = ctx.grant(client, customer)
    if not grant.subscription_url:
        ctx.fail(f"the token response's resourceURI {grant.resource_uri!r} names no Subscription")
    probe = fetch(ctx, f"{grant.subscription_url}/UsagePoint", grant.access_token)
    if probe.status_code == 401:
        ctx.note(f"the shared grant of {customer.username} was replaced; a new one is made")
        ctx.forget_grant(grant)
        grant = ctx.grant(client, customer)
    return grant


@dataclass(frozen=True)
class Point:
    """A service agreement (UsagePoint) of a grant, with the hrefs its entry links."""

    url: str
    related: tuple[str, ...]
    kind: int | None

    def resource(self, name: str) -> str:
        """``.../UsagePoint/{id}/{name}``: the linked href if the entry links it."""
        for href in self.related:
            if href.rstrip("/").endswith("/" + name):
                return href.rstrip("/")
        return f"{self.url}/{name}"


def read(ctx: Context, response: requests.Response, what: str) -> Document:
    """The body of a 200 XML answer, read by the library's SST-checking model."""
    body = ctx.expect_xml(response, what)
    try:
        return parse(body)
    except Exception as exc:  # a hostile or wrong body: the server's fault, said in one line
        ctx.fail(f"{what}: the body breaks the ESPI / SST rules: {exc}")


def content_of(document: Document, kind: type[Any]) -> list[Any]:
    return [c for e in document.entries for c in e.contents if isinstance(c, kind)]


def electric_points(ctx: Context, grant: Grant) -> list[Point]:
    """The grant's electric service agreements (ServiceKind 0; unstated counts as electric)."""
    url = f"{grant.subscription_url}/UsagePoint"
    document = read(ctx, fetch(ctx, url, grant.access_token), f"GET {url}")
    points = []
    for entry in document.usage_points:
        content = entry.content
        kind = None
        if isinstance(content, m.UsagePoint) and content.service_category is not None:
            value = content.service_category.kind
            kind = int(value) if value is not None else None
        if entry.self_href and kind in (None, int(ServiceKind.electricity)):
            points.append(Point(entry.self_href.rstrip("/"), tuple(entry.related_hrefs), kind))
    if not points:
        ctx.skip(f"{grant.customer.username}'s grant shares no electric service agreement")
    return points


def summaries(
    ctx: Context, grant: Grant, point: Point
) -> list[m.UsageSummary | m.ElectricPowerUsageSummary]:
    url = point.resource("UsageSummary")
    document = read(ctx, fetch(ctx, url, grant.access_token), f"GET {url}")
    kinds = (m.UsageSummary, m.ElectricPowerUsageSummary)
    return [c for e in document.entries for c in e.contents if isinstance(c, kinds)]


def rate_information(ctx: Context, grant: Grant, point: Point) -> sst.RateInformation:
    url = point.resource("RateInformation")
    found = content_of(
        read(ctx, fetch(ctx, url, grant.access_token), f"GET {url}"), sst.RateInformation
    )
    ctx.check(found, f"GET {url}: no RateInformation in the answer")
    info: sst.RateInformation = found[0]
    return info


# ---- rate changes --------------------------------------------------------------------------
@dataclass(frozen=True)
class RateChangeCandidate:
    """A customer's service agreement and a rate the server says it may change to now."""

    customer: CustomerConfig
    point: Point
    target: sst.EligibleRate


def request_rate_change(
    ctx: Context, grant: Grant, point: Point, target: sst.EligibleRate
) -> requests.Response:
    """POST a RateChangeRequest (a fresh Idempotency-Key: a new request every time)."""
    body = {"targetRin": str(target.rin)}
    if target.tariff_code:
        body["targetTariffCode"] = target.tariff_code
    return fetch(
        ctx,
        point.resource("RateChangeRequest"),
        grant.access_token,
        method="POST",
        json=body,
        headers={"Idempotency-Key": "conformance-" + secrets.token_urlsafe(12)},
    )


def rate_change_in(ctx: Context, response: requests.Response, what: str) -> sst.RateChangeRequest:
    """The RateChangeRequest of a 2xx answer (POST / DELETE answers carry one)."""
    ctx.check(
        200 <= response.status_code < 300,
        f"{what}: {response.status_code} {response.text[:200]}",
    )
    try:
        document = parse(response.content)
    except Exception as exc:
        ctx.fail(f"{what}: the body breaks the ESPI / SST rules: {exc}")
    found = content_of(document, sst.RateChangeRequest)
    ctx.check(found, f"{what}: the answer holds no RateChangeRequest")
    return found[0]  # type: ignore[no-any-return]


def current_request(ctx: Context, grant: Grant, url: str) -> sst.RateChangeRequest:
    found = content_of(
        read(ctx, fetch(ctx, url, grant.access_token), f"GET {url}"), sst.RateChangeRequest
    )
    ctx.check(found, f"GET {url}: no RateChangeRequest in the answer")
    return found[0]  # type: ignore[no-any-return]


def wait_for_decision(
    ctx: Context, grant: Grant, url: str, timeout: float
) -> sst.RateChangeRequest:
    """Poll the request until the utility decided (concept design 7.15: asynchronous)."""
    seen: list[sst.RateChangeRequest] = []

    def decided() -> bool:
        seen.append(current_request(ctx, grant, url))
        return seen[-1].status in FINAL_STATUSES

    try:
        ctx.wait_until(decided, timeout, f"a decision on {url}")
    except ScenarioFailed:
        status = seen[-1].status if seen else None
        ctx.fail(
            f"the rate change is still {status} after {timeout:.0f} s: the utility did not "
            "decide within CONFIG's timeout (concept design 7.15.2)"
        )
    return seen[-1]


def withdraw(ctx: Context, grant: Grant, url: str) -> None:
    """Withdraw a request the scenario leaves (DELETE), so the next run finds none open."""
    try:
        answer = fetch(ctx, url, grant.access_token, method="DELETE")
    except requests.RequestException as exc:
        ctx.note(f"withdrawing {url} failed: {exc}")
        return
    if not 200 <= answer.status_code < 300:
        ctx.note(
            f"the server did not withdraw {url} (DELETE answered {answer.status_code}): it "
            "stays open until its passcode expires"
        )


def passcode_source_ready(ctx: Context, customer: CustomerConfig) -> set[str]:
    """The passcodes already there (skip when CONFIG names no source: nothing is sent)."""
    if ctx.config.passcodes.mode == "none":
        ctx.skip("CONFIG names no passcode source ([passcodes] mode = inbox | imap | prompt)")
    try:
        return ctx.passcodes.present(customer)
    except ScenarioSkipped:
        raise
    except ScenarioFailed as exc:
        ctx.fail(f"the passcode source cannot be read before the request: {exc}")
