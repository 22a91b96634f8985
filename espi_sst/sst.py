"""Finding the SST data in a parsed document (1623(c)(1)(A)-(D)).

The SST extension (:mod:`espi_sst.model.sst`) puts RINs in UsageSummary extensions and
adds three resources linked from each UsagePoint.  These helpers answer the questions an
ASP asks: which RINs apply to this service point, which rates can it switch to, what
would each cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from .document import Document
from .model.atom import Entry
from .model.espi import ElectricPowerUsageSummary, UsagePoint, UsageSummary
from .model.sst import (
    BillComparison,
    BundledRin,
    DeliveryRin,
    GenerationRin,
    GenerationRinStatus,
    RateChangeRequest,
    RateInformation,
    ServedRin,
)
from .rin import Rin, RinRole

__all__ = [
    "RinOccurrence",
    "bill_comparison",
    "find_rins",
    "rate_change_requests",
    "rate_information",
    "usage_summary_generation_status",
    "usage_summary_rins",
]


@dataclass(frozen=True)
class RinOccurrence:
    """Where a RIN was found in a document."""

    rin: Rin
    role: RinRole
    element: str
    usage_point: str | None
    entity: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "rin": str(self.rin),
            "role": self.role.value,
            "element": self.element,
            "usage_point": self.usage_point,
            "entity": self.entity,
        }


def usage_summary_rins(summary: UsageSummary | ElectricPowerUsageSummary) -> list[ServedRin]:
    """The RIN elements of a UsageSummary (extension form or Appendix B form alike)."""
    found: list[ServedRin] = []
    for extension in summary.extension:
        for item in extension.elements:
            if isinstance(item, (BundledRin, DeliveryRin, GenerationRin)):
                found.append(item)
    return found


def usage_summary_generation_status(
    summary: UsageSummary | ElectricPowerUsageSummary,
) -> GenerationRinStatus | None:
    """Why an unbundled customer's UsageSummary has no generationRin, and whom to ask."""
    for extension in summary.extension:
        for item in extension.elements:
            if isinstance(item, GenerationRinStatus):
                return item
    return None


def _first(document: Document, usage_point: Entry, kind: type) -> Entry | None:
    for entry in document.children(usage_point, kind):
        return entry
    return None


def rate_information(document: Document, usage_point: Entry) -> RateInformation | None:
    entry = _first(document, usage_point, RateInformation)
    return entry.content if entry is not None else None  # type: ignore[return-value]


def bill_comparison(document: Document, usage_point: Entry) -> BillComparison | None:
    entry = _first(document, usage_point, BillComparison)
    return entry.content if entry is not None else None  # type: ignore[return-value]


def rate_change_requests(document: Document, usage_point: Entry) -> list[RateChangeRequest]:
    return [e.content for e in document.children(usage_point, RateChangeRequest)]  # type: ignore[misc]


def _owner(document: Document, entry: Entry) -> str | None:
    """The UsagePoint href an entry belongs to (by link graph, else by href path)."""
    for up in document.entries_of(UsagePoint):
        if entry in document.children(up):
            return up.self_href
    for href in (entry.self_href, entry.up_href):
        if href and "/UsagePoint/" in href:
            head, _, tail = href.partition("/UsagePoint/")
            return f"{head}/UsagePoint/{tail.split('/')[0]}"
    return None


def find_rins(document: Document) -> list[RinOccurrence]:
    """Every RIN in the document, with the element and UsagePoint it belongs to."""
    out: list[RinOccurrence] = []
    for entry in document.entries:
        owner = None
        for content in entry.contents:
            if owner is None:
                owner = _owner(document, entry)
            if isinstance(content, (UsageSummary, ElectricPowerUsageSummary)):
                for served in usage_summary_rins(content):
                    assert served.value is not None
                    entity = served.udc if isinstance(served, DeliveryRin) else served.lse
                    charge_source = getattr(content, "billing_charge_source", None)
                    if entity is None and charge_source is not None:
                        entity = charge_source.agency_name
                    out.append(
                        RinOccurrence(
                            served.value, served.value.role, served.XML_ELEMENT, owner, entity
                        )
                    )
            elif isinstance(content, RateInformation):
                for rate in content.current_rate:
                    assert rate.rin is not None
                    out.append(
                        RinOccurrence(rate.rin, rate.rin.role, "currentRate", owner, rate.lse)
                    )
                for eligible in content.eligible_rate:
                    assert eligible.rin is not None
                    out.append(
                        RinOccurrence(
                            eligible.rin, eligible.rin.role, "eligibleRate", owner, eligible.lse
                        )
                    )
                    if eligible.mirror_of is not None:
                        mirrored = eligible.mirror_of
                        out.append(RinOccurrence(mirrored, mirrored.role, "mirrorOf", owner))
            elif isinstance(content, BillComparison):
                for estimate in content.rate_estimate:
                    assert estimate.rin is not None
                    out.append(
                        RinOccurrence(estimate.rin, estimate.rin.role, "rateEstimate", owner)
                    )
            elif isinstance(content, RateChangeRequest) and content.target_rin is not None:
                out.append(
                    RinOccurrence(content.target_rin, content.target_rin.role, "targetRin", owner)
                )
    return out
