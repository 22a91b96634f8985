"""Requests the server sends to addresses someone else chose: the ASPs' notify URIs (ESPI
``ApplicationInformation.thirdPartyNotifyUri``; issue 11, item 12: SSRF).

An ASP registers where its BatchList notifications go, and the worker POSTs there from
inside the utility's network.  Unchecked, that is a server-side request forgery: a notify
URI of ``http://169.254.169.254/...`` (cloud metadata), ``http://10.0.0.5/admin`` or a
loopback service makes the utility's worker call it.  One policy, asked at registration
(:func:`check_notify_uri`) **and** at every send (:func:`post`), because what a name
resolves to may change after it was registered (and DNS rebinding changes it on purpose):

* ``https`` only; ``http`` only for a loopback destination, and loopback only while
  ``NOTIFY_ALLOW_LOOPBACK`` is on (the demo and tests, whose ASP listens on 127.0.0.1);
* no user info in the URL, a host and a valid port;
* every address the host resolves to must be a globally routable unicast address: not
  private, loopback, link-local (169.254.0.0/16, fe80::/10), multicast, reserved,
  unspecified, shared (100.64.0.0/10), nor an IPv4-mapped, NAT64 or 6to4 form of one;
* at send time the connection goes to the very address that was vetted -- the name is
  resolved once and the connection pinned to that address, with the ``Host`` header, TLS
  SNI and certificate check still for the name (``requests-hardened``'s
  ``IPFilterAdapter``, Saleor's, the address checked again here) -- redirects are never
  followed, proxies from the environment are not used, and connect and read have their
  own short timeouts.

A name that does not resolve at registration is accepted: the send-time check guards it.
A destination refused at send time is never contacted; the outbox records it as a
permanent failure (``last_error`` and the ``outbox_gave_up`` audit event).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from ..errors import DeliveryError, InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPECIAL = (*EXTRA_BLOCKED_NET_RANGES, ipaddress.ip_network("fec0::/10"))  # + site-local


class DestinationRefused(InvalidInput):
    """A URL the server will not send to; the message says which rule and how to fix it."""

    code = "destination_refused"


class DestinationUnresolved(DeliveryError, OSError):
    """The destination's name does not resolve now (at send time: retried later)."""

    code = "destination_unresolved"


def refusal(address: Address, *, allow_loopback: bool) -> str | None:
    """Why the server must not connect to ``address`` (None: a global unicast address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    for kind in ("multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind} address"
    if not address.is_global or any(address in net for net in _SPECIAL):
        return "not a globally routable address"
    return None


def check_notify_uri(uri: str, *, allow_loopback: bool) -> str:
    """The URI, if the server may send to it; else :class:`DestinationRefused`.

    For registration: a name that does not resolve now is accepted (checked again at
    every send).
    """
    try:
        vet(uri, allow_loopback=allow_loopback)
    except DestinationUnresolved:
        pass
    return uri


def vet(uri: str, *, allow_loopback: bool) -> list[Address]:
    """The addresses ``uri``'s host resolves to, all of them allowed; else an exception."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("https", "http"):
        raise DestinationRefused(
            f"notify URI {uri!r} must be an https URL (e.g. https://asp.example/notify)"
        )
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused(f"notify URI {uri!r} must not carry user information")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused(f"notify URI {uri!r} has an invalid port") from None
    host = parts.hostname
    if not host:
        raise DestinationRefused(f"notify URI {uri!r} names no host")
    plain_http = (
        f"notify URI {uri!r} must use https (http only for a loopback receiver, with "
        "NOTIFY_ALLOW_LOOPBACK on)"
    )
    if parts.scheme == "http" and not allow_loopback:
        raise DestinationRefused(plain_http)
    try:
        addresses = _resolve(host, port)
    except DestinationUnresolved:
        if parts.scheme == "http":  # cannot be shown to be loopback
            raise DestinationRefused(plain_http) from None
        raise
    for address in addresses:
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise DestinationRefused(
                f"notify URI {uri!r}: {host} is {address}, {reason}; notifications go only "
                "to public addresses"
            )
    if parts.scheme == "http" and not all(a.is_loopback for a in addresses):
        raise DestinationRefused(plain_http)
    return addresses


def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationUnresolved(f"{host} does not resolve: {exc}") from None
    return [ipaddress.ip_address(str(entry[4][0]).split("%", 1)[0]) for entry in found]


class _PinnedAdapter(IPFilterAdapter):
    """requests-hardened's adapter (resolve once, connect to that address, Host/SNI/cert for
    the name), with this module's rule applied to the address it pinned."""

    def __init__(self, *, https: bool, allow_loopback: bool) -> None:
        super().__init__(is_https_proto=https, allow_loopback=allow_loopback)
        self.allow = allow_loopback

    def build_connection_pool_key_attributes(self, *args: Any, **kwargs: Any) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(*args, **kwargs)
        pinned = ipaddress.ip_address(str(host_params["host"]).strip("[]"))
        reason = refusal(pinned, allow_loopback=self.allow)
        if reason is not None:
            raise DestinationRefused(f"{pinned} is {reason} (the name resolved differently)")
        return host_params, pool_kwargs


def post(
    uri: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_loopback: bool,
    connect_timeout: float,
    read_timeout: float,
) -> requests.Response:
    """POST ``body`` to ``uri`` under the policy above.

    Raises:
        DestinationRefused: the policy refuses the URL or an address it resolves to.
        DestinationUnresolved: the name does not resolve now.
        requests.RequestException: connecting or reading failed (timeouts included).
    """
    vet(uri, allow_loopback=allow_loopback)
    with requests.Session() as session:
        session.trust_env = False  # no proxy or .netrc from the environment
        session.mount("https://", _PinnedAdapter(https=True, allow_loopback=allow_loopback))
        session.mount("http://", _PinnedAdapter(https=False, allow_loopback=allow_loopback))
        return session.post(
            uri,
            data=body,
            headers=headers,
            timeout=(connect_timeout, read_timeout),
            allow_redirects=False,
        )
