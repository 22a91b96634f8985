"""The SST extension of ESPI (namespace ``urn:espi-sst:sst:1``, ``xsd/espi-sst.xsd``).

What Title 20 CCR 1623(c)(1) asks a utility to give an authorized ASP, as typed data:

* (A) the RIN(s) of the current rate -- :class:`BundledRin`, or :class:`DeliveryRin` plus
  :class:`GenerationRin` for unbundled (CCA) customers, inside ``espi:UsageSummary``'s
  ``extension``; and :class:`RateInformation` ``current_rate``;
* (B) the RINs of every rate the customer may switch to -- ``RateInformation.eligible_rate``;
* (C) estimated annual bills -- :class:`BillComparison`;
* (D) a rate change on the customer's direction -- :class:`RateChangeRequest`.

Unlike the lenient ESPI classes, these enforce their rules when built (``__post_init__``),
so a bad RIN, an unknown status or a missing required field never gets into a document:
the reader turns the error into a ParseError naming the line; code building them directly
gets a :class:`~espi_sst.errors.ValidationError` saying what to fix.  The rules beyond
the schema (12 months of history, valid at most one billing cycle ...) live here too.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ..errors import ValidationError
from ..rin import Rin, RinRole
from ._base import ModelObject
from ._fields import ANY_URI, BOOLEAN, CodeStrEnum, SimpleType, element
from .enums import Currency
from .espi import INT48, STRING256, TIME_TYPE, DateTimeInterval, IdentifiedObject

NS = "urn:espi-sst:sst:1"
DST_SLACK = timedelta(hours=1)
MAX_VALIDITY_SECONDS = 31 * 86400
"""A comparison holds for at most one billing cycle (concept design NFR; facts.md)."""

RIN = SimpleType("RinType", Rin)
ENTITY_CODE = SimpleType(
    "EntityCode", str, max_length=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
)
TARIFF_CODE = SimpleType("TariffCode", str, max_length=64)


class Role(CodeStrEnum):
    """What a RIN prices (the same values as :class:`espi_sst.rin.RinRole`)."""

    bundled = "bundled", "Delivery and generation from one LSE."
    delivery = (
        "delivery",
        "Delivery only (energy company XX): the UDC's rate of an unbundled customer.",
    )
    generation = "generation", "Generation only (distribution company XX): the CCA's rate."


class GenerationRinAvailability(CodeStrEnum):
    notAvailableHere = (
        "notAvailableHere",
        "The utility does not cache the CCA's generation RIN; ask the CCA.",
    )


class ComparisonStatus(CodeStrEnum):
    available = "available", "Estimates for the current and every eligible rate follow."
    insufficientHistory = (
        "insufficientHistory",
        "Fewer than 12 months of usage: no estimate is given.",
    )
    singleEligibleRate = "singleEligibleRate", "The current rate is the only eligible one."
    noRateTool = "noRateTool", "This LSE has no rate-analysis tool for the customer."


class EstimateBasis(CodeStrEnum):
    utilityTool = "utilityTool", "Computed by the LSE's rate-analysis tool."
    iouMirroredCcaRate = "iouMirroredCcaRate", "The IOU's mirror of a CCA rate."
    deliveryOnly = "deliveryOnly", "Delivery charges only (unbundled customer)."


class RateChangeStatus(CodeStrEnum):
    awaitingConfirmation = "awaitingConfirmation", "Waiting for the customer's one-time passcode."
    confirmed = "confirmed", "The customer confirmed; queued for the billing system."
    submitted = "submitted", "Handed to the billing system."
    accepted = "accepted", "Scheduled for the start of the next billing cycle."
    rejected = "rejected", "Refused; rejectionReason says why."
    cancelled = "cancelled", "Withdrawn before it was submitted."
    expired = "expired", "Not confirmed in time."


class RejectionReason(CodeStrEnum):
    notEligible = "notEligible", "The target rate is not one the customer is eligible for."
    twelveMonthRestriction = (
        "twelveMonthRestriction",
        "A voluntary change was made less than 12 months ago.",
    )
    generationProductBelongsToCca = (
        "generationProductBelongsToCca",
        "Generation products are the CCA's to change.",
    )
    lseSwitchNotAllowed = "lseSwitchNotAllowed", "Switching LSE is not possible through the SST."
    alreadyOnRate = "alreadyOnRate", "The customer is already on the target rate."
    confirmationExpired = "confirmationExpired", "The one-time passcode expired."
    confirmationFailed = "confirmationFailed", "Too many wrong passcodes."
    other = "other", "See rejectionMessage."


def _fail(cls: type, problems: list[str]) -> None:
    if problems:
        raise ValidationError(
            f"{cls.__name__}: " + "; ".join(problems),
            code="invalid_sst",
        )


def _check_fields(obj: Any) -> list[str]:
    """Required fields present, enumerations known, RINs typed (schema rules, in Python)."""
    problems = []
    for f in dataclasses.fields(obj):
        xml = f.metadata.get("xml")
        if (
            xml is None
            or xml.namespace == "http://naesb.org/espi"
            and xml.name in ("extension", "batchItemInfo")
        ):
            continue
        value = getattr(obj, f.name)
        name = xml.name or "value"
        if xml.required and (value is None or value == []):
            problems.append(f"{name} is required")
            continue
        if value is None:
            continue
        vt = xml.value_type
        if isinstance(vt, type) and issubclass(vt, CodeStrEnum) and not isinstance(value, vt):
            if isinstance(value, str) and value in vt._value2member_map_:
                setattr(obj, f.name, vt(value))  # the schema's spelling given as text
            else:
                allowed = ", ".join(m.value for m in vt)
                problems.append(f"{name} {value!r} is not one of: {allowed}")
        elif vt is RIN and not isinstance(value, Rin):
            problems.append(f"{name} must be a Rin (use Rin.parse), not {type(value).__name__}")
        elif isinstance(vt, SimpleType) and vt.python is str and isinstance(value, str):
            if vt.max_length is not None and len(value) > vt.max_length:
                problems.append(f"{name} has {len(value)} characters, over {vt.max_length}")
            elif vt.pattern is not None and re.fullmatch(vt.pattern, value) is None:
                problems.append(f"{name} {value!r} is not a valid {vt.name}")
    return problems


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# ---- RIN elements inside espi:UsageSummary's extension ------------------------------------
@dataclass(kw_only=True, eq=True)
class _ServedRin(ModelObject):
    """A RIN element: ``<rin>`` then the entity (``<lse>`` or ``<udc>``) as child elements.

    Written as children, not as the 1.0 form's text plus attribute
    (``<bundledRin lse="PGE">USCA-...</bundledRin>``): common Green Button parsers
    (``@cityssm/green-button-parser``, xml2js) crash on an element with an attribute and
    digits in its text.  The 1.0 form is still read (``XML_LEGACY_FORM``: the text is the
    RIN, each named attribute the field it maps to); docs/sst-extension.md, "RIN elements".
    """

    EXPECTED_ROLE: ClassVar[RinRole]
    XML_LEGACY_FORM: ClassVar[dict[str, str]] = {}
    """1.0 form: attribute name -> field (the element's text is ``value``)."""
    value: Rin | None = field(default=None, metadata=element("rin", NS, RIN, min_occurs=1))

    def __post_init__(self) -> None:
        problems = _check_fields(self)
        if not problems and self.value is not None and self.value.role is not self.EXPECTED_ROLE:
            problems.append(
                f"{self.value} is a {self.value.role} RIN; <{self.XML_ELEMENT}> takes a "
                f"{self.EXPECTED_ROLE} RIN"
            )
        _fail(type(self), problems)

    XML_ELEMENT: ClassVar[str] = ""


@dataclass(kw_only=True, eq=True)
class BundledRin(_ServedRin):
    """The RIN of a bundled customer's rate (``lse`` when billingChargeSource does not say)."""

    XML_TYPE: ClassVar[str] = "BundledRin"
    XML_ELEMENT: ClassVar[str] = "bundledRin"
    EXPECTED_ROLE: ClassVar[RinRole] = RinRole.BUNDLED
    XML_LEGACY_FORM: ClassVar[dict[str, str]] = {"lse": "lse"}
    lse: str | None = field(default=None, metadata=element("lse", NS, ENTITY_CODE))


@dataclass(kw_only=True, eq=True)
class DeliveryRin(_ServedRin):
    """An unbundled customer's delivery RIN; ``udc`` is the distribution utility."""

    XML_TYPE: ClassVar[str] = "DeliveryRin"
    XML_ELEMENT: ClassVar[str] = "deliveryRin"
    EXPECTED_ROLE: ClassVar[RinRole] = RinRole.DELIVERY
    XML_LEGACY_FORM: ClassVar[dict[str, str]] = {"udc": "udc"}
    udc: str | None = field(default=None, metadata=element("udc", NS, ENTITY_CODE, min_occurs=1))


@dataclass(kw_only=True, eq=True)
class GenerationRin(_ServedRin):
    """An unbundled customer's generation RIN; ``lse`` is the CCA."""

    XML_TYPE: ClassVar[str] = "GenerationRin"
    XML_ELEMENT: ClassVar[str] = "generationRin"
    EXPECTED_ROLE: ClassVar[RinRole] = RinRole.GENERATION
    XML_LEGACY_FORM: ClassVar[dict[str, str]] = {"lse": "lse"}
    lse: str | None = field(default=None, metadata=element("lse", NS, ENTITY_CODE, min_occurs=1))


ServedRin = BundledRin | DeliveryRin | GenerationRin


# ---- RateInformation ------------------------------------------------------------------------
@dataclass(kw_only=True, eq=True)
class _Checked(ModelObject):
    def __post_init__(self) -> None:
        # Every problem at once; the rules check types themselves (isinstance).
        _fail(type(self), _check_fields(self) + self._rules())

    def _rules(self) -> list[str]:
        return []


def _role_matches(rin: Any, role: Any, label: str) -> list[str]:
    if isinstance(rin, Rin) and isinstance(role, Role) and rin.role.value != role.value:
        return [f"{label} {rin} is a {rin.role} RIN but role says {role.value}"]
    return []


@dataclass(kw_only=True, eq=True)
class CurrentRate(_Checked):
    """A rate in force now: the bundled one, or the delivery / generation pair."""

    XML_TYPE: ClassVar[str] = "CurrentRate"
    rin: Rin | None = field(default=None, metadata=element("rin", NS, RIN, min_occurs=1))
    role: Role | None = field(default=None, metadata=element("role", NS, Role, min_occurs=1))
    lse: str | None = field(default=None, metadata=element("lse", NS, ENTITY_CODE, min_occurs=1))
    lse_name: str | None = field(default=None, metadata=element("lseName", NS, STRING256))
    tariff_code: str | None = field(
        default=None, metadata=element("tariffCode", NS, TARIFF_CODE, min_occurs=1)
    )
    tariff_name: str | None = field(default=None, metadata=element("tariffName", NS, STRING256))
    effective_date: int | None = field(
        default=None, metadata=element("effectiveDate", NS, TIME_TYPE, min_occurs=1)
    )

    def _rules(self) -> list[str]:
        return _role_matches(self.rin, self.role, "currentRate")


@dataclass(kw_only=True, eq=True)
class GenerationRinStatus(_Checked):
    """Why the generation RIN is missing, and whom to ask (non-cached CCA RINs)."""

    XML_TYPE: ClassVar[str] = "GenerationRinStatus"
    XML_ELEMENT: ClassVar[str] = "generationRinStatus"  # also stands in a UsageSummary extension
    availability: GenerationRinAvailability | None = field(
        default=None, metadata=element("availability", NS, GenerationRinAvailability, min_occurs=1)
    )
    lse: str | None = field(default=None, metadata=element("lse", NS, ENTITY_CODE, min_occurs=1))
    lse_name: str | None = field(default=None, metadata=element("lseName", NS, STRING256))
    refer_to: str | None = field(
        default=None, metadata=element("referTo", NS, ANY_URI, min_occurs=1)
    )
    message: str | None = field(default=None, metadata=element("message", NS, STRING256))


@dataclass(kw_only=True, eq=True)
class ChangeAvailability(_Checked):
    """Whether an eligible rate can be chosen now and, if not, why and from when (issue 12).

    What the rate-change API would answer if asked now, stated up front in RateInformation
    so an ASP never has the customer read a passcode for a change that cannot happen:
    ``reason`` is the :class:`RejectionReason` a request would be refused with (409), and
    ``available_from`` is when it can be chosen, when that depends only on time (the
    12-month restriction of a voluntary change).
    """

    XML_TYPE: ClassVar[str] = "ChangeAvailability"
    selectable_now: bool | None = field(
        default=None, metadata=element("selectableNow", NS, BOOLEAN, min_occurs=1)
    )
    reason: RejectionReason | None = field(
        default=None, metadata=element("reason", NS, RejectionReason)
    )
    message: str | None = field(default=None, metadata=element("message", NS, STRING256))
    available_from: int | None = field(
        default=None, metadata=element("availableFrom", NS, TIME_TYPE)
    )

    def _rules(self) -> list[str]:
        if self.selectable_now is True and (
            self.reason is not None or self.available_from is not None
        ):
            return ["a rate selectable now has no reason and no availableFrom"]
        if self.selectable_now is False and self.reason is None:
            return ["a rate not selectable now states its reason"]
        return []


@dataclass(kw_only=True, eq=True)
class EligibleRate(_Checked):
    """A rate the customer may switch to (``iou_mirror``: the IOU's mirror of a CCA rate)."""

    XML_TYPE: ClassVar[str] = "EligibleRate"
    rin: Rin | None = field(default=None, metadata=element("rin", NS, RIN, min_occurs=1))
    tariff_code: str | None = field(
        default=None, metadata=element("tariffCode", NS, TARIFF_CODE, min_occurs=1)
    )
    name: str | None = field(default=None, metadata=element("name", NS, STRING256, min_occurs=1))
    role: Role | None = field(default=None, metadata=element("role", NS, Role, min_occurs=1))
    lse: str | None = field(default=None, metadata=element("lse", NS, ENTITY_CODE, min_occurs=1))
    iou_mirror: bool | None = field(
        default=False, metadata=element("iouMirror", NS, BOOLEAN, min_occurs=1)
    )
    mirror_of: Rin | None = field(default=None, metadata=element("mirrorOf", NS, RIN))
    availability: ChangeAvailability | None = field(
        default=None, metadata=element("availability", NS, ChangeAvailability)
    )
    """Whether a rate change to it can be asked for now (absent: the custodian does not say)."""

    def _rules(self) -> list[str]:
        problems = _role_matches(self.rin, self.role, "eligibleRate")
        if self.mirror_of is not None and not self.iou_mirror:
            problems.append("mirrorOf is only meaningful when iouMirror is true")
        return problems


@dataclass(kw_only=True, eq=True)
class RateInformation(IdentifiedObject, _Checked):
    """Current and eligible rates of one service agreement (UsagePoint)."""

    XML_TYPE: ClassVar[str] = "RateInformation"
    current_rate: list[CurrentRate] = field(
        default_factory=list,
        metadata=element("currentRate", NS, CurrentRate, many=True, min_occurs=1),
    )
    generation_rin_status: GenerationRinStatus | None = field(
        default=None, metadata=element("generationRinStatus", NS, GenerationRinStatus)
    )
    eligible_rate: list[EligibleRate] = field(
        default_factory=list, metadata=element("eligibleRate", NS, EligibleRate, many=True)
    )

    def _rules(self) -> list[str]:
        problems = []
        roles = sorted(
            (r.role for r in self.current_rate if isinstance(r.role, Role)),
            key=lambda role: role.value,
        )
        if len(self.current_rate) > 2:
            problems.append("at most two currentRate (delivery and generation)")
        elif len(roles) == 2 and roles != [Role.delivery, Role.generation]:
            problems.append("two currentRate must be one delivery and one generation rate")
        has_generation = Role.generation in roles or Role.bundled in roles
        if roles == [Role.delivery] and self.generation_rin_status is None:
            problems.append(
                "a delivery-only current rate needs the generation rate or a "
                "generationRinStatus saying where to ask"
            )
        if has_generation and self.generation_rin_status is not None:
            problems.append("generationRinStatus is for when the generation RIN is missing")
        return problems

    @property
    def rins(self) -> list[Rin]:
        return [r.rin for r in self.current_rate if r.rin is not None]


# ---- BillComparison -----------------------------------------------------------------------
@dataclass(kw_only=True, eq=True)
class RateEstimate(_Checked):
    """Estimated annual cost under one rate (ESPI cost units: 1e-5 of the currency)."""

    XML_TYPE: ClassVar[str] = "RateEstimate"
    rin: Rin | None = field(default=None, metadata=element("rin", NS, RIN, min_occurs=1))
    tariff_code: str | None = field(
        default=None, metadata=element("tariffCode", NS, TARIFF_CODE, min_occurs=1)
    )
    tariff_name: str | None = field(default=None, metadata=element("tariffName", NS, STRING256))
    estimated_annual_cost: int | None = field(
        default=None, metadata=element("estimatedAnnualCost", NS, INT48, min_occurs=1)
    )
    average_monthly_cost: int | None = field(
        default=None, metadata=element("averageMonthlyCost", NS, INT48, min_occurs=1)
    )
    savings_versus_current: int | None = field(
        default=None, metadata=element("savingsVersusCurrent", NS, INT48, min_occurs=1)
    )
    is_current: bool | None = field(
        default=None, metadata=element("isCurrent", NS, BOOLEAN, min_occurs=1)
    )
    basis: EstimateBasis | None = field(
        default=None, metadata=element("basis", NS, EstimateBasis, min_occurs=1)
    )

    @property
    def annual_cost_amount(self) -> float | None:
        return None if self.estimated_annual_cost is None else self.estimated_annual_cost / 100_000


@dataclass(kw_only=True, eq=True)
class BillComparison(IdentifiedObject, _Checked):
    """Annual bill estimates under the current and each eligible rate (or why there are none)."""

    XML_TYPE: ClassVar[str] = "BillComparison"
    status: ComparisonStatus | None = field(
        default=None, metadata=element("status", NS, ComparisonStatus, min_occurs=1)
    )
    status_message: str | None = field(
        default=None, metadata=element("statusMessage", NS, STRING256)
    )
    usage_period: DateTimeInterval | None = field(
        default=None, metadata=element("usagePeriod", NS, DateTimeInterval)
    )
    computed_at: int | None = field(
        default=None, metadata=element("computedAt", NS, TIME_TYPE, min_occurs=1)
    )
    valid_until: int | None = field(
        default=None, metadata=element("validUntil", NS, TIME_TYPE, min_occurs=1)
    )
    currency: Currency | int | None = field(
        default=None, metadata=element("currency", NS, Currency)
    )
    rate_estimate: list[RateEstimate] = field(
        default_factory=list, metadata=element("rateEstimate", NS, RateEstimate, many=True)
    )

    def _rules(self) -> list[str]:
        problems = []
        if self.computed_at is not None and self.valid_until is not None:
            if self.valid_until < self.computed_at:
                problems.append("validUntil is before computedAt")
            elif self.valid_until - self.computed_at > MAX_VALIDITY_SECONDS:
                problems.append(
                    "validUntil is more than one billing cycle (31 days) after computedAt"
                )
        if self.status is ComparisonStatus.available:
            period = self.usage_period
            if period is None or period.start is None or period.duration is None:
                problems.append(
                    "an available comparison states its usagePeriod (start and duration)"
                )
            else:
                start = datetime.fromtimestamp(period.start, UTC)
                end = datetime.fromtimestamp(period.start + period.duration, UTC)
                # Local midnight to local midnight across a DST change is an hour short
                # in UTC; a year of history is still a year.
                if end < add_months(start, 12) - DST_SLACK:
                    problems.append("usagePeriod must cover at least 12 months (NFR8)")
            current = [e for e in self.rate_estimate if e.is_current]
            if len(current) != 1:
                problems.append(
                    f"exactly one rateEstimate must be the current rate, found {len(current)}"
                )
            if len(self.rate_estimate) < 2:
                problems.append(
                    "an available comparison lists the current and at least one other rate"
                )
            if self.currency is None:
                problems.append("an available comparison states its currency")
        elif isinstance(self.status, ComparisonStatus) and self.rate_estimate:
            problems.append(f"status {self.status.value} gives no rateEstimate")
        return problems

    @property
    def current(self) -> RateEstimate | None:
        return next((e for e in self.rate_estimate if e.is_current), None)


# ---- RateChangeRequest ---------------------------------------------------------------------
@dataclass(kw_only=True, eq=True)
class RateChangeRequest(IdentifiedObject, _Checked):
    """A customer-directed rate change and where it stands."""

    XML_TYPE: ClassVar[str] = "RateChangeRequest"
    target_rin: Rin | None = field(
        default=None, metadata=element("targetRin", NS, RIN, min_occurs=1)
    )
    target_tariff_code: str | None = field(
        default=None, metadata=element("targetTariffCode", NS, TARIFF_CODE, min_occurs=1)
    )
    requested_at: int | None = field(
        default=None, metadata=element("requestedAt", NS, TIME_TYPE, min_occurs=1)
    )
    updated_at: int | None = field(
        default=None, metadata=element("updatedAt", NS, TIME_TYPE, min_occurs=1)
    )
    status: RateChangeStatus | None = field(
        default=None, metadata=element("status", NS, RateChangeStatus, min_occurs=1)
    )
    rejection_reason: RejectionReason | None = field(
        default=None, metadata=element("rejectionReason", NS, RejectionReason)
    )
    rejection_message: str | None = field(
        default=None, metadata=element("rejectionMessage", NS, STRING256)
    )
    confirmation_expires_at: int | None = field(
        default=None, metadata=element("confirmationExpiresAt", NS, TIME_TYPE)
    )
    effective_date: int | None = field(
        default=None, metadata=element("effectiveDate", NS, TIME_TYPE)
    )

    def _rules(self) -> list[str]:
        problems = []
        rejected = self.status is RateChangeStatus.rejected
        if rejected and self.rejection_reason is None:
            problems.append("a rejected request states its rejectionReason")
        if not rejected and self.rejection_reason is not None:
            problems.append("rejectionReason is only for rejected requests")
        if self.status is RateChangeStatus.accepted and self.effective_date is None:
            problems.append("an accepted request states its effectiveDate (next billing cycle)")
        if (
            self.requested_at is not None
            and self.updated_at is not None
            and self.updated_at < self.requested_at
        ):
            problems.append("updatedAt is before requestedAt")
        return problems


ROOT_ELEMENTS: dict[str, type[ModelObject]] = {
    "RateInformation": RateInformation,
    "BillComparison": BillComparison,
    "RateChangeRequest": RateChangeRequest,
}
"""SST resources that stand in atom:content."""

EXTENSION_ELEMENTS: dict[str, type[ModelObject]] = {
    "bundledRin": BundledRin,
    "deliveryRin": DeliveryRin,
    "generationRin": GenerationRin,
    "generationRinStatus": GenerationRinStatus,
}
"""SST elements read as typed objects when they stand inside an espi:extension."""

__all__ = [
    "NS",
    "BillComparison",
    "BundledRin",
    "ChangeAvailability",
    "ComparisonStatus",
    "CurrentRate",
    "DeliveryRin",
    "EligibleRate",
    "EstimateBasis",
    "GenerationRin",
    "GenerationRinAvailability",
    "GenerationRinStatus",
    "RateChangeRequest",
    "RateChangeStatus",
    "RateEstimate",
    "RateInformation",
    "RejectionReason",
    "Role",
    "ServedRin",
]
