"""The ESPI resources of the foreign custodian, as entries of one shape.

Element order and content follow the recorded responses: ReadingType as
``pge-cmd_ReadingType-feed.xml`` (hourly Wh, ``measuringPeriod`` 7 = sixty minutes),
IntervalBlock as ``pge-cmd_IntervalBlock.xml``, UsageSummary as the first (complete) entry
of ``pge-cmd_UsageSummaries.xml`` (costs in 10^-5 USD, energy in mWh with multiplier -3),
Authorization as ``pge-cmd_Authorization.xml`` and ApplicationInformation as
``pge-cmd_ApplicationInformation.xml``.  One deliberate difference from PG&E's bytes: times
are epoch *seconds* everywhere (PG&E writes some in milliseconds, which the ESPI schema's
TimeType does not allow and readers clamp).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .atom import EntryParts, Link, Node, Shape
from .state import Client, Grant
from .usage import BillingPeriod, DayBlock, billing_periods, day_blocks

FB_SCOPE = (
    "FB=1_3_4_5_8_13_14_15_18_19_31_32_35_37_38_39_40;IntervalDuration=3600;"
    "BlockDuration=Daily;HistoryLength=34128000"
)
READING_TYPE_ID = base64.urlsafe_b64encode(b"72:3600:1:4").decode()
LOCAL_TIME_ID = "1"
PACIFIC: Sequence[Node] = (
    ("dstEndRule", "B40E2000"),
    ("dstOffset", 3600),
    ("dstStartRule", "360E2000"),
    ("tzOffset", -28800),
)


def meter_reading_id(point: str) -> str:
    """An opaque MeterReading id like PG&E's ``Tags7afT4eW6dAg6tI9nUksh4Et2ju==``."""
    return base64.urlsafe_b64encode(hashlib.sha1(f"MR:{point}".encode()).digest()[:20]).decode()


def summary_id(period: BillingPeriod) -> str:
    """PG&E's UsageSummary ids: the period end in milliseconds, thousands-separated."""
    return f"{(period.start + period.duration) * 1000:,}"


@dataclass(frozen=True)
class Catalog:
    """Renders one custodian's resources under its public resource base."""

    shape: Shape
    base: str  # public_base + /espi/1_1/resource
    now: int
    served_at: float  # the published/updated time of non-interval resources

    # ---- hrefs -----------------------------------------------------------------------
    def point_href(self, sid: str, point: str) -> str:
        return f"{self.base}/Subscription/{sid}/UsagePoint/{point}"

    def reading_href(self, sid: str, point: str) -> str:
        return f"{self.point_href(sid, point)}/MeterReading/{meter_reading_id(point)}"

    # ---- entries ---------------------------------------------------------------------
    def _parts(
        self,
        links: list[Link],
        title: str,
        body_of: Callable[[int], str],
        standalone: bool,
        published: float | None = None,
    ) -> EntryParts:
        depth = self.shape.body_depth(standalone=standalone)
        when = self.served_at if published is None else published
        return EntryParts(links, title, when, when, body_of(depth))

    def _resource(self, name: str, fields: Sequence[Node]) -> Callable[[int], str]:
        """The body of an entry: the resource element, at the depth the entry puts it."""

        def body(depth: int) -> str:
            return self.shape.resource(name, fields, declare=True, depth=depth)

        return body

    def usage_point(self, sid: str, point: str, *, standalone: bool) -> str:
        href = self.point_href(sid, point)
        links = [
            Link(f"{self.base}/Subscription/{sid}/UsagePoint", "up"),
            Link(href, "self"),
            Link(f"{href}/MeterReading", "related"),
            Link(f"{href}/UsageSummary", "related"),
            Link(f"{self.base}/LocalTimeParameters/{LOCAL_TIME_ID}", "related"),
        ]
        body = self._resource("UsagePoint", [("ServiceCategory", [("kind", 0)])])
        return self.shape.entry(
            self._parts(links, f"Electric Service {point}", body, standalone), standalone=standalone
        )

    def meter_reading(self, sid: str, point: str, *, standalone: bool) -> str:
        href = self.reading_href(sid, point)
        links = [
            Link(f"{self.point_href(sid, point)}/MeterReading", "up"),
            Link(href, "self"),
            Link(f"{href}/IntervalBlock", "related"),
            Link(f"{self.base}/ReadingType/{READING_TYPE_ID}", "related"),
        ]
        body = self._resource("MeterReading", [])
        return self.shape.entry(
            self._parts(links, "Hourly Electricity Consumption", body, standalone),
            standalone=standalone,
        )

    def reading_type(self, *, standalone: bool) -> str:
        links = [
            Link(f"{self.base}/ReadingType", "up"),
            Link(f"{self.base}/ReadingType/{READING_TYPE_ID}", "self"),
        ]
        fields: list[Node] = [
            ("accumulationBehaviour", 4),
            ("commodity", 1),
            ("dataQualifier", 12),
            ("defaultQuality", 17),
            ("flowDirection", 1),
            ("intervalLength", 3600),
            ("kind", 12),
            ("phase", 769),
            ("powerOfTenMultiplier", 0),
            ("timeAttribute", 0),
            ("uom", 72),
            ("measuringPeriod", 7),
        ]
        body = self._resource("ReadingType", fields)
        return self.shape.entry(
            self._parts(links, "Type of Meter Reading Data", body, standalone),
            standalone=standalone,
        )

    def local_time(self, *, standalone: bool) -> str:
        links = [
            Link(f"{self.base}/LocalTimeParameters", "up"),
            Link(f"{self.base}/LocalTimeParameters/{LOCAL_TIME_ID}", "self"),
        ]
        body = self._resource("LocalTimeParameters", PACIFIC)
        return self.shape.entry(
            self._parts(links, "DST For North America", body, standalone), standalone=standalone
        )

    def interval_block(self, sid: str, point: str, block: DayBlock, *, standalone: bool) -> str:
        collection = f"{self.reading_href(sid, point)}/IntervalBlock"
        links = [Link(collection, "up"), Link(f"{collection}/{block.start}", "self")]

        def body(depth: int) -> str:
            return self.shape.interval_block(
                block.start,
                block.duration,
                block.readings,
                declare=standalone or not self.shape.pge,
                depth=depth,
            )

        return self.shape.entry(
            self._parts(links, f"IntervalBlock_{block.start}", body, standalone, block.start),
            standalone=standalone,
        )

    def blocks(self, point: str, low: int | None, high: int | None) -> list[DayBlock]:
        """The point's day blocks published in [low, high) (published = the day's start)."""
        return [
            b
            for b in day_blocks(point, self.now)
            if (low is None or b.start >= low) and (high is None or b.start < high)
        ]

    def periods(self, point: str) -> tuple[BillingPeriod, ...]:
        return billing_periods(point, self.now)

    def usage_summary(
        self, sid: str, point: str, period: BillingPeriod, *, standalone: bool
    ) -> str:
        collection = f"{self.point_href(sid, point)}/UsageSummary"
        ident = summary_id(period)
        links = [Link(collection, "up"), Link(f"{collection}/{ident}", "self")]
        kwh = period.wh / 1000
        peak, off_peak = round(kwh * 0.3, 3), round(kwh - round(kwh * 0.3, 3), 3)
        span = [("duration", period.duration), ("start", period.start)]

        def charge(amount: int, note: str, uom: int, mwh: int, kind: int, unit: int | None) -> Node:
            measurement: list[Node] = [("powerOfTenMultiplier", -3), ("uom", uom), ("value", mwh)]
            children: list[Node] = [
                ("amount", amount),
                ("note", note),
                ("measurement", measurement),
                ("itemKind", kind),
            ]
            if unit is not None:
                children.append(("unitCost", unit))
            children.append(("itemPeriod", span))
            return ("costAdditionalDetailLastPeriod", children)

        peak_cost = round(peak * 52_000)  # $0.52/kWh, in 10^-5 USD
        off_cost = round(off_peak * 38_000)
        tax = round(kwh * 30)  # $0.0003/kWh
        fields: list[Node] = [
            ("billingPeriod", span),
            ("billLastPeriod", peak_cost + off_cost + tax),
            charge(peak_cost, "Peak Energy Charge", 72, round(peak * 1_000_000), 3, 52_000),
            charge(off_cost, "Off Peak Energy Charge", 72, round(off_peak * 1_000_000), 3, 38_000),
            charge(tax, "Energy Commission Tax", 72, 0, 5, None),
            (
                "overallConsumptionLastPeriod",
                [
                    ("powerOfTenMultiplier", -3),
                    ("uom", 72),
                    ("value", period.wh * 1000),
                    ("readingTypeRef", f"{self.base}/ReadingType/{READING_TYPE_ID}"),
                ],
            ),
            ("qualityOfReading", 17),
            ("statusTimeStamp", period.start + period.duration),
            ("commodity", 1),
            ("tariffProfile", "ETOUC"),
            ("readCycle", "Q"),
        ]
        body = self._resource("UsageSummary", fields)
        end = period.start + period.duration
        return self.shape.entry(
            self._parts(links, f"UsageSummary_{end * 1000}", body, standalone, end),
            standalone=standalone,
        )

    def authorization(self, grant: Grant | None, client: Client, *, standalone: bool) -> str:
        """A customer's Authorization, or (``grant`` None) the client's ASP-level one."""
        aid = grant.authorization_id if grant else client.authorization_id
        href = f"{self.base}/Authorization/{aid}"
        resource = (
            f"{self.base}/Batch/Subscription/{grant.subscription_id}"
            if grant
            else f"{self.base}/Batch/Bulk/{client.bulk_id}"
        )
        start = grant.created if grant else client.issued_at
        fields: list[Node] = [
            ("authorizedPeriod", [("duration", 365 * 86400), ("start", start)]),
            ("publishedPeriod", [("duration", 34128000), ("start", start - 34128000)]),
            ("status", grant.status if grant else 1),
            ("expires_at", start + 365 * 86400),
            ("scope", grant.scope if grant else client.scope),
            ("token_type", "Bearer"),
            ("resourceURI", resource),
            ("authorizationURI", href),
        ]
        body = self._resource("Authorization", fields)
        links = [Link(f"{self.base}/Authorization", "up"), Link(href, "self")]
        return self.shape.entry(
            self._parts(links, "Green Button Authorization", body, standalone, start),
            standalone=standalone,
        )

    def application(self, client: Client, custodian: str, *, standalone: bool) -> str:
        """``custodian``: the public base (PG&E's https://api.pge.com/GreenButtonConnect)."""
        href = f"{self.base}/ApplicationInformation/{client.application_id}"
        redirect: list[Node] = [("redirect_uri", uri) for uri in client.redirect_uris]
        fields: list[Node] = [
            ("dataCustodianId", "PGE"),
            ("dataCustodianApplicationStatus", 2),
            ("thirdPartyApplicationDescription", f"Third party application {client.client_id}"),
            ("thirdPartyApplicationType", 1),
            ("thirdPartyPhone", "4155550100"),
            ("authorizationServerUri", custodian),
            (
                "thirdPartyNotifyUri",
                f"{client.redirect_uris[0].rsplit('/', 1)[0]}/notify"
                if client.redirect_uris
                else "https://asp.example.com/notify",
            ),
            ("authorizationServerAuthorizationEndpoint", f"{custodian}/oauth/authorize"),
            ("authorizationServerTokenEndpoint", f"{custodian}/oauth/token"),
            ("dataCustodianBulkRequestURI", f"{self.base}/Batch/Bulk/{client.bulk_id}"),
            ("dataCustodianResourceEndpoint", self.base),
            ("thirdPartyScopeSelectionScreenURI", "https://asp.example.com/scope"),
            ("thirdPartyUserPortalScreenURI", "https://asp.example.com"),
            ("client_secret", client.client_secret or ""),
            ("client_name", client.client_id),
            *redirect,
            ("client_id", client.client_id),
            ("software_id", "NA"),
            ("software_version", "NA"),
            ("client_id_issued_at", client.issued_at),
            ("client_secret_expires_at", 0),
            ("contacts", "support@asp.example.com"),
            (
                "token_endpoint_auth_method",
                "client_secret_basic" if client.client_secret else "none",
            ),
            ("scope", client.scope),
            ("grant_types", "authorization_code"),
            ("grant_types", "client_credentials"),
            ("grant_types", "refresh_token"),
            ("response_types", "code"),
            ("registration_client_uri", href),
            (
                "registration_access_token",
                hashlib.sha256(f"RAT:{client.client_id}".encode()).hexdigest()[:32],
            ),
            ("dataCustodianScopeSelectionScreenURI", f"{custodian}/oauth/authorize"),
        ]
        body = self._resource("ApplicationInformation", fields)
        links = [Link(f"{self.base}/ApplicationInformation", "up"), Link(href, "self")]
        return self.shape.entry(
            self._parts(
                links,
                "GreenButtonData.org  DataCustodian Application",
                body,
                standalone,
                client.issued_at,
            ),
            standalone=standalone,
        )

    def service_status(self) -> str:
        if self.shape.pge:
            return (
                '<ns0:ServiceStatus xmlns:ns0="http://naesb.org/espi">\n'
                "   <ns0:currentStatus>1</ns0:currentStatus>\n</ns0:ServiceStatus>\n"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<espi:ServiceStatus xmlns:espi="http://naesb.org/espi">\n'
            "    <espi:currentStatus>1</espi:currentStatus>\n</espi:ServiceStatus>\n"
        )
