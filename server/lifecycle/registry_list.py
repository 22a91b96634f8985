"""The central authority's signed list of qualified ASPs, format 2: its shape and its seal.

Concept design 6.4.4 (the authority keeps the list every entity trusts) and issue 20: the
list is the JSON payload of a compact JWS (RFC 7515 section 7.1; joserfc, Authlib's JOSE successor: ``authlib.jose``
is deprecated), alg ES256 (RFC 7518
section 3.4), header ``kid`` (the key in the authority's published JWKS, RFC 7517 section 5)
and ``typ: espi-sst-asp-registry+jws`` (RFC 7515 section 4.1.9: explicit typing, so no other
JWS the authority signs can be passed off as a list).  Both sides use this module: the
authority checks the payload before it signs (``server/authority/signed_list.py``), each
entity checks it again after the signature (``registry_sync.py``).

:func:`check_registry_payload` is strict (unknown fields, duplicates, a time without a zone are
errors): a typo must never silently re-qualify an ASP.  :func:`verify_registry` refuses an
unsigned, tampered, wrongly-issued, stale or replayed list with a one-line reason; the caller
applies nothing of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from ..errors import DocumentError
from .classes import ASP_CLASSES

REGISTRY_FORMAT_2 = "espi-sst-asp-registry/2"
REGISTRY_TYP = "espi-sst-asp-registry+jws"
REGISTRY_ALG = "ES256"
LIST_STATUSES = ("qualified", "suspended", "withdrawn", "dequalified")
MAX_TEXT = 256
MAX_URIS = 20

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", re.ASCII)
_TOP = ("format", "issuer", "sequence", "published", "expires", "terms_version", "asps")
_ASP = (
    "software_id",
    "name",
    "legal_entity",
    "status",
    "reason",
    "asp_class",
    "terms_version",
    "contacts",
    "redirect_uris",
    "notify_uri",
    "client_ids",
)


class RegistryListError(DocumentError):
    """A signed list that cannot be used: malformed, unsigned, tampered, wrongly issued,
    stale or replayed.  Nothing of it was applied."""

    code = "registry_list_refused"


@dataclass(frozen=True)
class ListedAsp:
    software_id: str
    name: str
    legal_entity: str
    status: str  # qualified | suspended | withdrawn | dequalified
    reason: str | None
    asp_class: str  # data-only | rate-change
    terms_version: str
    contacts: tuple[tuple[str, str], ...]  # (role, email)
    redirect_uris: tuple[str, ...]
    notify_uri: str | None
    client_ids: Mapping[str, str | None]


@dataclass(frozen=True)
class RegistryList:
    """A checked payload (see :func:`check_registry_payload`)."""

    issuer: str
    sequence: int
    published: dt.datetime
    expires: dt.datetime
    terms_version: str
    asps: tuple[ListedAsp, ...]


def _fail(message: str, index: int | None = None, name: str | None = None) -> RegistryListError:
    where = "the list" if index is None else f"asps[{index}]"
    if name is not None:
        where += f".{name}"
    return RegistryListError(f"{where}: {message}", index=index, field=name)


def _text(value: Any, index: int | None, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _fail(
            f"must be a non-empty string of at most {MAX_TEXT} characters"
            + (" or null" if optional else ""),
            index,
            name,
        )
    return value


def _time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise _fail(
            f"{value!r} is not an RFC 3339 time with a zone (2026-01-31T00:00:00Z)", None, name
        )
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(f"{value!r}: {exc}", None, name) from None


def _fields(value: Any, names: tuple[str, ...], index: int | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("must be a JSON object", index)
    missing = [n for n in names if n not in value]
    if missing:
        raise _fail(f"missing {', '.join(missing)}", index)
    extra = sorted(set(value) - set(names))
    if extra:
        raise _fail(f"unknown field(s) {', '.join(extra)} (format {REGISTRY_FORMAT_2})", index)
    return value


def check_registry_payload(payload: Any) -> RegistryList:
    """Check a format-2 payload field by field (the contract of issue 20).

    Raises:
        RegistryListError: naming the entry and field at fault, and what it must be.
    """
    data = _fields(payload, _TOP, None)
    if data["format"] != REGISTRY_FORMAT_2:
        raise _fail(f"{data['format']!r} is not {REGISTRY_FORMAT_2!r}", None, "format")
    issuer = _text(data["issuer"], None, "issuer")
    sequence = data["sequence"]
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise _fail("must be a positive integer (+1 per publication)", None, "sequence")
    published, expires = _time(data["published"], "published"), _time(data["expires"], "expires")
    if expires <= published:
        raise _fail("must be later than published", None, "expires")
    terms = _text(data["terms_version"], None, "terms_version")
    if not isinstance(data["asps"], list):
        raise _fail("must be a list of ASP entries", None, "asps")
    asps: list[ListedAsp] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data["asps"]):
        item = _fields(raw, _ASP, i)
        software_id = _text(item["software_id"], i, "software_id")
        assert software_id is not None
        if software_id in seen:
            raise _fail(
                f"{software_id!r} is listed twice (first at asps[{seen[software_id]}])",
                i,
                "software_id",
            )
        seen[software_id] = i
        if item["status"] not in LIST_STATUSES:
            raise _fail(f"{item['status']!r} is not one of {', '.join(LIST_STATUSES)}", i, "status")
        if item["asp_class"] not in ASP_CLASSES:
            raise _fail(
                f"{item['asp_class']!r} is not one of {', '.join(ASP_CLASSES)}", i, "asp_class"
            )
        contacts = item["contacts"]
        if not isinstance(contacts, list) or not all(
            isinstance(c, dict)
            and set(c) == {"role", "email"}
            and all(isinstance(c[k], str) and 0 < len(c[k]) <= MAX_TEXT for k in c)
            for c in contacts
        ):
            raise _fail('must be a list of {"role": str, "email": str}', i, "contacts")
        uris = item["redirect_uris"]
        if (
            not isinstance(uris, list)
            or not 1 <= len(uris) <= MAX_URIS
            or not all(isinstance(u, str) and 0 < len(u) <= 512 for u in uris)
        ):
            raise _fail(f"must be a list of 1 to {MAX_URIS} URIs", i, "redirect_uris")
        client_ids = item["client_ids"]
        if not isinstance(client_ids, dict) or not all(
            isinstance(k, str) and (v is None or (isinstance(v, str) and 0 < len(v) <= 64))
            for k, v in client_ids.items()
        ):
            raise _fail(
                "must map entity ids to a client id (at most 64 characters) or null",
                i,
                "client_ids",
            )
        asps.append(
            ListedAsp(
                software_id=software_id,
                name=str(_text(item["name"], i, "name")),
                legal_entity=str(_text(item["legal_entity"], i, "legal_entity")),
                status=item["status"],
                reason=_text(item["reason"], i, "reason", optional=True),
                asp_class=item["asp_class"],
                terms_version=str(_text(item["terms_version"], i, "terms_version")),
                contacts=tuple((c["role"], c["email"]) for c in contacts),
                redirect_uris=tuple(uris),
                notify_uri=_text(item["notify_uri"], i, "notify_uri", optional=True),
                client_ids=dict(client_ids),
            )
        )
    return RegistryList(str(issuer), sequence, published, expires, str(terms), tuple(asps))


def verify_registry(
    compact: str | bytes,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    max_age_seconds: int,
    now: int,
    last_sequence: int | None,
) -> RegistryList:
    """The list inside ``compact``, once its seal and its freshness hold.

    Checked in this order, each failure one line: compact JWS signed by a key of ``jwks``
    (found by ``kid``; ES256 only: RFC 8725 section 3.1, no ``none``, no algorithm taken
    from the token), ``typ``, the payload's format, ``issuer`` (RFC 8725 section 3.8),
    ``published`` no older than ``max_age_seconds`` and not in the future, ``expires``
    ahead, ``sequence`` at least the last applied one (equal: the same publication again,
    harmless; lower: a replay of an older list, which could re-qualify a withdrawn ASP).

    Raises:
        RegistryListError: why the list is refused.
    """
    text = compact.decode("ascii", "replace") if isinstance(compact, bytes) else compact
    text = text.strip()
    if text.count(".") != 2:
        raise RegistryListError(
            "the registry is not a compact JWS (three dot-separated parts): an unsigned list "
            "is never applied",
            code="registry_unsigned",
        )
    try:
        keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise RegistryListError(f"the authority's key set is unusable: {exc}") from None
    try:
        signed = jws.deserialize_compact(text, keys, algorithms=[REGISTRY_ALG])
    except InvalidKeyIdError:
        raise RegistryListError(
            "the registry is signed with a key not in the authority's key set",
            code="registry_unknown_key",
        ) from None
    except (JoseError, ValueError, TypeError) as exc:
        raise RegistryListError(
            f"the registry's signature does not verify ({exc}): tampered, or not the authority's",
            code="registry_bad_signature",
        ) from None
    header = signed.protected
    if header.get("typ") != REGISTRY_TYP:
        raise RegistryListError(
            f"the JWS typ is {header.get('typ')!r}, not {REGISTRY_TYP!r}: not a registry",
            code="registry_wrong_type",
        )
    try:
        payload = json.loads(signed.payload)
    except ValueError as exc:
        raise RegistryListError(f"the signed payload is not JSON: {exc}") from None
    registry = check_registry_payload(payload)
    if registry.issuer != issuer:
        raise RegistryListError(
            f"the list is issued by {registry.issuer!r}, not {issuer!r} (REGISTRY_ISSUER)",
            code="registry_wrong_issuer",
        )
    published = int(registry.published.timestamp())
    if published > now + 300:
        raise RegistryListError(
            f"the list's published time {registry.published.isoformat()} is in the future; "
            "check this machine's clock",
            code="registry_stale",
        )
    if now - published > max_age_seconds:
        raise RegistryListError(
            f"the list was published {registry.published.isoformat()}, more than "
            f"{max_age_seconds} s ago (REGISTRY_MAX_AGE_SECONDS): stale",
            code="registry_stale",
        )
    if registry.expires.timestamp() <= now:
        raise RegistryListError(
            f"the list expired at {registry.expires.isoformat()}: stale",
            code="registry_stale",
        )
    if last_sequence is not None and registry.sequence < last_sequence:
        raise RegistryListError(
            f"the list's sequence {registry.sequence} is lower than the last applied here "
            f"({last_sequence}): a replayed older list",
            code="registry_replayed",
        )
    return registry
