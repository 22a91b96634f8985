"""The ESPI resources about the ASP and its grants: Authorization, ApplicationInformation.

Shapes follow the GBA openapi examples (``AtomEntry_Authorization``,
``AtomEntry_ApplicationInformation``).  Two things ESPI asks for that we cannot give, on
purpose: ``client_secret`` and ``registration_access_token`` are required elements, but we
store secrets only as hashes (security.py), so they are sent empty -- the schema allows an
empty String512 / string, and a data custodian must never echo a secret anyway.
"""

from __future__ import annotations

from flask import current_app

from espi_sst.model import Entry, Feed
from espi_sst.model import espi as m
from espi_sst.model.enums import (
    DataCustodianApplicationStatus,
    ESPIServiceStatus,
    GrantType,
    TokenType,
)

from ..lifecycle.bulk import bulk_endpoint_path, bulk_id, claims_bulk
from ..storage import models as db
from .build import moment
from .urls import Urls, entry_link, feed_link, urn, urn_for_path

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
"""Where the authorization server's endpoints live under ``ISSUER`` (RFC 8414 metadata is
the authority; ApplicationInformation repeats them for ESPI clients)."""

_APPLICATION_STATUS = {
    "pending": DataCustodianApplicationStatus.Review,
    "qualified": DataCustodianApplicationStatus.Production_Live,
    "suspended": DataCustodianApplicationStatus.On_Hold,
}
_GRANT_TYPES = [g.value for g in GrantType]


def authorization_entry(urls: Urls, authorization: db.Authorization, expires_at: int) -> Entry:
    """An ESPI Authorization: a customer token's own (what GBC's token response points to),
    or one of the ASP's, read with its client_credentials token after a notification.

    Args:
        expires_at: ESPI ``expires_at``: when the access token in use (or the grant's
            newest) stops working.
    """
    period = None
    if authorization.ends_at is not None and authorization.ends_at > authorization.created_at:
        period = m.DateTimeInterval(
            duration=authorization.ends_at - authorization.created_at,
            start=authorization.created_at,
        )
    resource_uri = urls.batch_subscription(authorization.subscription_uuid)
    self_href = urls.authorization(authorization.uuid)
    content = m.Authorization(
        authorized_period=period,
        status=authorization.status,
        expires_at=expires_at,
        grant_type=authorization.grant_type if authorization.grant_type in _GRANT_TYPES else None,
        scope=authorization.scope,
        token_type=TokenType.Bearer,
        resource_uri=resource_uri,
        authorization_uri=self_href,
    )
    return Entry(
        id=urn(authorization.uuid),
        title="Authorization",
        published=moment(authorization.created_at),
        updated=moment(authorization.updated_at),
        links=[
            entry_link(self_href, "self", "Authorization"),
            feed_link(urls.collection("Authorization"), "up", "Authorization"),
            feed_link(resource_uri, "related", "Subscription"),
        ],
        content=content,
    )


def application_entry(urls: Urls, app: db.Application) -> Entry:
    """The ASP's registration as ESPI ApplicationInformation."""
    issuer = str(current_app.config["ISSUER"])
    self_href = urls.application(app.uuid)
    content = m.ApplicationInformation(
        data_custodian_id=str(current_app.config["DATA_CUSTODIAN_ID"]),
        data_custodian_application_status=_APPLICATION_STATUS.get(
            app.qualification, DataCustodianApplicationStatus.Revoked
        ),
        authorization_server_uri=issuer,
        third_party_notify_uri=app.notify_uri,
        authorization_server_authorization_endpoint=issuer + AUTHORIZE_PATH,
        authorization_server_token_endpoint=issuer + TOKEN_PATH,
        # exactly what serves its bulk; without FB 35 the endpoint alone (mandatory element)
        data_custodian_bulk_request_uri=(
            urls.bulk(bulk_id(app)) if claims_bulk(app) else urls.base + bulk_endpoint_path()
        ),
        data_custodian_resource_endpoint=urls.base,
        client_secret="",  # stored only as a hash: never disclosed (module docstring)
        client_name=app.client_name,
        client_uri=app.client_uri,
        redirect_uri=list(app.redirect_uris),
        client_id=app.client_id,
        software_id=app.software_id,
        software_version=app.software_version,
        client_id_issued_at=app.created_at,
        client_secret_expires_at=0,
        contacts=list(app.contacts),
        token_endpoint_auth_method=app.token_endpoint_auth_method,
        scope=[app.scope],
        grant_types=[g for g in _GRANT_TYPES if g in app.grant_types],
        response_types="code",
        registration_client_uri=self_href,
        registration_access_token="",
    )
    return Entry(
        id=urn(app.uuid),
        title=app.client_name,
        published=moment(app.created_at),
        updated=moment(app.created_at),
        links=[
            entry_link(self_href, "self", "ApplicationInformation"),
            feed_link(urls.collection("ApplicationInformation"), "up", "ApplicationInformation"),
        ],
        content=content,
    )


def asp_feed(urls: Urls, href: str, kind: str, entries: list[Entry], now: int) -> Feed:
    """A feed of ASP-level entries (Authorization, ApplicationInformation, Bulk)."""
    return Feed(
        id=urn_for_path(urls.path(href)),
        title=kind,
        updated=moment(now),
        links=[feed_link(href, "self", kind)],
        entries=entries,
    )


def service_status(available: bool = True) -> m.ServiceStatus:
    """ReadServiceStatus: a bare ``espi:ServiceStatus`` (as the GBA example)."""
    status = ESPIServiceStatus.Normal if available else ESPIServiceStatus.Unavailable
    return m.ServiceStatus(current_status=status)
