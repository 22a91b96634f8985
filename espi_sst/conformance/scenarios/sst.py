"""The SST scenarios of concept design section 8, step by step (Title 20 CCR 1623(c)(1)).

After the OAuth steps of 8.1-8.3 (the ``oauth`` group), an authorized ASP reads the
customer's RINs (8.4.1; (A): a bundled RIN, or an unbundled customer's delivery RIN and the
CCA's generation RIN, cached by the utility or referred to the CCA, 7.13.1), the rates the
customer may switch to ((B), RateInformation), the bill comparison (8.4.2; (C), as a
resource and in Appendix B's ``UsageSummary?SST=BillComparison`` form), asks for a rate
change the customer confirms with a one-time passcode (8.5.1, 7.15.1 Class 2; (D)),
asynchronously accepted or rejected by the utility (7.15.2), hears about it on its notify
URI (8.5.1's push messages; Appendix B Table 17), and ends the grant (7.10).

Each scenario runs only what the server offers (``scopes_supported``: an SST Phase 1
utility offers only ``sst:rin``) and says so when it skips.  Everything after SST-02 uses
the bundled (or another non-unbundled) customer, so a fault in the unbundled customer's
RINs fails SST-02 alone.  Rate changes leave the customer able to run the kit again: a
request the scenario does not carry to acceptance is withdrawn, and an accepted change
takes effect at the next billing cycle (7.15.2), not during the run.
"""

from __future__ import annotations

import time

import requests

from ...model import espi, sst
from ...rin import RinRole
from ...sst import usage_summary_generation_status, usage_summary_rins
from ..config import CustomerConfig
from ..context import Context, Grant
from ..errors import ScenarioFailed, ScenarioSkipped
from ..registry import scenario
from .sst_support import (
    SST_BILL_COMPARISON,
    SST_RATE_CHANGE,
    SST_RIN,
    Point,
    RateChangeCandidate,
    client_credentials_token,
    content_of,
    current_request,
    electric_points,
    fetch,
    granted,
    live_grant,
    offered,
    passcode_source_ready,
    rate_change_client,
    rate_change_in,
    rate_information,
    read,
    request_rate_change,
    summaries,
    wait_for_decision,
    withdraw,
)

GROUP = "sst"
NOT_UNBUNDLED = ("bundled", "other", "gas")
"""Customer kinds the scenarios after SST-02 may use, in order of preference."""


def _passcode_readable(ctx: Context, customer: CustomerConfig) -> bool:
    """Whether the kit can read this customer's passcode: a customer with a ``phone`` gets
    codes by text message (an SMS inbox page, or a person at the prompt), the others by
    e-mail (inbox page, IMAP or the prompt)."""
    codes = ctx.config.passcodes
    if customer.phone:
        return codes.mode == "prompt" or (codes.mode == "inbox" and bool(codes.sms_inbox_url))
    return codes.mode != "inbox" or bool(customer.email)


def _rin_grant(ctx: Context, customer: CustomerConfig) -> Grant:
    client = ctx.primary_client
    offered(ctx, SST_RIN, client)
    grant = live_grant(ctx, client, customer)
    granted(ctx, grant, SST_RIN)
    return grant


def _rins_of(ctx: Context, grant: Grant, point: Point) -> tuple[list[sst.ServedRin], object]:
    """The RIN elements and generationRinStatus of the newest UsageSummary carrying any."""
    found = summaries(ctx, grant, point)
    ctx.check(found, f"{point.url}: no UsageSummary (the RINs stand in one, Appendix B 11.4)")
    for summary in reversed(found):
        rins = usage_summary_rins(summary)
        status = usage_summary_generation_status(summary)
        if rins or status is not None:
            return rins, status
    ctx.fail(
        f"{point.resource('UsageSummary')}: no UsageSummary carries a RIN element "
        "(1623(c)(1)(A); Appendix B 11.4: bundledRin, or deliveryRin + generationRin)"
    )


@scenario(
    "SST-01",
    "A bundled customer's UsageSummary carries one valid bundled RIN",
    references=(
        "Title 20 CCR 1623(c)(1)(A)",
        "concept design 7.13, 8.4.1",
        "concept design Appendix B 11.4 (bundledRin in UsageSummary)",
        "docs/sst-extension.md RIN elements",
    ),
    group=GROUP,
)
def bundled_rin(ctx: Context) -> None:
    customer = ctx.customer_of_kind("bundled")
    grant = _rin_grant(ctx, customer)
    for point in electric_points(ctx, grant):
        rins, status = _rins_of(ctx, grant, point)
        kinds = sorted({type(r).__name__ for r in rins})
        ctx.check(
            len(rins) == 1 and isinstance(rins[0], sst.BundledRin),
            f"{point.url}: a bundled customer's summary carries {kinds or 'no RIN'}; it takes "
            "exactly one bundledRin (concept design 7.13.1 Table 12)",
        )
        ctx.check(status is None, f"{point.url}: generationRinStatus on a bundled service")
        rin = rins[0].value
        ctx.check(
            rin is not None and rin.role is RinRole.BUNDLED,
            f"{point.url}: bundledRin {rin} is not a bundled RIN (both companies named)",
        )
        ctx.note(f"{point.url}: bundledRin {rin}")


@scenario(
    "SST-02",
    "An unbundled customer's UsageSummary carries the UDC's delivery RIN and the CCA's "
    "generation RIN, or says which CCA to ask",
    references=(
        "Title 20 CCR 1623(c)(1)(A)",
        "concept design 7.13.1 Table 12, 7.13.1.1 (cached CCA RIN), 7.13.1.2 (non-cached)",
        "concept design 8.4.1",
        "docs/sst-extension.md RIN elements, generationRinStatus",
    ),
    group=GROUP,
)
def unbundled_rins(ctx: Context) -> None:
    customer = ctx.customer_of_kind("unbundled")
    grant = _rin_grant(ctx, customer)
    for point in electric_points(ctx, grant):
        rins, status = _rins_of(ctx, grant, point)
        delivery = [r for r in rins if isinstance(r, sst.DeliveryRin)]
        generation = [r for r in rins if isinstance(r, sst.GenerationRin)]
        bundled = [r for r in rins if isinstance(r, sst.BundledRin)]
        ctx.check(not bundled, f"{point.url}: an unbundled customer's summary has a bundledRin")
        ctx.check(
            len(delivery) == 1,
            f"{point.url}: {len(delivery)} deliveryRin; an unbundled customer has exactly "
            "one, the UDC's (Table 12)",
        )
        rin = delivery[0].value
        ctx.check(
            rin is not None and rin.role is RinRole.DELIVERY and delivery[0].udc,
            f"{point.url}: deliveryRin {rin} must be a delivery RIN naming its UDC",
        )
        ctx.note(f"{point.url}: deliveryRin {rin} (UDC {delivery[0].udc})")
        if generation:
            ctx.check(len(generation) == 1, f"{point.url}: {len(generation)} generationRin")
            ctx.check(status is None, f"{point.url}: generationRin and generationRinStatus both")
            cca = generation[0]
            ctx.check(
                cca.value is not None and cca.value.role is RinRole.GENERATION and cca.lse,
                f"{point.url}: generationRin {cca.value} must be a generation RIN naming its CCA",
            )
            ctx.note(f"cached CCA RIN (7.13.1.1): generationRin {cca.value} (LSE {cca.lse})")
            continue
        ctx.check(
            isinstance(status, sst.GenerationRinStatus),
            f"{point.url}: no generationRin and no generationRinStatus saying whom to ask "
            "(7.13.1.2: a utility that does not cache the CCA's RIN refers the ASP)",
        )
        assert isinstance(status, sst.GenerationRinStatus)
        ctx.check(
            str(status.refer_to or "").startswith(("https://", "http://")),
            f"{point.url}: generationRinStatus referTo {status.refer_to!r} is not a URL",
        )
        ctx.note(
            f"non-cached CCA RIN (7.13.1.2): ask {status.lse} ({status.lse_name or ''}) at "
            f"{status.refer_to}"
        )


def _plain_customer(ctx: Context) -> CustomerConfig:
    """The bundled customer, else another that is not unbundled (the SST-03.. customer)."""
    for kind in NOT_UNBUNDLED:
        found = ctx.config.customer(kind)
        if found is not None:
            return found
    ctx.skip("CONFIG lists no bundled (or other, not unbundled) customer")


def _first_point(ctx: Context, grant: Grant) -> Point:
    return electric_points(ctx, grant)[0]


@scenario(
    "SST-03",
    "RateInformation gives the current rate's RIN (as in UsageSummary) and every eligible "
    "rate's RIN",
    references=(
        "Title 20 CCR 1623(c)(1)(A), (B)",
        "concept design 7.14 (rate comparison), 8.4.2",
        "docs/sst-extension.md RateInformation",
    ),
    group=GROUP,
)
def eligible_rates(ctx: Context) -> None:
    customer = _plain_customer(ctx)
    grant = _rin_grant(ctx, customer)
    point = _first_point(ctx, grant)
    info = rate_information(ctx, grant, point)
    ctx.check(info.current_rate, f"{point.url}: RateInformation has no currentRate")
    rins, _status = _rins_of(ctx, grant, point)
    summary_rins = {str(r.value) for r in rins}
    current = {str(r) for r in info.rins}
    ctx.check(
        summary_rins <= current,
        f"{point.url}: UsageSummary's RIN(s) {sorted(summary_rins)} are not RateInformation's "
        f"currentRate {sorted(current)}",
    )
    for rate in info.eligible_rate:
        ctx.check(
            rate.rin is not None and rate.tariff_code and rate.name,
            f"{point.url}: an eligibleRate lacks its RIN, tariff code or name",
        )
    names = ", ".join(f"{r.tariff_code} {r.rin}" for r in info.eligible_rate)
    ctx.note(f"current {sorted(current)}; {len(info.eligible_rate)} eligible: {names}")


def _bill_grant(ctx: Context) -> tuple[Grant, Point]:
    client = ctx.primary_client
    offered(ctx, SST_BILL_COMPARISON, client)
    grant = live_grant(ctx, client, _plain_customer(ctx))
    granted(ctx, grant, SST_BILL_COMPARISON)
    return grant, _first_point(ctx, grant)


def _comparison(
    ctx: Context, grant: Grant, url: str, params: dict[str, str] | None = None
) -> sst.BillComparison:
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    what = f"GET {url}" + (f"?{query}" if query else "")
    document = read(ctx, fetch(ctx, url, grant.access_token, params=params), what)
    found = content_of(document, sst.BillComparison)
    ctx.check(found, f"{what}: no BillComparison in the answer")
    comparison: sst.BillComparison = found[0]
    return comparison


@scenario(
    "SST-04",
    "BillComparison estimates a year's bill under the current and each eligible rate",
    references=(
        "Title 20 CCR 1623(c)(1)(C)",
        "concept design 7.14 (Table 13; one billing cycle), 8.4.2",
        "docs/sst-extension.md BillComparison",
    ),
    group=GROUP,
)
def bill_comparison(ctx: Context) -> None:
    grant, point = _bill_grant(ctx)
    comparison = _comparison(ctx, grant, point.resource("BillComparison"))
    if comparison.status is not sst.ComparisonStatus.available:
        ctx.note(f"status {comparison.status}: {comparison.status_message or ''} (no estimates)")
        return
    info = rate_information(ctx, grant, point)
    known = {str(r) for r in info.rins} | {str(r.rin) for r in info.eligible_rate}
    current = comparison.current
    ctx.check(
        current is not None and str(current.rin) in {str(r) for r in info.rins},
        f"{point.url}: the estimate marked current ({current and current.rin}) is not the "
        "current rate of RateInformation",
    )
    for estimate in comparison.rate_estimate:
        ctx.check(
            str(estimate.rin) in known,
            f"{point.url}: an estimate for {estimate.rin}, which is neither the current nor an "
            "eligible rate (1623(c)(1)(C): bills for the eligible rates)",
        )
    ctx.note(
        "; ".join(
            f"{e.tariff_code}: {e.annual_cost_amount:.2f}/year" for e in comparison.rate_estimate
        )
    )


@scenario(
    "SST-05",
    "UsageSummary?SST=BillComparison gives the same comparison as the BillComparison resource",
    references=("concept design Appendix B 11.5", "Title 20 CCR 1623(c)(1)(C)"),
    group=GROUP,
)
def bill_comparison_in_summary_form(ctx: Context) -> None:
    grant, point = _bill_grant(ctx)
    resource = _comparison(ctx, grant, point.resource("BillComparison"))
    url = point.resource("UsageSummary")
    document = read(ctx, fetch(ctx, url, grant.access_token), f"GET {url}")
    ids = [e.self_href for e in document.entries if e.self_href and "/UsageSummary/" in e.self_href]
    ctx.check(ids, f"GET {url}: no UsageSummary entry with a self link")
    forms = {
        "UsageSummary/{id}?SST=BillComparison": ids[-1],  # Appendix B 11.5, literally
        "UsageSummary?SST=BillComparison": url,
    }
    for name, target in forms.items():
        other = _comparison(ctx, grant, target, {"SST": "BillComparison"})

        def shape(found: sst.BillComparison) -> object:
            return (
                found.status,
                found.computed_at,
                sorted((str(e.rin), e.estimated_annual_cost) for e in found.rate_estimate),
            )

        ctx.check(
            shape(other) == shape(resource),
            f"{name} gives {shape(other)}, the BillComparison resource {shape(resource)}",
        )


# ---- rate change ---------------------------------------------------------------------------
def _rate_grant(ctx: Context, customer: CustomerConfig) -> Grant:
    client = rate_change_client(ctx)
    offered(ctx, SST_RATE_CHANGE, client)
    grant = live_grant(ctx, client, customer)
    granted(ctx, grant, SST_RATE_CHANGE)
    return grant


def _candidates(ctx: Context) -> list[RateChangeCandidate]:
    """Service agreements with a rate the server says they may change to now.

    CONFIG's ``rate_change_rin`` first (that customer's choice), then the RateInformation
    of each customer that is not unbundled (``availability/selectableNow``); kept for the
    run (SST-06 takes the first, SST-07 the last: one passcode e-mail per service
    agreement per run, under the utility's per-agreement limits)."""
    known = ctx.shared.get("sst_rate_change_candidates")
    if isinstance(known, list):
        return known
    chosen = [c for c in ctx.config.customers if c.rate_change_rin]
    chosen += [
        c
        for kind in NOT_UNBUNDLED
        for c in ctx.config.customers
        if c.kind == kind and not c.rate_change_rin
    ]
    chosen = [c for c in chosen if _passcode_readable(ctx, c)]
    found: list[RateChangeCandidate] = []
    for customer in chosen:
        grant = _rate_grant(ctx, customer)
        for point in electric_points(ctx, grant):
            info = rate_information(ctx, grant, point)
            for rate in info.eligible_rate:
                if customer.rate_change_rin:
                    fits = str(rate.rin) == customer.rate_change_rin
                else:
                    fits = rate.availability is not None and bool(rate.availability.selectable_now)
                if fits:
                    found.append(RateChangeCandidate(customer, point, rate))
                    break
            else:
                continue
            break
    ctx.shared["sst_rate_change_candidates"] = found
    return found


def _remember_request(ctx: Context, grant: Grant, url: str, moment: float) -> None:
    """For SST-08: the rate changes this run made, to look for in the ASP's notifications."""
    made = ctx.shared.setdefault("sst_rate_change_requests", [])
    made.append((grant.client.client_id, url, moment))


@scenario(
    "SST-06",
    "A rate change confirmed with the customer's e-mailed passcode is accepted by the "
    "utility (asynchronously) with its effective date",
    references=(
        "Title 20 CCR 1623(c)(1)(D)",
        "concept design 7.15.1 (Class 2: out-of-band passcode), 7.15.2 (asynchronous), 8.5.1",
        "docs/sst-extension.md RateChangeRequest",
    ),
    group=GROUP,
)
def rate_change_accepted(ctx: Context) -> None:
    offered(ctx, SST_RATE_CHANGE, rate_change_client(ctx))
    candidates = _candidates(ctx)
    if not candidates:
        ctx.skip(
            "no customer in CONFIG has a rate RateInformation says is selectable now "
            "(availability/selectableNow), and none names a rate_change_rin"
        )
    chosen = candidates[0]
    customer, point, target = chosen.customer, chosen.point, chosen.target
    grant = _rate_grant(ctx, customer)
    known = passcode_source_ready(ctx, customer)
    moment = time.time()
    answer = request_rate_change(ctx, grant, point, target)
    if answer.status_code == 429:
        ctx.skip(
            f"the utility's rate-change limit for {customer.username} is reached (429, "
            f"Retry-After {answer.headers.get('Retry-After')}): run again later"
        )
    created = rate_change_in(ctx, answer, f"POST {point.resource('RateChangeRequest')}")
    location = answer.headers.get("Location")
    ctx.check(location, "the accepted rate change request has no Location header")
    assert location is not None
    _remember_request(ctx, grant, location, moment)
    ctx.check(
        str(created.target_rin) == str(target.rin),
        f"the request's targetRin {created.target_rin} is not the one asked for ({target.rin})",
    )
    ctx.check(
        created.status is sst.RateChangeStatus.awaitingConfirmation,
        f"a new request is {created.status}, not awaitingConfirmation (7.15.1: the customer "
        "confirms first)",
    )
    try:
        code = ctx.passcodes.wait_for_new(customer, known)
    except (ScenarioFailed, ScenarioSkipped):
        withdraw(ctx, grant, location)
        raise
    ctx.note(f"{customer.username} to {target.tariff_code} ({target.rin}); passcode received")
    confirmed = rate_change_in(
        ctx,
        fetch(
            ctx, f"{location}/Confirmation", grant.access_token, method="POST", json={"code": code}
        ),
        f"POST {location}/Confirmation",
    )
    ctx.check(
        confirmed.status is not sst.RateChangeStatus.awaitingConfirmation,
        "the right passcode left the request awaitingConfirmation",
    )
    decided = wait_for_decision(ctx, grant, location, max(ctx.config.timeout, 30.0))
    ctx.check(
        decided.status is sst.RateChangeStatus.accepted,
        f"the utility decided {decided.status} ({decided.rejection_reason}: "
        f"{decided.rejection_message}) on a rate its RateInformation called selectable now",
    )
    ctx.check(
        decided.effective_date is not None
        and decided.requested_at is not None
        and decided.effective_date >= decided.requested_at,
        f"the accepted request's effectiveDate {decided.effective_date} precedes the request",
    )
    ctx.note(
        f"accepted, effective {time.strftime('%Y-%m-%d', time.gmtime(decided.effective_date or 0))}"
    )


def _ineligible_target(info: sst.RateInformation) -> tuple[sst.EligibleRate, str | None]:
    """A rate the server says is not selectable now (with its reason), else the current rate."""
    for rate in info.eligible_rate:
        if rate.availability is not None and rate.availability.selectable_now is False:
            reason = rate.availability.reason
            return rate, reason.value if reason is not None else None
    current = info.current_rate[0]
    as_target = sst.EligibleRate(
        rin=current.rin,
        tariff_code=current.tariff_code,
        name=current.tariff_name or current.tariff_code,
        role=current.role,
        lse=current.lse or "unknown",
    )
    return as_target, sst.RejectionReason.alreadyOnRate.value


@scenario(
    "SST-07",
    "A rate change to a rate the customer cannot take is refused, and a wrong passcode is "
    "refused with tries left",
    references=(
        "Title 20 CCR 1623(c)(1)(D)",
        "concept design 7.15 (eligibility is not acceptance), 7.15.1 (Class 2)",
        "docs/sst-rules.md (ineligible targets refused before any passcode)",
    ),
    group=GROUP,
)
def rate_change_refused(ctx: Context) -> None:
    client = rate_change_client(ctx)
    offered(ctx, SST_RATE_CHANGE, client)
    # 1. an ineligible target: the bundled (or plain) customer's
    customer = _plain_customer(ctx)
    grant = _rate_grant(ctx, customer)
    point = _first_point(ctx, grant)
    target, expected = _ineligible_target(rate_information(ctx, grant, point))
    before = set() if ctx.config.passcodes.mode == "none" else ctx.passcodes.present(customer)
    answer = request_rate_change(ctx, grant, point, target)
    if 200 <= answer.status_code < 300:
        _must_end_rejected(ctx, grant, customer, answer, before)
    else:
        ctx.check(
            answer.status_code in (400, 403, 409, 422),
            f"a request for {target.rin} (not selectable: {expected}) answered "
            f"{answer.status_code}, not a refusal (409)",
        )
        stated = _json(answer).get("rejection_reason")
        ctx.check(
            stated is None or expected is None or stated == expected,
            f"RateInformation said {target.rin} is not selectable because {expected}; the "
            f"refusal says {stated}",
        )
        ctx.note(f"{customer.username} to {target.rin}: {answer.status_code} ({stated or ''})")
    # 2. a wrong passcode, on another service agreement than SST-06's when there is one
    candidates = _candidates(ctx)
    if not candidates:
        ctx.note("no service agreement with a selectable rate: the wrong-passcode path skipped")
        return
    chosen = candidates[-1]
    grant = _rate_grant(ctx, chosen.customer)
    known = passcode_source_ready(ctx, chosen.customer)
    moment = time.time()
    answer = request_rate_change(ctx, grant, chosen.point, chosen.target)
    if answer.status_code == 429:
        ctx.skip(
            f"the utility's rate-change limit for {chosen.customer.username} is reached (429): "
            "run again later"
        )
    rate_change_in(ctx, answer, f"POST {chosen.point.resource('RateChangeRequest')}")
    location = answer.headers.get("Location")
    ctx.check(location, "the accepted rate change request has no Location header")
    assert location is not None
    _remember_request(ctx, grant, location, moment)
    try:
        code = ctx.passcodes.wait_for_new(chosen.customer, known)
        wrong = code[:-1] + str((int(code[-1]) + 1) % 10) if code[-1:].isdigit() else code + "0"
        refused = fetch(
            ctx, f"{location}/Confirmation", grant.access_token, method="POST", json={"code": wrong}
        )
        ctx.check(
            400 <= refused.status_code < 500,
            f"a wrong passcode answered {refused.status_code}, not a refusal",
        )
        left = _json(refused).get("attempts_left")
        ctx.note(f"wrong passcode: {refused.status_code}, attempts left {left}")
        after = current_request(ctx, grant, location)
        ctx.check(
            after.status is sst.RateChangeStatus.awaitingConfirmation,
            f"after one wrong passcode the request is {after.status}; the customer has tries "
            "left (awaitingConfirmation)",
        )
    finally:
        withdraw(ctx, grant, location)


def _json(response: requests.Response) -> dict[str, str]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _must_end_rejected(
    ctx: Context,
    grant: Grant,
    customer: CustomerConfig,
    answer: requests.Response,
    known: set[str],
) -> None:
    """A server that takes the request (7.15.2: asynchronous) must reject it once confirmed;
    ``known``: the passcodes there before the request."""
    location = answer.headers.get("Location")
    ctx.check(location, "the server took the ineligible request but sent no Location")
    assert location is not None
    found = current_request(ctx, grant, location)
    if found.status is sst.RateChangeStatus.awaitingConfirmation:
        if ctx.config.passcodes.mode == "none":
            withdraw(ctx, grant, location)
            ctx.skip(
                "the server took a request for an ineligible rate to decide later, and CONFIG "
                "names no passcode source to confirm it with"
            )
        code = ctx.passcodes.wait_for_new(customer, known)
        fetch(
            ctx, f"{location}/Confirmation", grant.access_token, method="POST", json={"code": code}
        )
    decided = wait_for_decision(ctx, grant, location, max(ctx.config.timeout, 30.0))
    ctx.check(
        decided.status is sst.RateChangeStatus.rejected and decided.rejection_reason,
        f"a request for a rate the customer cannot take ended {decided.status}, not rejected "
        "with its reason",
    )


# ---- notifications and revocation ---------------------------------------------------------
@scenario(
    "SST-08",
    "The ASP is notified (ESPI BatchList) of a new authorization and of its rate changes",
    references=(
        "concept design 8.5.1 (push messages), 7.5, Appendix B Table 17",
        "NAESB REQ.21 (ESPI) FB 39 BatchList notification",
    ),
    group=GROUP,
)
def notifications(ctx: Context) -> None:
    client = next((c for c in ctx.config.clients if c.notify_listen), None)
    if client is None:
        ctx.skip(
            "CONFIG gives no client a notify_listen (where the kit receives the BatchLists "
            "the server POSTs to the client's registered notify URI)"
        )
    listener = ctx.listeners.get(client.client_id)
    if listener is None:
        ctx.skip(f"the kit could not listen at {client.notify_listen} (another process holds it)")
    customer = _plain_customer(ctx)
    moment = time.time()
    grant = ctx.new_grant(client, customer)
    ctx.forget_grant(grant)  # the new consent replaced the run's shared grant (7.4)
    authorization = grant.authorization_uri
    ctx.check(authorization, "the token response names no authorizationURI")
    bound = max(ctx.config.timeout, 30.0)
    ctx.wait_until(
        lambda: authorization in listener.urls_since(moment),
        bound,
        f"a BatchList naming the new authorization {authorization}",
    )
    ctx.note(f"BatchList named {authorization}")
    made = [m for m in ctx.shared.get("sst_rate_change_requests", []) if m[0] == client.client_id]
    if not made:
        ctx.note("no rate change was made this run by this client: only the grant's checked")
    for _client_id, url, at in made:
        ctx.wait_until(
            lambda url=url, at=at: url in listener.urls_since(at),  # type: ignore[misc]
            bound,
            f"a BatchList naming the rate change {url}",
        )
        ctx.note(f"BatchList named {url}")


@scenario(
    "SST-09",
    "Revocation by the ASP ends the grant: its tokens are refused and its Authorization "
    "says revoked",
    references=(
        "RFC 7009 2.1",
        "concept design 7.10 (offboarding), 7.4",
        "NAESB REQ.21 (ESPI) Authorization status",
    ),
    group=GROUP,
)
def revocation(ctx: Context) -> None:
    endpoint = ctx.endpoint("revocation_endpoint")
    client = ctx.primary_client
    customer = _plain_customer(ctx)
    grant = ctx.new_grant(client, customer)
    ctx.forget_grant(grant)  # replaced the run's shared grant; revoked below
    ctx.check(grant.refresh_token, "the token response has no refresh_token to revoke")
    assert grant.refresh_token is not None and grant.subscription_url is not None
    data = {"token": grant.refresh_token, "token_type_hint": "refresh_token"}
    answer = ctx.http.post(endpoint, **ctx.client_auth(client, data))
    ctx.check(answer.status_code == 200, f"the revocation answered {answer.status_code}")
    after = fetch(ctx, f"{grant.subscription_url}/UsagePoint", grant.access_token)
    ctx.check(
        after.status_code == 401,
        f"the revoked grant's access token still answers {after.status_code} (RFC 7009 2.1; "
        "7.10: revocation ends the grant)",
    )
    refresh = ctx.token_request(
        client, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    )
    ctx.check(
        refresh.status_code in (400, 401),
        f"the revoked refresh token still answers {refresh.status_code} at the token endpoint",
    )
    if not client.confidential or not grant.authorization_uri:
        ctx.note("no client_credentials token or no authorizationURI: status not read")
        return
    token = client_credentials_token(ctx, client)
    document = read(
        ctx, fetch(ctx, grant.authorization_uri, token), f"GET {grant.authorization_uri}"
    )
    found = content_of(document, espi.Authorization)
    ctx.check(found, f"GET {grant.authorization_uri}: no Authorization")
    status = found[0].status
    ctx.check(
        status is not None and int(status) == 0,
        f"the revoked grant's Authorization has status {status}, not 0 (revoked)",
    )
    ctx.note(f"{grant.authorization_uri}: status 0 (revoked)")
