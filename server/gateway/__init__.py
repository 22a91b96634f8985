"""The Single Statewide Tool's gateway (concept design 2.2.2, 6.2, 7.12, 7.16).

The SST is a thin API proxy gateway in front of each participating IOU, POU and CCA's own
server; this package turns the gateway registry (who takes part, where their servers are)
into a production nginx configuration and the directory document it serves.  It holds no
data and opens no database: ``espi-sst gateway REGISTRY --out DIR`` runs without the
server's configuration.  Each entity's server runs behind it with ``ISSUER`` set to
``{public_base_url}/SST/v1/{id}`` and ``TRUSTED_PROXY_HOPS = 1``.
"""

from __future__ import annotations

from .directory import directory_document, serialize_directory
from .nginx import GatewayFiles, render_nginx_config, write_nginx_gateway
from .registry import (
    Entity,
    GatewayRegistry,
    GatewayRegistryError,
    load_gateway_registry,
    parse_gateway_registry,
)

__all__ = [
    "Entity",
    "GatewayFiles",
    "GatewayRegistry",
    "GatewayRegistryError",
    "directory_document",
    "load_gateway_registry",
    "parse_gateway_registry",
    "render_nginx_config",
    "serialize_directory",
    "write_nginx_gateway",
]
