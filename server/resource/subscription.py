"""The Green Button Subscription Feed: everything a subscription shares, in one Atom feed.

Served at ``Batch/Subscription/{id}`` (GBA ``connectMyDataFeedBySubscription``) and at
``Subscription/{id}`` (the ``resourceURI`` form GBC token responses have used; OpenESPI
serves the whole subscription there too).  The order is the GBA example's -- parents before
children, so any page of it is a usable prefix of the graph: for each UsagePoint, the
UsagePoint, its LocalTimeParameters, then per MeterReading the MeterReading, its
ReadingType and its IntervalBlocks; then the UsagePoint's UsageSummaries.  Shared
resources (ReadingType, LocalTimeParameters) appear once.

What appears depends on the grant: the usage categories (UsagePoint, LocalTimeParameters,
MeterReading, ReadingType, IntervalBlock) need ``usage``; UsageSummary needs ``billing``
(see ``routes.py``).  ``published-*`` / ``updated-*`` select IntervalBlocks and
UsageSummaries; the structural entries always come, so the link graph resolves.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from ..storage.models import Authorization
from ..storage.zones import zone_of
from . import access
from .atom_stream import BlockEntry, FeedItem
from .blocks import Calendar, iter_day_blocks
from .build import EntryBuilder
from .query import FeedQuery
from .sst_content import SstView
from .summary_consumption import summary_consumption_wh
from .summary_quality import summary_quality


def subscription_entries(
    session: Session,
    builder: EntryBuilder,
    authorization: Authorization,
    query: FeedQuery,
    *,
    usage: bool,
    billing: bool,
    sst: SstView,
) -> Iterator[FeedItem]:
    """Every entry of the subscription the grant's categories allow, in feed order, one at a
    time: IntervalBlocks as :class:`BlockEntry` (written from a template by
    ``atom_stream.py``), read in chunks, so memory stays bounded however much data."""
    shown_local_times: set[int] = set()
    shown_reading_types: set[int] = set()
    for point in access.usage_points(session, authorization):
        local_time = point.local_time
        if usage:
            yield builder.usage_point(
                point, local_time.uuid if local_time else None, sst.kinds(point)
            )
            if local_time is not None and local_time.id not in shown_local_times:
                shown_local_times.add(local_time.id)
                yield builder.local_time(local_time)
            calendar = Calendar(zone_of(local_time))
            for reading in access.meter_readings(session, point):
                reading_type = reading.reading_type
                yield builder.meter_reading(point.uuid, reading, reading_type.uuid)
                if reading_type.id not in shown_reading_types:
                    shown_reading_types.add(reading_type.id)
                    yield builder.reading_type(reading_type)
                for block in iter_day_blocks(session, reading.id, calendar, query):
                    yield BlockEntry(builder, point.uuid, reading.uuid, block)
        if billing:
            for summary in access.usage_summaries(session, point):
                if selected_summary(summary.billing_period_start, summary.status_time_stamp, query):
                    yield builder.usage_summary(
                        point.uuid,
                        summary,
                        sst.rin_elements(point, summary),
                        quality=summary_quality(session, summary),
                        consumption_wh=summary_consumption_wh(session, summary),
                    )


def selected_summary(period_start: int, status_time: int, query: FeedQuery) -> bool:
    """A UsageSummary is published at its period's start and updated at its status time."""
    return query.published_in_range(period_start) and query.updated_in_range(status_time)
