"""ESPI resources (NAESB REQ.21): the Batch/Subscription feed, each resource type reached by
following its links, the query parameters, and isolation between customers and ASPs.

These check STRUCTURE only, with XPath on the safe reader's tree: an Atom feed or entry,
entries with self links, the expected espi content element.  Schema validity is
ESPI-SCHEMA's, the GBA data rules GBA-*'s and the SST semantics the SST scenarios', so one
breakage of a server fails one scenario.  Every body goes through ``ctx.fetch`` (collected
for those final checks).  Resource URLs come from the server's own answers: the token
response's resourceURI / authorizationURI, the feeds' links, the metadata.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import requests
from lxml import etree

from ...errors import EspiError
from ...xml.reader import parse_tree
from ..certification import NAMESPACES
from ..context import Context, Grant
from ..registry import scenario

BATCH = "resources.batch_tree"
DENIED = (403, 404)


# ---- reading answers -------------------------------------------------------------------------
def tree_of(ctx: Context, response: requests.Response, what: str) -> etree._ElementTree:
    body = ctx.expect_xml(response, what)
    try:
        return parse_tree(body)[1]
    except EspiError as exc:
        ctx.fail(f"{what}: the body is not readable XML: {exc}")


def get_tree(ctx: Context, url: str, token: str, what: str, **params: str) -> etree._ElementTree:
    return tree_of(ctx, ctx.fetch(url, token, params=params or None), what)


def xpath(node: etree._Element | etree._ElementTree, path: str) -> list:  # type: ignore[type-arg]
    found = node.xpath(path, namespaces=NAMESPACES)
    return found if isinstance(found, list) else []


def entries(tree: etree._ElementTree, kind: str) -> list[etree._Element]:
    return xpath(tree, f"/atom:feed/atom:entry[atom:content/espi:{kind}]")


def link(entry: etree._Element, rel: str, contains: str = "") -> list[str]:
    return [h for h in xpath(entry, f"atom:link[@rel='{rel}']/@href") if contains in h]


def check_feed(ctx: Context, tree: etree._ElementTree, kind: str, url: str) -> list[etree._Element]:
    """An Atom feed with at least one ``kind`` entry, each with a self link (REQ.21 / RFC
    4287 4.1.1, 4.2.7)."""
    root = tree.getroot()
    ctx.check(
        root.tag == f"{{{NAMESPACES['atom']}}}feed",
        f"{url}: the root is {root.tag}, not an Atom feed (RFC 4287 4.1.1)",
    )
    found = entries(tree, kind)
    ctx.check(found, f"{url}: the feed has no entry whose content is espi:{kind}")
    for entry in found:
        ctx.check(link(entry, "self"), f"{url}: an espi:{kind} entry without a self link")
    return found


def check_member(ctx: Context, tree: etree._ElementTree, kind: str, url: str) -> None:
    """A member GET: an Atom entry holding one espi:``kind``, its self link this URL."""
    root = tree.getroot()
    ctx.check(
        root.tag == f"{{{NAMESPACES['atom']}}}entry",
        f"{url}: the root is {root.tag}, not an Atom entry (REQ.21: a member is an entry)",
    )
    ctx.check(xpath(root, f"atom:content/espi:{kind}"), f"{url}: the entry holds no espi:{kind}")
    selfs = link(root, "self")
    ctx.check(
        selfs and selfs[0].rstrip("/") == url.rstrip("/"),
        f"{url}: the entry's self link {selfs} is not the URL it was read from",
    )


def batch_tree(ctx: Context) -> tuple[Grant, etree._ElementTree]:
    """The primary grant and its Batch/Subscription feed (read once per run)."""
    grant = ctx.grant()
    cached = ctx.shared.get(BATCH)
    if cached is None:
        if not grant.resource_uri:
            ctx.fail("the token response has no resourceURI (REQ.21 ESPI token response)")
        cached = get_tree(ctx, grant.resource_uri, grant.access_token, "Batch/Subscription")
        ctx.shared[BATCH] = cached
    return grant, cached


def related_of(ctx: Context, kind: str, target: str) -> list[str]:
    """The related links to ``target`` (a path segment) of the Batch feed's ``kind`` entries."""
    _, tree = batch_tree(ctx)
    return [h for e in entries(tree, kind) for h in link(e, "related", f"/{target}")]


def collection_and_member(ctx: Context, collection: str, kind: str, token: str) -> str:
    """GET a collection feed, then its first member; returns the member's URL."""
    tree = get_tree(ctx, collection, token, f"{kind} collection")
    first = check_feed(ctx, tree, kind, collection)[0]
    member = link(first, "self")[0]
    check_member(ctx, get_tree(ctx, member, token, f"{kind} member"), kind, member)
    return member


# ---- the feed and each resource type -------------------------------------------------------
@scenario(
    "ESPI-01",
    "Batch/Subscription (the token's resourceURI) is an Atom feed of UsagePoints with self links",
    references=("NAESB REQ.21 (ESPI) Batch/Subscription, FB 1, FB 3", "RFC 4287 4.1.1"),
    group="resources",
    needs=("OAUTH-01",),
)
def batch_subscription(ctx: Context) -> None:
    grant = ctx.grant()
    if not grant.resource_uri:
        ctx.fail("the token response has no resourceURI (REQ.21 ESPI token response)")
    response = ctx.fetch(grant.resource_uri, grant.access_token)
    tree = tree_of(ctx, response, "Batch/Subscription")
    kind = response.headers.get("Content-Type", "")
    ctx.check("atom+xml" in kind, f"Content-Type {kind!r} is not application/atom+xml")
    check_feed(ctx, tree, "UsagePoint", grant.resource_uri)
    ctx.check(xpath(tree, "/atom:feed/atom:link[@rel='self']/@href"), "the feed has no self link")
    ctx.shared[BATCH] = tree


def _resource_type(ctx: Context, kind: str, parent: str, segment: str) -> None:
    grant, _ = batch_tree(ctx)
    urls = related_of(ctx, parent, segment)
    if not urls:
        ctx.fail(f"no espi:{parent} entry of the Batch feed links (related) to its {segment}")
    collection = urls[0]
    tail = collection.rstrip("/").rsplit("/", 1)[-1]
    if tail == segment:  # a collection: read it and its first member
        collection_and_member(ctx, collection, kind, grant.access_token)
    else:  # a member link (ReadingType, LocalTimeParameters)
        check_member(ctx, get_tree(ctx, collection, grant.access_token, kind), kind, collection)


@scenario(
    "ESPI-02",
    "UsagePoint collection and member answer with the customer's token",
    references=("NAESB REQ.21 (ESPI) FB 1 UsagePoint",),
    group="resources",
    needs=("ESPI-01",),
)
def usage_point(ctx: Context) -> None:
    grant, tree = batch_tree(ctx)
    first = entries(tree, "UsagePoint")[0]
    ups = link(first, "up")
    ctx.check(ups, "the Batch feed's UsagePoint entry has no up link (its collection)")
    collection_and_member(ctx, ups[0], "UsagePoint", grant.access_token)


@scenario(
    "ESPI-03",
    "MeterReading collection and member, linked from the UsagePoint",
    references=("NAESB REQ.21 (ESPI) FB 4 MeterReading",),
    group="resources",
    needs=("ESPI-01",),
)
def meter_reading(ctx: Context) -> None:
    _resource_type(ctx, "MeterReading", "UsagePoint", "MeterReading")


@scenario(
    "ESPI-04",
    "ReadingType, linked from the MeterReading",
    references=("NAESB REQ.21 (ESPI) FB 4 ReadingType",),
    group="resources",
    needs=("ESPI-01",),
)
def reading_type(ctx: Context) -> None:
    _resource_type(ctx, "ReadingType", "MeterReading", "ReadingType")


@scenario(
    "ESPI-05",
    "IntervalBlock collection and member, linked from the MeterReading",
    references=("NAESB REQ.21 (ESPI) FB 4 IntervalBlock",),
    group="resources",
    needs=("ESPI-01",),
)
def interval_block(ctx: Context) -> None:
    _resource_type(ctx, "IntervalBlock", "MeterReading", "IntervalBlock")


@scenario(
    "ESPI-06",
    "UsageSummary collection and member, linked from the UsagePoint",
    references=("NAESB REQ.21 (ESPI) FB 15 UsageSummary",),
    group="resources",
    needs=("ESPI-01",),
)
def usage_summary(ctx: Context) -> None:
    if not related_of(ctx, "UsagePoint", "UsageSummary"):
        ctx.skip("no UsagePoint links a UsageSummary (FB 15 not offered for it)")
    _resource_type(ctx, "UsageSummary", "UsagePoint", "UsageSummary")


@scenario(
    "ESPI-07",
    "LocalTimeParameters, linked from the UsagePoint",
    references=("NAESB REQ.21 (ESPI) FB 1 LocalTimeParameters", "GBA certification D007"),
    group="resources",
    needs=("ESPI-01",),
)
def local_time_parameters(ctx: Context) -> None:
    _resource_type(ctx, "LocalTimeParameters", "UsagePoint", "LocalTimeParameters")


@scenario(
    "ESPI-08",
    "ElectricPowerQualitySummary collection (when the UsagePoint links one)",
    references=("NAESB REQ.21 (ESPI) FB 16 ElectricPowerQualitySummary",),
    group="resources",
    needs=("ESPI-01",),
)
def power_quality_summary(ctx: Context) -> None:
    grant, _ = batch_tree(ctx)
    urls = related_of(ctx, "UsagePoint", "ElectricPowerQualitySummary")
    if not urls:
        ctx.skip("no UsagePoint links an ElectricPowerQualitySummary")
    tree = get_tree(ctx, urls[0], grant.access_token, "ElectricPowerQualitySummary collection")
    root = tree.getroot()
    ctx.check(root.tag == f"{{{NAMESPACES['atom']}}}feed", f"{urls[0]}: not an Atom feed")
    for entry in entries(tree, "ElectricPowerQualitySummary"):
        ctx.check(link(entry, "self"), f"{urls[0]}: an entry without a self link")
    if not entries(tree, "ElectricPowerQualitySummary"):
        ctx.note("the linked collection is empty (a feed with no entries: allowed)")


@scenario(
    "ESPI-09",
    "ReadServiceStatus answers an espi:ServiceStatus to the ASP's client_credentials token",
    references=("NAESB REQ.21 (ESPI) FB 37 ReadServiceStatus",),
    group="resources",
    needs=("DISC-01",),
)
def read_service_status(ctx: Context) -> None:
    token = ctx.client_token()
    url = f"{ctx.resource_base()}/ReadServiceStatus"
    tree = get_tree(ctx, url, token, "ReadServiceStatus")
    ctx.check(
        xpath(tree, "//espi:ServiceStatus/espi:currentStatus"),
        f"{url}: no espi:ServiceStatus with a currentStatus",
    )


@scenario(
    "ESPI-10",
    "ApplicationInformation collection and member for the ASP's client_credentials token",
    references=("NAESB REQ.21 (ESPI) FB 3, FB 13 ApplicationInformation",),
    group="resources",
    needs=("DISC-01",),
)
def application_information(ctx: Context) -> None:
    token = ctx.client_token()
    client = ctx.confidential_client()
    url = f"{ctx.resource_base()}/ApplicationInformation"
    tree = get_tree(ctx, url, token, "ApplicationInformation collection")
    found = check_feed(ctx, tree, "ApplicationInformation", url)
    ids = xpath(tree, "//espi:ApplicationInformation/espi:client_id/text()")
    ctx.check(
        not ids or set(ids) == {client.client_id},
        f"{url}: the ASP {client.client_id} sees other ASPs' ApplicationInformation: {ids}",
    )
    member = link(found[0], "self")[0]
    check_member(
        ctx,
        get_tree(ctx, member, token, "ApplicationInformation member"),
        "ApplicationInformation",
        member,
    )


@scenario(
    "ESPI-11",
    "Authorization: the ASP's collection (status, scope, resourceURI) and the grant's member",
    references=("NAESB REQ.21 (ESPI) FB 3 Authorization", "GBA DataCustodian Authorization"),
    group="resources",
    needs=("OAUTH-01",),
)
def authorization(ctx: Context) -> None:
    grant = ctx.grant(ctx.confidential_client())
    token = ctx.client_token()
    url = f"{ctx.resource_base()}/Authorization"
    tree = get_tree(ctx, url, token, "Authorization collection")
    found = check_feed(ctx, tree, "Authorization", url)
    for entry in found:
        for field in ("status", "scope", "resourceURI"):
            ctx.check(
                xpath(entry, f"atom:content/espi:Authorization/espi:{field}"),
                f"{url}: an Authorization entry without espi:{field}",
            )
    mine = xpath(tree, "//espi:Authorization/espi:resourceURI/text()")
    ctx.check(
        grant.resource_uri in mine,
        f"{url}: this run's grant ({grant.resource_uri}) is not among the ASP's Authorizations",
    )
    if not grant.authorization_uri:
        ctx.fail("the token response has no authorizationURI")
    member = grant.authorization_uri
    check_member(
        ctx,
        get_tree(ctx, member, grant.access_token, "Authorization member"),
        "Authorization",
        member,
    )


# ---- query parameters ------------------------------------------------------------------------
def _blocks_url(ctx: Context) -> tuple[str, str]:
    grant, _ = batch_tree(ctx)
    urls = [
        u
        for u in related_of(ctx, "MeterReading", "IntervalBlock")
        if u.rstrip("/").endswith("/IntervalBlock")
    ]
    if not urls:
        ctx.fail("no MeterReading of the Batch feed links its IntervalBlock collection")
    return urls[0], grant.access_token


def _ids(tree: etree._ElementTree) -> list[str]:
    return xpath(tree, "/atom:feed/atom:entry/atom:id/text()")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))


@scenario(
    "ESPI-12",
    "max-results, start-index and depth page a collection",
    references=("NAESB REQ.21 (ESPI) REST query parameters", "GBA openapi components/parameters"),
    group="resources",
    needs=("ESPI-01",),
)
def paging(ctx: Context) -> None:
    url, token = _blocks_url(ctx)
    three = _ids(get_tree(ctx, url, token, "max-results=3", **{"max-results": "3"}))
    ctx.check(0 < len(three) <= 3, f"max-results=3 gave {len(three)} entries")
    if len(three) < 2:
        ctx.skip("the collection has one entry: paging cannot be observed")
    second = _ids(
        get_tree(ctx, url, token, "start-index=2", **{"start-index": "2", "max-results": "1"})
    )
    ctx.check(
        second == three[1:2],
        f"start-index=2&max-results=1 gave {second}, not the second entry {three[1:2]} "
        "(start-index is one-based)",
    )
    two = _ids(get_tree(ctx, url, token, "depth=2", depth="2"))
    ctx.check(len(two) <= 2, f"depth=2 gave {len(two)} entries (GBA: at most that many)")


def _window(ctx: Context, field: str) -> None:
    url, token = _blocks_url(ctx)
    tree = get_tree(ctx, url, token, "max-results=3", **{"max-results": "3"})
    moments = xpath(tree, f"/atom:feed/atom:entry/atom:{field}/text()")
    if not moments:
        ctx.fail(f"{url}: the entries carry no atom:{field}")
    target = moments[len(moments) // 2]
    low = _moment(target)
    high = low + timedelta(seconds=1)
    params = {f"{field}-min": low.isoformat(), f"{field}-max": high.isoformat()}
    window = get_tree(ctx, url, token, f"{field}-min/max", **params)
    got = xpath(window, f"/atom:feed/atom:entry/atom:{field}/text()")
    outside = [m for m in got if not low <= _moment(m) <= high]
    ctx.check(
        not outside,
        f"{field}-min={low.isoformat()}&{field}-max={high.isoformat()} "
        f"returned entries {field} {outside[:3]} outside the window",
    )
    ctx.check(
        any(_moment(m) == low for m in got),
        f"{field}-min={low.isoformat()} left out the entry {field} exactly then (min is inclusive)",
    )
    before = get_tree(ctx, url, token, f"{field}-max", **{f"{field}-max": low.isoformat()})
    late = [
        m for m in xpath(before, f"/atom:feed/atom:entry/atom:{field}/text()") if _moment(m) > low
    ]
    ctx.check(not late, f"{field}-max={low.isoformat()} returned later entries {late[:3]}")


@scenario(
    "ESPI-13",
    "published-min / published-max select entries by atom:published",
    references=("NAESB REQ.21 (ESPI) REST query parameters", "GBA openapi components/parameters"),
    group="resources",
    needs=("ESPI-01",),
)
def published_window(ctx: Context) -> None:
    _window(ctx, "published")


@scenario(
    "ESPI-14",
    "updated-min / updated-max select entries by atom:updated",
    references=("NAESB REQ.21 (ESPI) REST query parameters", "GBA openapi components/parameters"),
    group="resources",
    needs=("ESPI-01",),
)
def updated_window(ctx: Context) -> None:
    _window(ctx, "updated")


# ---- isolation and authentication ------------------------------------------------------------
def _refused(ctx: Context, url: str, token: str | None, who: str) -> None:
    response = ctx.fetch(url, token)
    leaked = b"http://naesb.org/espi" in response.content and response.status_code < 300
    ctx.check(
        response.status_code in DENIED and not leaked,
        f"{who} on {url} answered {response.status_code}"
        + (" with ESPI data" if leaked else "")
        + ": another party's resource must be refused (403 / 404), never served",
    )


def _targets(ctx: Context, grant: Grant) -> list[str]:
    """The resourceURI, the Subscription's UsagePoint feed and member of ``grant``."""
    urls = [u for u in (grant.resource_uri, grant.authorization_uri) if u]
    sub = grant.subscription_url
    if sub:
        feed = get_tree(ctx, f"{sub}/UsagePoint", grant.access_token, "UsagePoint collection")
        urls += [f"{sub}/UsagePoint"] + xpath(
            feed, "/atom:feed/atom:entry/atom:link[@rel='self']/@href"
        )[:1]
    return urls


@scenario(
    "ESPI-15",
    "A customer's token reads nothing of another customer",
    references=("NAESB REQ.21 (ESPI) access control", "RFC 6750 3.1", "concept design 7.3"),
    group="resources",
    needs=("OAUTH-01",),
)
def isolation_between_customers(ctx: Context) -> None:
    other = ctx.second_customer()
    mine = ctx.grant()
    theirs = ctx.grant(ctx.primary_client, other)
    for url in _targets(ctx, theirs):
        _refused(ctx, url, mine.access_token, f"{mine.customer.username}'s token")
    # the other customer's UsagePoint id under this customer's own Subscription
    if mine.subscription_url and theirs.subscription_url:
        feed = get_tree(
            ctx,
            f"{theirs.subscription_url}/UsagePoint",
            theirs.access_token,
            "UsagePoint collection",
        )
        for href in xpath(feed, "/atom:feed/atom:entry/atom:link[@rel='self']/@href")[:1]:
            swapped = f"{mine.subscription_url}/UsagePoint/{href.rstrip('/').rsplit('/', 1)[1]}"
            _refused(ctx, swapped, mine.access_token, f"{mine.customer.username}'s token")


@scenario(
    "ESPI-16",
    "One ASP's tokens read nothing of another ASP's grants",
    references=("NAESB REQ.21 (ESPI) access control", "RFC 6750 3.1", "concept design 7.3"),
    group="resources",
    needs=("OAUTH-01",),
)
def isolation_between_asps(ctx: Context) -> None:
    second = ctx.second_client()
    first = ctx.primary_client
    customer = ctx.primary_customer
    theirs = ctx.grant(first, customer)
    other = ctx.grant(second, customer)
    for url in _targets(ctx, theirs):
        _refused(ctx, url, other.access_token, f"{second.client_id}'s customer token")
    for url in _targets(ctx, other):
        _refused(ctx, url, theirs.access_token, f"{first.client_id}'s customer token")
    for holder, target in ((first, other), (second, theirs)):
        if not holder.confidential:
            ctx.note(f"{holder.client_id} is public: no client_credentials token to try")
            continue
        token = ctx.client_token(holder)
        for url in _targets(ctx, target):
            _refused(ctx, url, token, f"{holder.client_id}'s client_credentials token")


@scenario(
    "ESPI-17",
    "Without a token, or with a wrong one: 401 and WWW-Authenticate: Bearer",
    references=("RFC 6750 3", "RFC 6750 3.1 (invalid_token)", "RFC 7235 3.1"),
    group="resources",
    needs=("OAUTH-01",),
)
def unauthenticated(ctx: Context) -> None:
    grant = ctx.grant()
    if not grant.resource_uri:
        ctx.fail("the token response has no resourceURI")
    for token, what in ((None, "no token"), ("not-a-token-" + "x" * 20, "an unknown token")):
        response = ctx.fetch(grant.resource_uri, token)
        challenge = response.headers.get("WWW-Authenticate", "")
        ctx.check(
            response.status_code == 401,
            f"{what}: {response.status_code}, not 401 (RFC 6750 3)",
        )
        ctx.check(
            challenge.lower().startswith("bearer"),
            f"{what}: WWW-Authenticate {challenge!r} is not a Bearer challenge (RFC 6750 3)",
        )
        if token is not None:
            ctx.check(
                "invalid_token" in challenge,
                f'an unknown token: the challenge {challenge!r} lacks error="invalid_token" '
                "(RFC 6750 3.1)",
            )
