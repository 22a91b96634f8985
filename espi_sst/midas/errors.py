"""What the MIDAS client raises: a small tree under :class:`espi_sst.EspiError`, never a bare
``requests`` error (drawn in docs/errors.md).

::

    MidasError                      root; .url, .status (other 4xx, e.g. a wrong base URL)
    ├── RinNotFound (LookupError)   404 for a RIN: unknown, or retired; .rin
    ├── MidasRateLimited            429 after the retries, or a Retry-After longer than the
    │                               wait left; .retry_after
    ├── MidasUnavailable            5xx, refused connection, timeout, after the retries
    └── MidasResponseError          not JSON, or a field missing or malformed; .field
"""

from __future__ import annotations

from ..errors import EspiError

__all__ = [
    "MidasError",
    "MidasRateLimited",
    "MidasResponseError",
    "MidasUnavailable",
    "RinNotFound",
]


class MidasError(EspiError):
    """MIDAS could not answer the question (root of the MIDAS errors).

    Attributes:
        url: the URL asked, when a request was made.
        status: the HTTP status received, when there was a response.
    """

    code = "midas_error"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.url = url
        self.status = status


class RinNotFound(MidasError, LookupError):
    """MIDAS has no rate with this RIN (HTTP 404): unknown, or retired."""

    code = "midas_rin_not_found"

    def __init__(self, rin: str, message: str, *, url: str | None = None) -> None:
        super().__init__(message, url=url, status=404)
        self.rin = rin


class MidasRateLimited(MidasError):
    """MIDAS kept answering 429 (too many requests) for longer than the client may wait.

    Attributes:
        retry_after: seconds MIDAS asked to wait in its last ``Retry-After``, or None.
    """

    code = "midas_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None, url: str | None = None) -> None:
        super().__init__(message, url=url, status=429)
        self.retry_after = retry_after


class MidasUnavailable(MidasError):
    """MIDAS did not answer usefully (5xx, refused connection, timeout), even after retries."""

    code = "midas_unavailable"


class MidasResponseError(MidasError):
    """MIDAS answered something that is not JSON, or not shaped as documented.

    Attributes:
        field: where in the body the problem is (``ValueInformation[3].TimeEnd``), if known.
    """

    code = "midas_bad_response"

    def __init__(self, message: str, *, field: str | None = None, url: str | None = None) -> None:
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{message}", url=url)
        self.field = field
