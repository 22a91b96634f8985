"""The typed SST resources (:mod:`espi_sst.model.sst`) refuse bad data when built.

Protects the promise of the SST extension that a utility's server (or an ASP's code) cannot
hand out a rate answer that breaks 1623(c)(1)(A)-(D) or the concept design's rules: a
missing required field, an unknown status, a RIN of the wrong role, a bill comparison from
less than 12 months of usage or valid longer than one billing cycle, a rejection without a
reason.  Each is refused with :class:`espi_sst.ValidationError` whose message names the
field to fix, and well-formed objects construct without complaint.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from lxml import etree

from espi_sst import Rin, ValidationError
from espi_sst.model.enums import Currency
from espi_sst.model.espi import DateTimeInterval
from espi_sst.model.sst import (
    BillComparison,
    BundledRin,
    ComparisonStatus,
    CurrentRate,
    DeliveryRin,
    EligibleRate,
    EstimateBasis,
    GenerationRin,
    GenerationRinAvailability,
    GenerationRinStatus,
    RateChangeRequest,
    RateChangeStatus,
    RateEstimate,
    RateInformation,
    RejectionReason,
    Role,
)
from espi_sst.validation import schema_dir

BUNDLED = Rin.parse("USCA-PGPG-0505-0000")
BUNDLED_EV = Rin.parse("USCA-PGPG-0510-0000")
DELIVERY = Rin.parse("USCA-PGXX-0100-0000")
GENERATION = Rin.parse("USCA-XXPE-0440-0000")
DAY = 86400
COMPUTED_AT = 1763625600  # 2025-11-20T08:00:00Z
XS = "{http://www.w3.org/2001/XMLSchema}"


# ---- valid objects, one factory per class ------------------------------------------------
def bundled_rin(**over: Any) -> BundledRin:
    return BundledRin(**{"value": BUNDLED, "lse": "PGE", **over})


def delivery_rin(**over: Any) -> DeliveryRin:
    return DeliveryRin(**{"value": DELIVERY, "udc": "PGE", **over})


def generation_rin(**over: Any) -> GenerationRin:
    return GenerationRin(**{"value": GENERATION, "lse": "PCE", **over})


def current_rate(**over: Any) -> CurrentRate:
    values = {
        "rin": BUNDLED,
        "role": Role.bundled,
        "lse": "PGE",
        "tariff_code": "E-ELEC",
        "effective_date": 1735718400,
    }
    return CurrentRate(**{**values, **over})


def generation_rin_status(**over: Any) -> GenerationRinStatus:
    values = {
        "availability": GenerationRinAvailability.notAvailableHere,
        "lse": "CPA",
        "refer_to": "https://sst.example.org/SST/v1/CPA/",
    }
    return GenerationRinStatus(**{**values, **over})


def eligible_rate(**over: Any) -> EligibleRate:
    values = {
        "rin": BUNDLED_EV,
        "tariff_code": "EV2-A",
        "name": "Home Charging EV2-A",
        "role": Role.bundled,
        "lse": "PGE",
    }
    return EligibleRate(**{**values, **over})


def rate_information(**over: Any) -> RateInformation:
    return RateInformation(
        **{"current_rate": [current_rate()], "eligible_rate": [eligible_rate()], **over}
    )


def rate_estimate(**over: Any) -> RateEstimate:
    values = {
        "rin": BUNDLED,
        "tariff_code": "E-ELEC",
        "estimated_annual_cost": 198450000,
        "average_monthly_cost": 16537500,
        "savings_versus_current": 0,
        "is_current": True,
        "basis": EstimateBasis.utilityTool,
    }
    return RateEstimate(**{**values, **over})


def twelve_months_before(end: datetime) -> datetime:
    return end.replace(year=end.year - 1)


def period(start: datetime, end: datetime) -> DateTimeInterval:
    return DateTimeInterval(
        start=int(start.timestamp()), duration=int((end - start).total_seconds())
    )


def bill_comparison(**over: Any) -> BillComparison:
    end = datetime.fromtimestamp(COMPUTED_AT, UTC)
    values = {
        "status": ComparisonStatus.available,
        "usage_period": period(twelve_months_before(end), end),
        "computed_at": COMPUTED_AT,
        "valid_until": COMPUTED_AT + 30 * DAY,
        "currency": Currency.USD,
        "rate_estimate": [
            rate_estimate(),
            rate_estimate(
                rin=BUNDLED_EV,
                tariff_code="EV2-A",
                savings_versus_current=11325000,
                is_current=False,
            ),
        ],
    }
    return BillComparison(**{**values, **over})


def rate_change_request(**over: Any) -> RateChangeRequest:
    values = {
        "target_rin": BUNDLED_EV,
        "target_tariff_code": "EV2-A",
        "requested_at": 1763629200,
        "updated_at": 1763632800,
        "status": RateChangeStatus.submitted,
    }
    return RateChangeRequest(**{**values, **over})


FACTORIES: dict[str, Callable[..., Any]] = {
    "BundledRin": bundled_rin,
    "DeliveryRin": delivery_rin,
    "GenerationRin": generation_rin,
    "CurrentRate": current_rate,
    "GenerationRinStatus": generation_rin_status,
    "EligibleRate": eligible_rate,
    "RateInformation": rate_information,
    "RateEstimate": rate_estimate,
    "BillComparison": bill_comparison,
    "RateChangeRequest": rate_change_request,
}


def rejected(build: Callable[..., Any], **over: Any) -> str:
    """Build with ``over`` and return the ValidationError's message (failing if none)."""
    with pytest.raises(ValidationError) as info:
        build(**over)
    assert info.value.code == "invalid_sst"
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize("name", FACTORIES)
def test_valid_objects_construct(name: str) -> None:
    """Well-formed SST data is accepted as is (the factories here are the baseline every
    refusal below departs from by one field)."""
    obj = FACTORIES[name]()
    assert type(obj).__name__ == name


# ---- required fields, derived from the schema --------------------------------------------
def snake(name: str) -> str:
    """Model fields are snake_case of the XML name (house style, section 3)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def field_for(type_name: str, element: Any) -> str:
    """The model field of a schema element: by its XML name (the RIN elements' ``<rin>`` is
    ``value``), else the snake_case of the name."""
    name = element.get("name")
    for f in dataclasses.fields(type(FACTORIES[type_name]())):
        xml = f.metadata.get("xml")
        if xml is not None and xml.kind == "element" and xml.name == name:
            return f.name
    return snake(name)


def required_by_schema() -> list[tuple[str, str, str]]:
    """(complexType, XML name, model field) of every required element or attribute of the
    SST types, read from espi-sst.xsd; a simpleContent type's value counts as ``value``."""
    tree = etree.parse(str(schema_dir() / "espi-sst.xsd"))
    rows = []
    for complex_type in tree.getroot().iter(f"{XS}complexType"):
        type_name = complex_type.get("name")
        if type_name not in FACTORIES:
            continue
        if complex_type.find(f"{XS}simpleContent") is not None:
            rows.append((type_name, "value", "value"))
        for element in complex_type.iter(f"{XS}element"):
            if element.get("minOccurs", "1") != "0":
                rows.append((type_name, element.get("name"), field_for(type_name, element)))
        for attribute in complex_type.iter(f"{XS}attribute"):
            if attribute.get("use") == "required":
                rows.append((type_name, attribute.get("name"), attribute.get("name")))
    return rows


REQUIRED = required_by_schema()


def test_schema_lists_the_expected_required_fields() -> None:
    """Guard for the derivation below: every SST class has required fields to test."""
    assert {row[0] for row in REQUIRED} == set(FACTORIES)
    assert ("RateChangeRequest", "targetRin", "target_rin") in REQUIRED
    assert ("DeliveryRin", "udc", "udc") in REQUIRED
    assert ("EligibleRate", "iouMirror", "iou_mirror") in REQUIRED


@pytest.mark.parametrize(
    "type_name, xml_name, attr", REQUIRED, ids=[f"{r[0]}.{r[1]}" for r in REQUIRED]
)
def test_missing_required_field_is_refused_naming_it(
    type_name: str, xml_name: str, attr: str
) -> None:
    """Every element or attribute the schema requires is required when built in code too,
    and the message names it by its XML name."""
    build = FACTORIES[type_name]
    empty: Any = [] if isinstance(getattr(build(), attr), list) else None
    message = rejected(build, **{attr: empty})
    assert f"{xml_name} is required" in message
    assert message.startswith(f"{type_name}:")


# ---- enumerations ------------------------------------------------------------------------
ENUM_FIELDS = [
    (current_rate, "role", "role"),
    (eligible_rate, "role", "role"),
    (generation_rin_status, "availability", "availability"),
    (rate_estimate, "basis", "basis"),
    (bill_comparison, "status", "status"),
    (rate_change_request, "status", "status"),
    (
        lambda **o: rate_change_request(status=RateChangeStatus.rejected, **o),
        "rejection_reason",
        "rejectionReason",
    ),
]


@pytest.mark.parametrize(
    "build, attr, xml_name",
    ENUM_FIELDS,
    ids=[
        "current_rate",
        "eligible_rate",
        "generation_rin_status",
        "rate_estimate",
        "bill_comparison",
        "rate_change_request",
        "rejection_reason",
    ],
)
def test_unknown_enumeration_text_is_refused_naming_the_field(
    build: Callable[..., Any], attr: str, xml_name: str
) -> None:
    """A status or role the schema does not define never gets into a document."""
    message = rejected(build, **{attr: "pending"})
    assert f"{xml_name} 'pending' is not one of" in message


@pytest.mark.parametrize(
    "schema_name, enum",
    [
        ("RinRole", Role),
        ("GenerationRinAvailability", GenerationRinAvailability),
        ("ComparisonStatus", ComparisonStatus),
        ("EstimateBasis", EstimateBasis),
        ("RateChangeStatus", RateChangeStatus),
        ("RejectionReason", RejectionReason),
    ],
)
def test_model_enumerations_match_the_schema(schema_name: str, enum: type) -> None:
    """The model accepts exactly the codes espi-sst.xsd accepts (no more, no fewer)."""
    tree = etree.parse(str(schema_dir() / "espi-sst.xsd"))
    simple = tree.find(f"{XS}simpleType[@name='{schema_name}']")
    assert simple is not None
    in_schema = {e.get("value") for e in simple.iter(f"{XS}enumeration")}
    assert in_schema == {member.value for member in enum}  # type: ignore[attr-defined]


def test_known_code_given_as_plain_text_is_not_called_unknown() -> None:
    """Code that passes the schema word instead of the enum member gets either the member
    or a message that says what to pass, never one claiming the word is unknown."""
    try:
        rate = current_rate(rin=DELIVERY, role="delivery")
    except ValidationError as exc:
        assert "'delivery' is not one of" not in str(exc), str(exc)
    else:
        assert rate.role is Role.delivery


# ---- RIN typing and roles ------------------------------------------------------------------
def test_rin_given_as_text_is_refused_naming_the_field() -> None:
    """A RIN must be a parsed Rin (so it was checked); text is refused with the hint."""
    message = rejected(current_rate, rin="USCA-PGPG-0505-0000")
    assert "rin must be a Rin" in message and "Rin.parse" in message
    message = rejected(rate_change_request, target_rin="USCA-PGPG-0510-0000")
    assert "targetRin must be a Rin" in message


def test_served_rin_given_as_text_names_the_value() -> None:
    """The RIN elements of a UsageSummary name the field at fault too."""
    try:
        bundled_rin(value="USCA-PGPG-0505-0000")
    except ValidationError as exc:
        assert "rin must be a Rin" in str(exc), str(exc)  # the <rin> element


SERVED = [
    (bundled_rin, "bundledRin", "bundled", DELIVERY, "delivery"),
    (bundled_rin, "bundledRin", "bundled", GENERATION, "generation"),
    (delivery_rin, "deliveryRin", "delivery", BUNDLED, "bundled"),
    (delivery_rin, "deliveryRin", "delivery", GENERATION, "generation"),
    (generation_rin, "generationRin", "generation", BUNDLED, "bundled"),
    (generation_rin, "generationRin", "generation", DELIVERY, "delivery"),
]


@pytest.mark.parametrize(
    "build, element, wanted, rin, actual", SERVED, ids=[f"{s[1]}-with-{s[4]}" for s in SERVED]
)
def test_rin_element_refuses_a_rin_of_another_role(
    build: Callable[..., Any], element: str, wanted: str, rin: Rin, actual: str
) -> None:
    """A delivery RIN labelled as the customer's bundled rate (and every other mix-up) would
    send a device the wrong prices; it is refused, naming both roles."""
    message = rejected(build, value=rin)
    assert f"{rin} is a {actual} RIN" in message
    assert f"<{element}> takes a {wanted} RIN" in message


ROLE_MISMATCH = [
    (BUNDLED, Role.delivery),
    (DELIVERY, Role.bundled),
    (GENERATION, Role.delivery),
    (DELIVERY, Role.generation),
]


@pytest.mark.parametrize(
    "rin, role", ROLE_MISMATCH, ids=[f"{r}-as-{o.value}" for r, o in ROLE_MISMATCH]
)
@pytest.mark.parametrize(
    "build, label", [(current_rate, "currentRate"), (eligible_rate, "eligibleRate")]
)
def test_rate_role_must_match_its_rin(
    build: Callable[..., Any], label: str, rin: Rin, role: Role
) -> None:
    """The role stated next to a RIN must be the role the RIN itself encodes."""
    message = rejected(build, rin=rin, role=role)
    assert f"{label} {rin} is a {rin.role} RIN but role says {role.value}" in message


def test_rate_with_matching_role_is_accepted() -> None:
    """The same check lets each correctly labelled RIN through."""
    for rin, role in (
        (BUNDLED, Role.bundled),
        (DELIVERY, Role.delivery),
        (GENERATION, Role.generation),
    ):
        assert current_rate(rin=rin, role=role).role is role
        assert eligible_rate(rin=rin, role=role).rin == rin


# ---- BillComparison ------------------------------------------------------------------------
def test_validity_of_one_billing_cycle_is_the_limit() -> None:
    """A comparison may hold for at most 31 days after it was computed, not a second more."""
    assert bill_comparison(valid_until=COMPUTED_AT + 31 * DAY).valid_until == COMPUTED_AT + 31 * DAY
    message = rejected(bill_comparison, valid_until=COMPUTED_AT + 31 * DAY + 1)
    assert "validUntil" in message and "31 days" in message


def test_valid_until_before_computed_at_is_refused() -> None:
    """A comparison cannot expire before it was made; valid only at its instant is allowed."""
    assert bill_comparison(valid_until=COMPUTED_AT).valid_until == COMPUTED_AT
    message = rejected(bill_comparison, valid_until=COMPUTED_AT - 1)
    assert "validUntil is before computedAt" in message


UTC = UTC
TWELVE_MONTHS = [
    # start, end exactly 12 calendar months later
    (datetime(2024, 11, 1, 7, tzinfo=UTC), datetime(2025, 11, 1, 7, tzinfo=UTC)),
    (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),  # 366 days (leap year)
    (
        datetime(2024, 2, 29, tzinfo=UTC),
        datetime(2025, 2, 28, tzinfo=UTC),
    ),  # no 29 February in 2025
    (datetime(2025, 1, 31, 8, tzinfo=UTC), datetime(2026, 1, 31, 8, tzinfo=UTC)),
]


@pytest.mark.parametrize(
    "start, end", TWELVE_MONTHS, ids=[f"{s:%Y-%m-%d}" for s, _ in TWELVE_MONTHS]
)
def test_twelve_calendar_months_of_usage_is_the_boundary(start: datetime, end: datetime) -> None:
    """NFR8: an available comparison needs 12 months of usage.  Exactly 12 calendar months
    passes; one day less is refused, naming usagePeriod."""
    assert bill_comparison(usage_period=period(start, end)).status is ComparisonStatus.available
    message = rejected(bill_comparison, usage_period=period(start, end - timedelta(days=1)))
    assert "usagePeriod must cover at least 12 months" in message


def test_365_days_is_not_twelve_months_in_a_leap_year() -> None:
    """Months are calendar months, not 365-day years: 2024 needs 366 days."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    message = rejected(bill_comparison, usage_period=period(start, start + timedelta(days=365)))
    assert "usagePeriod" in message


def test_twelve_local_calendar_months_across_a_dst_change_pass() -> None:
    """A California utility counts 12 months from local midnight to local midnight; when
    daylight saving time starts on an earlier date the next year (8 March 2026 vs 9 March
    2025) the period is an hour shorter than 12 UTC months, and must still be accepted."""
    pst, pdt = timezone(timedelta(hours=-8)), timezone(timedelta(hours=-7))
    start = datetime(2025, 3, 9, tzinfo=pst)  # DST began at 02:00 that day: midnight is PST
    end = datetime(2026, 3, 9, tzinfo=pdt)  # DST began on 8 March 2026: midnight is PDT
    bill_comparison(
        usage_period=period(start, end),
        computed_at=int(end.timestamp()),
        valid_until=int(end.timestamp()),
    )


def test_available_comparison_states_its_usage_period() -> None:
    """Without the period an ASP cannot tell the 12-month rule was kept."""
    assert "usagePeriod" in rejected(bill_comparison, usage_period=None)


@pytest.mark.parametrize("flags", [(True, True), (False, False), (True, True, False)])
def test_available_comparison_has_exactly_one_current_rate(flags: tuple[bool, ...]) -> None:
    """Savings are measured against the current rate, so exactly one estimate is current."""
    estimates = [
        rate_estimate(rin=Rin.parse(f"USCA-PGPG-05{10 + i}-0000"), is_current=flag)
        for i, flag in enumerate(flags)
    ]
    message = rejected(bill_comparison, rate_estimate=estimates)
    assert f"exactly one rateEstimate must be the current rate, found {sum(flags)}" in message


def test_available_comparison_lists_at_least_two_rates() -> None:
    """A comparison of the current rate with nothing is not a comparison."""
    message = rejected(bill_comparison, rate_estimate=[rate_estimate()])
    assert "the current and at least one other rate" in message


def test_available_comparison_states_its_currency() -> None:
    """Costs are in currency units; an available comparison says which currency."""
    assert "currency" in rejected(bill_comparison, currency=None)


@pytest.mark.parametrize(
    "status",
    [
        ComparisonStatus.insufficientHistory,
        ComparisonStatus.singleEligibleRate,
        ComparisonStatus.noRateTool,
    ],
)
def test_unavailable_comparison_gives_no_estimates(status: ComparisonStatus) -> None:
    """When the status says there is no comparison, no guessed figures may follow; without
    estimates (and without 12 months of usage) the same status is accepted."""
    message = rejected(bill_comparison, status=status)
    assert f"status {status.value} gives no rateEstimate" in message
    start = datetime(2025, 6, 14, tzinfo=UTC)
    ok = bill_comparison(
        status=status, rate_estimate=[], usage_period=period(start, start + timedelta(days=100))
    )
    assert ok.rate_estimate == [] and ok.current is None


def test_current_estimate_and_amounts_are_exposed() -> None:
    """The current estimate is found by isCurrent; cost units are 1e-5 of the currency."""
    comparison = bill_comparison()
    assert comparison.current is not None and comparison.current.rin == BUNDLED
    assert comparison.current.annual_cost_amount == pytest.approx(1984.5)


# ---- RateChangeRequest ---------------------------------------------------------------------
def test_rejected_request_states_its_reason() -> None:
    """A refusal without a reason leaves the customer nothing to act on."""
    message = rejected(rate_change_request, status=RateChangeStatus.rejected)
    assert "rejectionReason" in message
    ok = rate_change_request(
        status=RateChangeStatus.rejected, rejection_reason=RejectionReason.notEligible
    )
    assert ok.rejection_reason is RejectionReason.notEligible


@pytest.mark.parametrize(
    "status",
    [
        s
        for s in RateChangeStatus
        if s not in (RateChangeStatus.rejected, RateChangeStatus.accepted)
    ],
)
def test_reason_only_for_rejected_requests(status: RateChangeStatus) -> None:
    """A request still in progress (or done) cannot carry a rejection reason."""
    message = rejected(rate_change_request, status=status, rejection_reason=RejectionReason.other)
    assert "rejectionReason is only for rejected requests" in message


def test_accepted_request_states_its_effective_date() -> None:
    """An accepted change takes effect at the next billing cycle, and says when."""
    message = rejected(rate_change_request, status=RateChangeStatus.accepted)
    assert "effectiveDate" in message
    ok = rate_change_request(status=RateChangeStatus.accepted, effective_date=1764662400)
    assert ok.effective_date == 1764662400


def test_updated_before_requested_is_refused() -> None:
    """A request cannot change before it was made; an update in the same second is fine."""
    message = rejected(rate_change_request, updated_at=1763629199)
    assert "updatedAt is before requestedAt" in message
    assert rate_change_request(updated_at=1763629200).updated_at == 1763629200


# ---- RateInformation -------------------------------------------------------------------------
DELIVERY_RATE = {"rin": DELIVERY, "role": Role.delivery, "lse": "PGE", "tariff_code": "E-TOU-C"}
GENERATION_RATE = {
    "rin": GENERATION,
    "role": Role.generation,
    "lse": "PCE",
    "tariff_code": "ECOPLUS",
}


def test_unbundled_customer_has_delivery_and_generation_rates() -> None:
    """Cached mode: the utility names both current rates."""
    info = rate_information(
        current_rate=[current_rate(**DELIVERY_RATE), current_rate(**GENERATION_RATE)]
    )
    assert info.rins == [DELIVERY, GENERATION]


def test_delivery_only_rate_needs_the_generation_rate_or_where_to_ask() -> None:
    """Non-cached mode must say where the generation RIN is, never leave it out silently."""
    message = rejected(rate_information, current_rate=[current_rate(**DELIVERY_RATE)])
    assert "generationRinStatus" in message and "delivery-only" in message
    info = rate_information(
        current_rate=[current_rate(**DELIVERY_RATE)], generation_rin_status=generation_rin_status()
    )
    assert info.generation_rin_status is not None


@pytest.mark.parametrize(
    "rates",
    [
        [current_rate(**DELIVERY_RATE), current_rate(**GENERATION_RATE)],
        [current_rate()],
        [current_rate(**GENERATION_RATE)],
    ],
    ids=["delivery+generation", "bundled", "generation"],
)
def test_generation_rin_status_only_when_the_generation_rin_is_missing(
    rates: list[CurrentRate],
) -> None:
    """Saying "ask the CCA" next to the generation rate would contradict the document."""
    message = rejected(
        rate_information, current_rate=rates, generation_rin_status=generation_rin_status()
    )
    assert "generationRinStatus is for when the generation RIN is missing" in message


def test_at_most_two_current_rates() -> None:
    """A service agreement has one bundled rate or one delivery/generation pair."""
    rates = [current_rate(**DELIVERY_RATE), current_rate(**GENERATION_RATE), current_rate()]
    assert "at most two currentRate" in rejected(rate_information, current_rate=rates)


@pytest.mark.parametrize(
    "rates",
    [
        [
            current_rate(**DELIVERY_RATE),
            current_rate(**{**DELIVERY_RATE, "rin": Rin.parse("USCA-PGXX-0105-0000")}),
        ],
        [current_rate(), current_rate(**DELIVERY_RATE)],
        [current_rate(), current_rate(rin=BUNDLED_EV)],
    ],
    ids=["two-delivery", "bundled+delivery", "two-bundled"],
)
def test_two_current_rates_are_one_delivery_and_one_generation(rates: list[CurrentRate]) -> None:
    """Two current rates only make sense as the unbundled pair."""
    message = rejected(rate_information, current_rate=rates)
    assert "two currentRate must be one delivery and one generation rate" in message


# ---- EligibleRate ------------------------------------------------------------------------------
def test_mirror_of_needs_iou_mirror() -> None:
    """mirrorOf names the CCA rate an IOU rate mirrors; it means nothing on a plain rate."""
    mirrored = Rin.parse("USCA-XXPE-0445-0000")
    message = rejected(eligible_rate, mirror_of=mirrored)
    assert "mirrorOf" in message and "iouMirror" in message
    assert eligible_rate(iou_mirror=True, mirror_of=mirrored).mirror_of == mirrored


def test_several_problems_are_reported_together() -> None:
    """One message lists every problem, so a utility fixes its export in one pass."""
    message = rejected(
        rate_change_request, status=RateChangeStatus.rejected, updated_at=1, target_tariff_code=None
    )
    assert "targetTariffCode is required" in message
    assert "rejectionReason" in message
    assert "updatedAt is before requestedAt" in message


def test_unknown_comparison_status_without_estimates_is_refused() -> None:
    """The unknown-status check itself works when no estimate follows (the case above with
    estimates is the bug)."""
    message = rejected(bill_comparison, status="pending", rate_estimate=[])
    assert "status 'pending' is not one of" in message
