"""Giving an upstream ESPI answer the SST additions and this server's URLs.

The upstream body is read with the library (a body it cannot read is the upstream's
fault: 502).  Then, as far as the grant's scopes allow (``resource/sst_content.py``, the
same rules as the standalone server): UsagePoint entries get links to the SST resources,
and UsageSummary entries of locally known usage points get the RIN elements in their
``espi:extension``.  Every href under the upstream's resource base is re-based onto this
server's (Atom ids stay: they name the resource, not its location).  The document is
written back with ``espi_sst.serialize``, which refuses anything schema-invalid.
"""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

import espi_sst
from espi_sst.model import Entry, Feed, Link
from espi_sst.model import espi as m
from espi_sst.xml import make_extension

from ..resource.sst_content import SstView
from ..resource.urls import feed_link
from ..storage.models import UsagePoint, UsageSummary
from .forward import UpstreamError

_POINT = re.compile(r"/UsagePoint/([^/?#]+)")


def rebase(href: str, upstream: str, local: str) -> str:
    return local + href[len(upstream) :] if href.startswith(upstream) else href


def merged(
    body: bytes,
    *,
    upstream: str,
    local: str,
    sst: SstView,
    session: Session,
    shared: frozenset[int],
) -> bytes:
    """The upstream document with SST additions, hrefs re-based; bytes to send.

    ``shared``: the ids of the usage points the grant here covers -- only those get SST
    additions (an SST add-on consent names the points the customer ticked).
    """
    try:
        document = espi_sst.parse(body)
    except espi_sst.EspiError as exc:
        raise UpstreamError(
            502, "bad_gateway", f"the utility's data custodian sent an unreadable answer: {exc}", 5
        ) from None
    points: dict[str, UsagePoint | None] = {}

    def point(uid: str) -> UsagePoint | None:
        if uid not in points:
            found = session.scalar(select(UsagePoint).where(UsagePoint.uuid == uid))
            points[uid] = found if found is not None and found.id in shared else None
        return points[uid]

    entries = [_entry(e, upstream, local, sst, point) for e in document.entries]
    if document.feed is not None:
        feed = document.feed
        out: Feed | Entry = Feed(
            id=feed.id,
            title=feed.title,
            updated=feed.updated,
            links=[Link(rebase(x.href, upstream, local), x.rel, x.type) for x in feed.links],
            entries=entries,
        )
    elif len(entries) == 1:
        out = entries[0]
    else:
        raise UpstreamError(
            502, "bad_gateway", "the upstream answer is neither a feed nor an entry", 5
        )
    return espi_sst.serialize(out, pretty=False)


def _entry(entry: Entry, upstream: str, local: str, sst: SstView, point: object) -> Entry:
    links = [Link(rebase(x.href, upstream, local), x.rel, x.type) for x in entry.links]
    self_href = next((x.href for x in links if x.rel == "self"), "")
    match = _POINT.search(self_href)
    local_point = point(match.group(1)) if match and callable(point) else None
    contents = list(entry.contents)
    for index, content in enumerate(contents):
        if isinstance(content, m.UsagePoint) and local_point is not None:
            base = self_href.split("?", 1)[0]
            links += [
                feed_link(f"{base}/{kind}", "related", kind) for kind in sst.kinds(local_point)
            ]
        elif isinstance(content, m.UsageSummary) and local_point is not None:
            elements = sst.rin_elements(local_point, _summary_row(content))
            if elements:
                contents[index] = dataclasses.replace(
                    content, extension=[*content.extension, make_extension(*elements)]
                )
    return dataclasses.replace(entry, links=links, contents=contents)


def _summary_row(summary: m.UsageSummary) -> UsageSummary:
    """The fields SstView looks at, from the upstream's summary (its billing period)."""
    period = summary.billing_period
    return UsageSummary(
        billing_period_start=(period.start if period and period.start is not None else 0),
        billing_period_duration=(period.duration if period and period.duration is not None else 0),
    )
