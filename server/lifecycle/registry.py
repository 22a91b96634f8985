"""The central registry of qualified ASPs: reading it and applying it (concept design 6.4.4-6.4.6).

The central authority publishes which ASPs are qualified for the Single Statewide Tool;
``espi-sst asp-registry load FILE`` applies its file here.  Each listed status goes through
:func:`server.lifecycle.set_qualification`, which ends a withdrawn ASP's access and tells its
customers; this module only reads the file strictly and decides what to set.  Loading is all
or nothing: nothing commits here, and a malformed or stale file raises before anything
changes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import DocumentError
from ..security.strict_json import Checker, read_json_file
from ..storage.models import Application, AuditEvent
from ..storage.rows import audit
from .access import MAX_TEXT, QualificationChange, set_qualification
from .classes import ASP_CLASSES, ClassChange, set_asp_class

REGISTRY_FORMAT = "espi-sst-asp-registry/1"
REGISTRY_STATUSES = ("qualified", "dequalified", "suspended")


class RegistryError(DocumentError):
    """An ASP registry file that cannot be loaded; nothing of it was applied.

    Attributes:
        index: the entry of ``asps`` at fault (None: the document itself).
        field: the field at fault, when there is one.
    """

    code = "asp_registry_invalid"


@dataclass(frozen=True)
class RegistryEntry:
    software_id: str
    name: str
    status: str  # qualified | dequalified | suspended
    reason: str | None
    asp_class: str | None = None  # data-only | rate-change; None: the file does not say


@dataclass(frozen=True)
class AspRegistry:
    """A validated registry document (see :func:`parse_asp_registry`)."""

    published: dt.datetime
    published_text: str
    entries: tuple[RegistryEntry, ...]
    source: str
    sha256: str | None = None


@dataclass(frozen=True)
class RegistryReport:
    """What loading a registry did.

    Applications the registry does not list are left as they are and reported in
    ``not_listed``: a utility may keep local test clients (registered ``pending`` or
    ``qualified`` by an operator) that the central authority never lists.
    """

    published: str
    listed: int
    changes: tuple[QualificationChange, ...] = ()
    unchanged: tuple[str, ...] = ()  # client ids already as the registry says
    kept_blocked: tuple[str, ...] = ()  # client ids blocked here; the registry cannot lift it
    not_listed: tuple[str, ...] = ()  # client ids whose software_id the registry lacks
    unknown: tuple[str, ...] = ()  # listed software ids with no application here
    details: dict[str, str] = field(default_factory=dict)  # client id -> registry status
    class_changes: tuple[ClassChange, ...] = ()  # 6.4.2: upgrades and downgrades

    @property
    def authorizations_ended(self) -> int:
        return sum(c.authorizations_ended for c in self.changes)

    @property
    def tokens_revoked(self) -> int:
        return sum(c.tokens_revoked for c in self.changes)

    @property
    def customers_notified(self) -> int:
        return sum(c.customers_notified for c in self.changes)


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", re.ASCII)
_TOP_FIELDS = ("format", "published", "asps")
_REQUIRED_ENTRY_FIELDS = ("software_id", "name", "status")
_OPTIONAL_ENTRY_FIELDS = ("reason", "class")


def parse_asp_registry(document: str | os.PathLike[str] | Mapping[str, Any]) -> AspRegistry:
    """Read and validate a registry published by the central authority (6.4.4).

    ``{"format": "espi-sst-asp-registry/1", "published": RFC 3339, "asps": [{"software_id",
    "name", "status": qualified | dequalified | suspended, "reason"?, "class"?: data-only |
    rate-change}]}``.  Strict: unknown fields, duplicate keys or software ids, and a missing
    time zone are errors, so a typo never silently re-qualifies (or fails to de-qualify) an
    ASP.  ``class`` (concept design 6.4.2) is optional: files written before it keep
    loading, and an entry without it leaves the application's class as it is -- an old file
    must neither downgrade an ASP (ending its customers' rate changes) nor upgrade one.

    Raises:
        RegistryError: naming the entry index and field, and how to fix it.
    """
    digest = None
    if isinstance(document, Mapping):
        source, data = "<document>", document
    else:
        source = str(document)
        data, digest = read_json_file(document, RegistryError)
    check = Checker(source, "asps", RegistryError)
    fail = check.fail
    data = check.fields(data, _TOP_FIELDS)
    if data["format"] != REGISTRY_FORMAT:
        raise fail(f"{data['format']!r} is not {REGISTRY_FORMAT!r}", name="format")
    published_text = data["published"]
    if not isinstance(published_text, str) or not _RFC3339.fullmatch(published_text):
        raise fail(
            f"{published_text!r} is not an RFC 3339 time with a zone (2025-01-31T00:00:00Z)",
            name="published",
        )
    try:
        published = dt.datetime.fromisoformat(published_text)
    except ValueError as exc:
        raise fail(f"{published_text!r}: {exc}", name="published") from None
    asps = data["asps"]
    if not isinstance(asps, list):
        raise fail("must be a list of ASP entries", name="asps")
    entries: list[RegistryEntry] = []
    seen: dict[str, int] = {}
    for index, value in enumerate(asps):
        item = check.fields(value, _REQUIRED_ENTRY_FIELDS, _OPTIONAL_ENTRY_FIELDS, index=index)
        for key in ("software_id", "name"):
            value = item[key]
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
                raise fail(
                    f"must be a non-empty string of at most {MAX_TEXT} characters", index, key
                )
        if item["status"] not in REGISTRY_STATUSES:
            raise fail(
                f"{item['status']!r} is not one of {', '.join(REGISTRY_STATUSES)}", index, "status"
            )
        reason = item.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_TEXT):
            raise fail(
                f"must be a string of at most {MAX_TEXT} characters, or absent", index, "reason"
            )
        asp_class = item.get("class")
        if asp_class is not None and asp_class not in ASP_CLASSES:
            raise fail(
                f"{asp_class!r} is not one of {', '.join(ASP_CLASSES)} (or leave it out)",
                index,
                "class",
            )
        if item["software_id"] in seen:
            raise fail(
                f"{item['software_id']!r} is listed twice (first at asps[{seen[item['software_id']]}])",
                index,
                "software_id",
            )
        seen[item["software_id"]] = index
        entries.append(
            RegistryEntry(
                item["software_id"], item["name"], item["status"], reason or None, asp_class
            )
        )
    return AspRegistry(published, published_text, tuple(entries), source, digest)


def load_asp_registry(
    session: Session,
    path_or_document: str | os.PathLike[str] | Mapping[str, Any],
    *,
    now: int,
    actor: str = "registry",
    allow_older: bool = False,
) -> RegistryReport:
    """Apply the central authority's registry: all of it, or nothing (6.4.4-6.4.6).

    An application is matched by ``software_id``.  Listed ``dequalified`` / ``suspended``:
    :func:`set_qualification` ends its access; listed ``qualified``: it may ask again.
    Locally ``blocked`` applications stay blocked whatever the registry says (6.4.6).
    A registry published before the last one loaded is refused unless ``allow_older``:
    replaying an old file must not re-qualify an ASP de-qualified since.

    Raises:
        RegistryError: a malformed or stale registry; nothing was changed.
    """
    registry = parse_asp_registry(path_or_document)
    last = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "asp_registry_loaded")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    before = (last.detail or {}).get("published") if last is not None else None
    if before and not allow_older:
        if registry.published < dt.datetime.fromisoformat(before):
            raise RegistryError(
                f"{registry.source}: published {registry.published_text} is older than the "
                f"registry loaded before ({before}); load the newest file "
                "(or pass --allow-older if the central authority withdrew the newer one)",
                field="published",
                code="stale_registry",
            )
    if registry.published.timestamp() > now + 86_400:
        raise RegistryError(
            f"{registry.source}: published {registry.published_text} is in the future; check "
            "the file (and this machine's clock)",
            field="published",
        )
    by_software = {entry.software_id: entry for entry in registry.entries}
    changes: list[QualificationChange] = []
    unchanged: list[str] = []
    kept_blocked: list[str] = []
    not_listed: list[str] = []
    seen: set[str] = set()
    details: dict[str, str] = {}
    class_changes: list[ClassChange] = []
    source = f"asp-registry published {registry.published_text}"
    for application in session.scalars(select(Application).order_by(Application.id)).all():
        entry = by_software.get(application.software_id)
        if entry is None:
            not_listed.append(application.client_id)
            continue
        seen.add(entry.software_id)
        details[application.client_id] = entry.status
        if application.qualification == "blocked":
            kept_blocked.append(application.client_id)
            continue
        change = set_qualification(
            session,
            application,
            entry.status,
            reason=entry.reason,
            actor=actor,
            now=now,
            source=source,
        )
        if entry.asp_class is not None:
            moved = set_asp_class(
                session, application, entry.asp_class, actor=actor, now=now, source=source
            )
            if moved.changed:
                class_changes.append(moved)
        if change.changed or change.tokens_revoked or change.authorizations_ended:
            changes.append(change)
        else:
            unchanged.append(application.client_id)
    report = RegistryReport(
        published=registry.published_text,
        listed=len(registry.entries),
        changes=tuple(changes),
        unchanged=tuple(unchanged),
        kept_blocked=tuple(kept_blocked),
        not_listed=tuple(not_listed),
        unknown=tuple(e.software_id for e in registry.entries if e.software_id not in seen),
        details=details,
        class_changes=tuple(class_changes),
    )
    audit(
        session,
        now,
        actor,
        "asp_registry_loaded",
        "asp-registry",
        {
            "published": registry.published_text,
            "source": registry.source,
            "sha256": registry.sha256,
            "listed": report.listed,
            "changed": [f"{c.client_id}:{c.previous}->{c.status}" for c in changes],
            "class_changed": [f"{c.client_id}:{c.previous}->{c.asp_class}" for c in class_changes],
            "kept_blocked": kept_blocked,
            "not_listed": not_listed,
            "unknown": list(report.unknown),
        },
    )
    return report
