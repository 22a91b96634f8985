"""What the ASP client raises: a small tree under :class:`espi_sst.EspiError`, never a bare
HTTP or OAuth library error.

::

    ClientError                   any failure talking to a data custodian
    ├── DiscoveryError            the issuer's metadata is missing or inconsistent
    ├── AuthorizationFlowError    the customer's redirect back is wrong (state, iss, error=)
    ├── AuthorizationEnded        the grant is expired or revoked: ask the customer again
    ├── InsufficientScope         the customer did not share what this call needs
    ├── NotFound                  no such resource for this grant
    ├── RateLimited               429 after the bounded retries (``retry_after`` seconds)
    ├── RequestRefused            any other 4xx, with the server's error code
    │   └── InvalidPasscode       the confirmation code was wrong (``attempts_left``)
    └── ServerError               5xx, timeouts, unreachable, or a body we cannot read
"""

from __future__ import annotations

from ..errors import EspiError

__all__ = [
    "AuthorizationEnded",
    "AuthorizationFlowError",
    "ClientError",
    "DiscoveryError",
    "InsufficientScope",
    "InvalidPasscode",
    "NotFound",
    "RateLimited",
    "RequestRefused",
    "ServerError",
]


class ClientError(EspiError):
    """A call to a data custodian failed; ``status`` is the HTTP status when there was one."""

    code = "client_error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class DiscoveryError(ClientError):
    code = "discovery_failed"


class AuthorizationFlowError(ClientError):
    """``route_to`` / ``route_url``: the entity the custodian says to send the customer to
    instead (concept design 7.3.5: a CCA without online accounts, or the wrong utility)."""

    code = "authorization_flow_failed"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        route_to: str | None = None,
        route_url: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.route_to = route_to
        self.route_url = route_url


class AuthorizationEnded(ClientError):
    """The access token is refused and cannot be refreshed: the customer must authorize again."""

    code = "authorization_ended"


class InsufficientScope(ClientError):
    code = "insufficient_scope"


class NotFound(ClientError):
    code = "not_found"


class RateLimited(ClientError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, status: int = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class RequestRefused(ClientError):
    """A 4xx the caller can act on; ``error`` is the server's machine code."""

    code = "request_refused"

    def __init__(self, message: str, *, status: int, error: str, details: dict[str, str]) -> None:
        super().__init__(message, status=status, code=error)
        self.error = error
        self.details = details


class InvalidPasscode(RequestRefused):
    code = "invalid_code"

    @property
    def attempts_left(self) -> int | None:
        value = self.details.get("attempts_left")
        return int(value) if value is not None and value.isdigit() else None


class ServerError(ClientError):
    code = "server_error"
