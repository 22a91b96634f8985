"""The gateway's directory resource, ``GET /SST/v1/`` (concept design 6.2: one online resource).

An ASP that knows only the statewide gateway finds every participating entity here: its
kind, its public OAuth issuer and discovery URL, and its ESPI resource base, all under the
gateway's public URL.  A CCA's entry names its distribution utility (section 2.8): an ASP
asking a CCA customer's delivery RIN goes there.  The document is made from the registry
when the configuration is generated (the gateway holds no data of its own), so it is the
same bytes for every request and a configuration change is the only way to change it.
``split`` says that the entity is an SST bolt-on beside its unmodified custodian: both answer
under the same base (the SST resources and UsageSummary from the bolt-on, the rest from the
custodian), so an ASP uses the one base either way.
"""

from __future__ import annotations

import json
from typing import Any

from .registry import SST_PREFIX, GatewayRegistry

DIRECTORY_FORMAT = "espi-sst-gateway-directory/1"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# The server's resource API path (server/config.py RESOURCE_PATH); kept as a literal so the
# generator needs none of the server's storage or web modules.
RESOURCE_PATH = "/espi/1_1/resource"


def directory_document(registry: GatewayRegistry) -> dict[str, Any]:
    """The directory as a JSON-ready dict (entities in registry order)."""
    entities = []
    for entity in registry.entities:
        issuer = registry.issuer(entity.id)
        entities.append(
            {
                "id": entity.id,
                "name": entity.name,
                "kind": entity.kind,
                "issuer": issuer,
                "discovery_url": issuer + DISCOVERY_PATH,
                "espi_resource_base": issuer + RESOURCE_PATH,
                "udc": entity.udc,
                "online_accounts": entity.online_accounts,
                "split": entity.split,
            }
        )
    return {
        "format": DIRECTORY_FORMAT,
        "public_base_url": registry.public_base_url,
        "directory_url": registry.directory_url,
        "sst_base_url": registry.public_base_url + SST_PREFIX + "/",
        "entities": entities,
    }


def serialize_directory(registry: GatewayRegistry) -> str:
    """The directory as the JSON text the gateway serves (stable: diffs show real changes)."""
    return json.dumps(directory_document(registry), indent=2, ensure_ascii=False) + "\n"
