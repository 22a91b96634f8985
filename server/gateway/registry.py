"""The statewide gateway's registry: which entities take part and where their servers are.

Concept design 2.2.2 and 6.2: the Single Statewide Tool is a thin API proxy gateway with no
data of its own, in front of each participating IOU, POU and CCA's own server.  This file
is the gateway's only input: one public base URL and, per entity, its id (the path segment
of ``/SST/v1/{id}/``), kind and upstream server.  A CCA names its distribution utility
(``udc``: section 2.8, the IOU that performs SST functions on its behalf) and says whether
its customers have online accounts with the CCA itself.  An entity whose existing Green
Button Connect custodian stays as it is names it (``custodian``): its ``upstream`` is then
the SST bolt-on beside it, and the gateway splits the entity's paths between the two
(``nginx.py``, docs/deployment.md "Split entities").

The reader is strict (unknown fields, duplicate keys or ids, a CCA whose UDC is not listed
are errors) because every value ends up in an nginx configuration: a typo must stop the
generator with a message naming the entry and field, never route ASPs' traffic wrongly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import DocumentError
from ..security.strict_json import Checker, read_json_file

REGISTRY_FORMAT = "espi-sst-gateway-registry/1"
ENTITY_KINDS = ("IOU", "POU", "CCA")
SST_PREFIX = "/SST/v1"
MAX_NAME = 200

_ID = re.compile(r"[A-Z0-9]{2,16}", re.ASCII)
# Characters a URL may carry into nginx.conf unquoted and into JSON untouched: no spaces,
# quotes, ``;``, braces, ``$`` (an nginx variable) or backslashes.
_URL_SAFE = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!&()*+,=%-]+", re.ASCII)
# An upstream's path goes into proxy_pass and a proxy_cookie_path regex: plain characters.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~/-]*", re.ASCII)
_TOP_FIELDS = ("format", "public_base_url", "entities")
_REQUIRED_ENTITY_FIELDS = ("id", "name", "kind", "upstream")
_CCA_FIELDS = ("udc", "online_accounts")
_OPTIONAL_ENTITY_FIELDS = (*_CCA_FIELDS, "custodian")


class GatewayRegistryError(DocumentError):
    """A gateway registry that cannot be used; no configuration was generated from it.

    Attributes:
        code: a stable machine code (``gateway_registry_invalid``, ``unreadable``).
        index: the entry of ``entities`` at fault (None: the document itself).
        field: the field at fault, when there is one.
    """

    code = "gateway_registry_invalid"


@dataclass(frozen=True)
class Entity:
    """One participating load-serving entity and the server that answers for it."""

    id: str
    name: str
    kind: str  # IOU | POU | CCA
    upstream: str  # http(s)://host[:port][/path], without a trailing slash
    udc: str | None = None  # CCAs: the IOU/POU that distributes their customers' energy
    online_accounts: bool | None = None  # CCAs: do customers sign in at the CCA itself?
    # The utility's existing, unmodified GBC custodian (http(s)://host[:port][/path], no
    # trailing slash): the base of its /espi/1_1/resource, OAuth endpoints and portal.  With
    # it, ``upstream`` is the SST bolt-on and the gateway splits the paths between the two.
    custodian: str | None = None

    @property
    def split(self) -> bool:
        """Is the entity a bolt-on beside an unmodified custodian (two servers, one prefix)?"""
        return self.custodian is not None


@dataclass(frozen=True)
class GatewayRegistry:
    """A validated registry (see :func:`parse_gateway_registry`)."""

    public_base_url: str  # scheme://host[:port], no path, no trailing slash
    entities: tuple[Entity, ...]
    source: str = "<document>"

    def entity(self, entity_id: str) -> Entity:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        raise KeyError(entity_id)

    def base_path(self, entity_id: str) -> str:
        """The public path prefix of an entity: ``/SST/v1/{id}`` (X-Forwarded-Prefix)."""
        return f"{SST_PREFIX}/{entity_id}"

    def issuer(self, entity_id: str) -> str:
        """The entity's public OAuth issuer: what its server's ``ISSUER`` must be set to."""
        return self.public_base_url + self.base_path(entity_id)

    @property
    def directory_url(self) -> str:
        return f"{self.public_base_url}{SST_PREFIX}/directory"


def load_gateway_registry(path: str | os.PathLike[str]) -> GatewayRegistry:
    """Read a registry file (UTF-8 JSON, duplicate keys refused) and validate it.

    Raises:
        GatewayRegistryError: the file is unreadable, not JSON, or invalid.
    """
    data, _digest = read_json_file(path, GatewayRegistryError)
    return parse_gateway_registry(data, source=str(path))


def parse_gateway_registry(data: Any, *, source: str = "<document>") -> GatewayRegistry:
    """Validate a registry document already read from JSON.

    ``{"format": "espi-sst-gateway-registry/1", "public_base_url": "https://sst.example.org",
    "entities": [{"id", "name", "kind": IOU | POU | CCA, "upstream", "udc" (CCAs),
    "online_accounts" (CCAs), "custodian" (optional: the existing custodian beside the
    bolt-on that ``upstream`` then names)}]}``.

    Raises:
        GatewayRegistryError: naming the entry index and field, and how to fix it.
    """

    check = Checker(source, "entities", GatewayRegistryError)
    fail = check.fail
    data = check.fields(data, _TOP_FIELDS)
    if data["format"] != REGISTRY_FORMAT:
        raise fail(f"{data['format']!r} is not {REGISTRY_FORMAT!r}", name="format")
    base_problem = _url_problem(data["public_base_url"], path_allowed=False)
    if base_problem:
        raise fail(base_problem, name="public_base_url")
    items = data["entities"]
    if not isinstance(items, list) or not items:
        raise fail("must be a non-empty list of entities", name="entities")

    entities: list[Entity] = []
    seen: dict[str, int] = {}
    for index, value in enumerate(items):
        item = check.fields(value, _REQUIRED_ENTITY_FIELDS, _OPTIONAL_ENTITY_FIELDS, index=index)
        entity_id = item["id"]
        if not isinstance(entity_id, str) or not _ID.fullmatch(entity_id):
            raise fail(
                f"{entity_id!r} is not 2 to 16 capital letters or digits (PGE, SCE, PCE)",
                index,
                "id",
            )
        if entity_id in seen:
            raise fail(f"{entity_id} is already the id of entities[{seen[entity_id]}]", index, "id")
        seen[entity_id] = index
        name = item["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise fail(
                f"must be a non-empty string of at most {MAX_NAME} characters", index, "name"
            )
        kind = item["kind"]
        if kind not in ENTITY_KINDS:
            raise fail(f"{kind!r} is not one of {', '.join(ENTITY_KINDS)}", index, "kind")
        problem = _url_problem(item["upstream"], path_allowed=True)
        if problem:
            raise fail(problem, index, "upstream")
        custodian = _custodian(item, index, check)
        if kind == "CCA":
            if missing := sorted(set(_CCA_FIELDS) - item.keys()):
                raise fail(
                    "missing (required for a CCA: its distribution utility and whether its "
                    "customers have online accounts with the CCA)",
                    index,
                    missing[0],
                )
            if not isinstance(item["udc"], str):
                raise fail("must be the id of a listed IOU or POU", index, "udc")
            if not isinstance(item["online_accounts"], bool):
                raise fail("must be true or false", index, "online_accounts")
        elif present := sorted(item.keys() & set(_CCA_FIELDS)):
            raise fail(f"only a CCA has this field (this entity is a {kind})", index, present[0])
        entities.append(
            Entity(
                id=entity_id,
                name=name.strip(),
                kind=kind,
                upstream=str(item["upstream"]).rstrip("/"),
                udc=item.get("udc"),
                online_accounts=item.get("online_accounts"),
                custodian=custodian,
            )
        )

    kinds = {entity.id: entity.kind for entity in entities}
    for index, entity in enumerate(entities):
        if entity.udc is not None and kinds.get(entity.udc) not in ("IOU", "POU"):
            found = kinds.get(entity.udc)
            raise fail(
                f"{entity.udc} is {'not listed' if found is None else 'a ' + found}: a CCA's "
                "udc must be the id of an IOU or POU in entities",
                index,
                "udc",
            )
    return GatewayRegistry(
        public_base_url=str(data["public_base_url"]).rstrip("/"),
        entities=tuple(entities),
        source=source,
    )


def _custodian(item: Any, index: int, check: Checker) -> str | None:
    """An entry's ``custodian`` without its trailing slash, or None when it names none."""
    if "custodian" not in item:
        return None
    problem = _url_problem(item["custodian"], path_allowed=True)
    if problem:
        raise check.fail(
            f"{problem} (the utility's existing Green Button Connect custodian, e.g. "
            "https://gbc.internal.example/GreenButtonConnect)",
            index,
            "custodian",
        )
    custodian = str(item["custodian"]).rstrip("/")
    if custodian == str(item["upstream"]).rstrip("/"):
        raise check.fail(
            "is the same server as upstream: with a custodian, upstream is the SST bolt-on "
            "beside it (leave custodian out when one server does both)",
            index,
            "custodian",
        )
    return custodian


def _url_problem(value: Any, *, path_allowed: bool) -> str | None:
    """Why ``value`` cannot be a base URL here, or None when it can."""
    if not isinstance(value, str) or not value:
        return "must be an http:// or https:// URL"
    if not _URL_SAFE.fullmatch(value):
        return f"{value!r} has characters a URL may not carry here (spaces, quotes, ;, {{}}, $)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"{value!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return f"{value!r} carries credentials; configure them elsewhere"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return f"{value!r} has a query or fragment; give the base URL only"
    if port == 0:
        return f"{value!r} has port 0"
    if not path_allowed and parts.path not in ("", "/"):
        return f"{value!r} has a path; the gateway serves /SST/v1/ at the root of its origin"
    if not _PLAIN_PATH.fullmatch(parts.path):
        return f"{value!r}: a path may only have letters, digits, '.', '_', '~', '-' and '/'"
    return None
