"""The Atom layer that carries ESPI resources (RFC 4287 as profiled by ESPI / the GBA).

ESPI puts each resource in an ``atom:entry`` whose ``content`` holds one espi or customer
element; entries name themselves and their relatives with ``self``, ``up`` and ``related``
links, and the reader resolves the resource graph from those hrefs, never from positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ._base import ModelObject

__all__ = ["Entry", "Feed", "Link"]


@dataclass(frozen=True)
class Link:
    """An ``atom:link``: ``rel`` is ``self``, ``up`` or ``related`` in ESPI."""

    href: str
    rel: str
    type: str | None = None


@dataclass(kw_only=True, eq=True)
class Entry:
    """One ``atom:entry``: normally one ESPI resource in ``atom:content``.

    ``contents`` holds every resource of the content element: real files put several
    IntervalBlocks in one entry (Texas, Eversource), which Atom's content model allows.
    ``content`` is the first of them, the usual way to look at an entry.
    """

    id: str | None = None
    title: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    links: list[Link] = field(default_factory=list)
    contents: list[ModelObject] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)

    def __init__(
        self,
        *,
        id: str | None = None,
        title: str | None = None,
        published: datetime | None = None,
        updated: datetime | None = None,
        links: list[Link] | None = None,
        content: ModelObject | None = None,
        contents: list[ModelObject] | None = None,
        line: int | None = None,
    ) -> None:
        self.id = id
        self.title = title
        self.published = published
        self.updated = updated
        self.links = list(links) if links else []
        self.contents = list(contents) if contents else ([content] if content is not None else [])
        self.line = line

    @property
    def content(self) -> ModelObject | None:
        return self.contents[0] if self.contents else None

    def link(self, rel: str) -> str | None:
        """The href of the first link with this ``rel``, or None."""
        for link in self.links:
            if link.rel == rel:
                return link.href
        return None

    @property
    def self_href(self) -> str | None:
        return self.link("self")

    @property
    def up_href(self) -> str | None:
        return self.link("up")

    @property
    def related_hrefs(self) -> list[str]:
        return [link.href for link in self.links if link.rel == "related"]


@dataclass(kw_only=True, eq=True)
class Feed:
    """An ``atom:feed``: the usual shape of a Green Button download or Batch response."""

    id: str | None = None
    title: str | None = None
    updated: datetime | None = None
    links: list[Link] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
