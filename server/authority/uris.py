"""The URIs an ASP registers: https with a host, no user information, no fragment, and a host
that is not a private, loopback, link-local or otherwise non-public destination -- the
server's address rule (outbox.outbound.refusal), applied here once at submission.  A name
that does not resolve now is accepted (each entity checks again before sending).  RFC 6749
section 3.1.2 (redirection endpoint), RFC 8252 section 8.3 (loopback only for native apps,
which SST ASPs are not)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ..outbox.outbound import refusal
from .errors import SubmissionError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def checked_uri(field: str, uri: str, *, allow_loopback: bool) -> str:
    """``uri`` stripped, if an entity may use it; else :class:`SubmissionError` naming ``field``."""
    uri = uri.strip()
    parts = urlsplit(uri)
    host = parts.hostname
    is_loopback_name = host in LOOPBACK_NAMES
    if parts.scheme != "https" and not (
        allow_loopback and parts.scheme == "http" and (is_loopback_name or _is_loopback(host))
    ):
        raise SubmissionError(
            field, f"{uri!r} must be an https URL (e.g. https://asp.example/callback)"
        )
    if not host:
        raise SubmissionError(field, f"{uri!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise SubmissionError(field, f"{uri!r} must not carry user information")
    if parts.fragment:
        raise SubmissionError(field, f"{uri!r} must not have a fragment (RFC 6749 section 3.1.2)")
    try:
        port = parts.port or 443
    except ValueError:
        raise SubmissionError(field, f"{uri!r} has an invalid port") from None
    if is_loopback_name and not allow_loopback:
        raise SubmissionError(
            field, f"{uri!r}: {host} is a loopback address; give the ASP's public https address"
        )
    for address in _addresses(host, port):
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise SubmissionError(
                field,
                f"{uri!r}: {host} is {address}, {reason}; give the ASP's public https address",
            )
    return uri


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # does not resolve now: accepted, checked again at each entity
    return [ipaddress.ip_address(str(entry[4][0]).split("%", 1)[0]) for entry in found]
