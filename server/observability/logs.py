"""The server's logs: one structured line per request and per worker job, never a secret.

* **Format** (``ESPI_LOG_FORMAT``): ``json`` (the production default; one JSON object a
  line, for journald / Loki / Elasticsearch) or ``text`` (for people: the demo's default).
  **Level** (``ESPI_LOG_LEVEL``): a :mod:`logging` level name, default ``INFO``.
  :func:`configure_logging` installs both on the root logger, once per process: ``serve``,
  ``worker``, ``demo`` and gunicorn (``wsgi.py``) call it.
* **One line per request** (:class:`RequestLog`, a WSGI middleware): time, level, request
  id, method, the Flask endpoint, the path *without* its query string, status, duration,
  the remote address as ProxyFix sees it, the ASP's ``client_id`` when the request
  authenticated one (a bearer token, or client authentication at the token, revocation and
  introspection endpoints), the response size in bytes (counted as sent: streamed feeds too).
* **Request id**: the gateway's ``X-Request-Id`` (nginx's ``$request_id``, set by
  ``espi-sst gateway``) when it is well-formed -- 8 to 128 characters of ``A-Z a-z 0-9 . _ :
  -`` -- else a new one (32 hex digits, nginx's shape).  Echoed in the response's
  ``X-Request-Id``, on every log line written while the request runs, and stored with the
  outbox messages the request queued, so the worker's line for that job carries it too.
* **Redaction** (:class:`RedactingFilter`, on the root handler and on werkzeug's and
  gunicorn's loggers): every line -- message, arguments, exception text, extra fields -- is
  screened for tokens, codes, secrets, passwords, passcodes, cookies and Authorization
  headers (:data:`SECRET_NAMES`), and their values replaced by ``[redacted]``.  The filter is
  the net; the code itself logs no secret (tests/server/observability prove both, the flows
  through real HTTP with DEBUG logging).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from ..errors import ConfigurationError

REQUEST_ID_HEADER = "X-Request-Id"
LOG_FORMATS = ("json", "text")
DEFAULT_FORMAT = "json"
REQUEST_LOGGER = "espi_sst_server.request"
JOB_LOGGER = "espi_sst_server.job"
REDACTED = "[redacted]"

_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}\Z")
_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "espi_request_id", default=None
)
_ENVIRON_KEY = "espi_sst.request_log"
"""Where the Flask hooks leave what only the app knows (endpoint, client_id) for the line."""


# ---------------------------------------------------------------- request ids


def new_request_id() -> str:
    """32 hex digits: the shape of nginx's ``$request_id``."""
    return secrets.token_hex(16)


def accepted_request_id(value: str | None) -> str:
    """The gateway's id when it is well-formed (bounded, safe characters), else a new one:
    a client's header can neither flood the logs nor inject a line or a field."""
    if value and _WELL_FORMED_ID.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request this thread serves, or of the job it runs; None elsewhere."""
    return _REQUEST_ID.get()


def bind_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    """Make ``request_id`` current (the worker, for a job queued by a request)."""
    return _REQUEST_ID.set(request_id)


def unbind_request_id(token: contextvars.Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


# ---------------------------------------------------------------- redaction

SECRET_NAMES = (
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "password",
    "passcode",
    "otp",
    "secret",
    "secret_key",
    "smtp_password",
    "introspection_client_secret",
    "session",
    "cookie",
    "set-cookie",
    "authorization",
)
"""Names whose value never reaches a log: as a query or form parameter (``code=...``), a
JSON or dict member (``"access_token": "..."``), a header (``Authorization: ...``,
``Cookie: session=...``) or a keyword (``password=...``)."""

_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_NAMES, key=len, reverse=True))
_HEADER = re.compile(r"(?im)\b(authorization|cookie|set-cookie)(\s*:\s*)([^\r\n]+)")
_SCHEME = re.compile(r"(?i)\b(bearer|basic|dpop)(\s+)([A-Za-z0-9\-._~+/]+=*)")
_PAIR = re.compile(
    rf"""(?ix)
    (?<![A-Za-z0-9_-])             # a whole name: not error_code, not csrf_token
    (["']?)({_NAMES})\1            # the name, perhaps quoted
    (\s*[:=]\s*|\s+is:?\s+)        # = or : (or "code is: 123456", the passcode mail)
    (?!\[redacted\])               # (not twice)
    (?:(["'])(.*?)(?<!\\)\4        # a quoted value ...
     |([^\s&,;"'}}\])]+))          # ... or a bare one, up to a separator
    """
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)")


def redact(text: str) -> str:
    """``text`` with every secret value replaced by ``[redacted]`` (names stay readable)."""
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)

    def pair(m: re.Match[str]) -> str:
        quote = m.group(4) or ""
        return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{quote}{REDACTED}{quote}"

    return _PAIR.sub(pair, text)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record (everything the standard record does not have)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Rewrites each record before any handler formats it: the message with its arguments
    merged and screened, the exception and stack text screened, string extras screened.

    Installed on the root handler and on the loggers that do not propagate (gunicorn's),
    so a line from any library passes it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_espi_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format: keep what there is, screened
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        record._espi_redacted = True
        return True


# ---------------------------------------------------------------- formats


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ms), ``level``, ``logger``, ``message``, the
    current ``request_id``, the record's extra fields, ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            line["request_id"] = request_id
        line.update(extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger [request id] message key=value ...``: for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = extra_fields(record)
        request_id = fields.pop("request_id", None) or current_request_id()
        head = f"{_timestamp(record)} {record.levelname} {record.name}"
        if request_id:
            head += f" [{request_id}]"
        text = f"{head} {record.getMessage()}"
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


class LogSettingError(ConfigurationError, ValueError):
    """``ESPI_LOG_FORMAT`` or ``ESPI_LOG_LEVEL`` names nothing known."""

    code = "log_setting"


def log_settings(
    environ: dict[str, str] | None = None, *, default_format: str = DEFAULT_FORMAT
) -> tuple[str, int]:
    """(format, level) from ``ESPI_LOG_FORMAT`` / ``ESPI_LOG_LEVEL``, checked."""
    env = os.environ if environ is None else environ
    chosen = (env.get("ESPI_LOG_FORMAT") or default_format).strip().lower()
    if chosen not in LOG_FORMATS:
        raise LogSettingError(
            f"ESPI_LOG_FORMAT={chosen!r}: must be one of {', '.join(LOG_FORMATS)}"
        )
    level_name = (env.get("ESPI_LOG_LEVEL") or "INFO").strip().upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise LogSettingError(
            f"ESPI_LOG_LEVEL={level_name!r}: must be DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return chosen, level


_INSTALLED: list[logging.Handler] = []
NON_PROPAGATING = ("gunicorn.error", "gunicorn.access")


def configure_logging(
    *,
    default_format: str = DEFAULT_FORMAT,
    stream: IO[str] | None = None,
    environ: dict[str, str] | None = None,
) -> logging.Handler:
    """Install the format, level and redaction on the root logger (stderr), replacing any
    handler an earlier call installed; werkzeug's own request lines (with query strings)
    are silenced below WARNING, since :class:`RequestLog` writes the line instead."""
    chosen, level = log_settings(environ, default_format=default_format)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in _INSTALLED:
        root.removeHandler(old)
    _INSTALLED[:] = [handler]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(max(level, logging.WARNING))
    for name in NON_PROPAGATING:  # their own handlers: the filter goes on the logger
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
    return handler


# ---------------------------------------------------------------- the request line


def note_client(client_id: str) -> None:
    """Record the ASP a request authenticated as (the token guard, client authentication)."""
    from flask import request

    request.environ.setdefault(_ENVIRON_KEY, {})["client_id"] = client_id


StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequestLog:
    """WSGI middleware: the request id in and out, and one line when the answer is sent.

    Placed inside ProxyFix (``create_app`` wraps it first), so ``REMOTE_ADDR`` is the client
    the trusted proxies name.  The line is written when the server closes the answer, so
    the duration and size cover a streamed body; an answer never started (the client went
    away) is logged with status 0."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.logger = logging.getLogger(REQUEST_LOGGER)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = request_id
        token = _REQUEST_ID.set(request_id)
        state: dict[str, Any] = {"status": 0}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state["status"] = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            self._write(environ, state, request_id, started, 0)
            raise
        finally:
            # Unbound as soon as the app returns: a body the server never closes (a test
            # client's) must not leave its id on the thread's later log lines.  A streamed
            # body gets it back while each chunk is made (_Counted).
            _REQUEST_ID.reset(token)
        return _Counted(
            body,
            request_id,
            lambda size: self._write(environ, state, request_id, started, size),
        )

    def _write(
        self,
        environ: dict[str, Any],
        state: dict[str, Any],
        request_id: str,
        started: float,
        size: int,
    ) -> None:
        known = environ.get(_ENVIRON_KEY, {})
        status = int(state["status"])
        level = logging.ERROR if status >= 500 or status == 0 else logging.INFO
        method = str(environ.get("REQUEST_METHOD", ""))
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        self.logger.log(
            level,
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "request_id": request_id,
                "method": method,
                "endpoint": known.get("endpoint"),
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "client_id": known.get("client_id"),
                "response_bytes": size,
            },
        )


class _Counted:
    """The answer's body, passed through; counts its bytes and reports them once: when the
    last byte is handed to the server, or at close() (a client that went away early).  The
    request id is bound while each chunk is made and while the body closes, so a streamed
    feed's own log lines carry it."""

    def __init__(self, body: Iterable[bytes], request_id: str, done: Callable[[int], None]) -> None:
        self.body, self.request_id, self.done = body, request_id, done
        self.size, self.reported = 0, False

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self.body)
        while True:
            token = _REQUEST_ID.set(self.request_id)
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            finally:
                _REQUEST_ID.reset(token)
            self.size += len(chunk)
            yield chunk
        self._report()

    def _report(self) -> None:
        if not self.reported:
            self.reported = True
            self.done(self.size)

    def close(self) -> None:
        token = _REQUEST_ID.set(self.request_id)
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            _REQUEST_ID.reset(token)
            self._report()


def init_app(app: Any) -> None:
    """Wrap the app in :class:`RequestLog` and let Flask name the endpoint and the client.

    Call before ProxyFix wraps ``app.wsgi_app``."""
    from flask import g, request

    app.wsgi_app = RequestLog(app.wsgi_app)

    @app.after_request
    def _note_endpoint(response: Any) -> Any:
        known = request.environ.setdefault(_ENVIRON_KEY, {})
        known["endpoint"] = request.endpoint
        grant = g.get("espi_grant")
        if grant is not None and getattr(grant, "client_id", None):
            known.setdefault("client_id", grant.client_id)
        return response

    @app.teardown_request
    def _note_failed_endpoint(_exc: BaseException | None) -> None:
        request.environ.setdefault(_ENVIRON_KEY, {}).setdefault("endpoint", request.endpoint)


# ---------------------------------------------------------------- the job line


def log_job(
    *,
    lane: str,
    job: str,
    outcome: str,
    started: float,
    attempt: int,
    request_id: str | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """One line per worker job: its lane (``email``, ``asp_notification``, ``billing``),
    the job (``outbox:42``, ``rate_change:<uuid>``), the outcome, the duration since
    ``started`` (:func:`time.perf_counter`), the attempt, and the id of the request that
    queued it when that was stored with the job."""
    logging.getLogger(JOB_LOGGER).log(
        level,
        "%s %s %s",
        lane,
        job,
        outcome,
        extra={
            "lane": lane,
            "job": job,
            "outcome": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "attempt": attempt,
            "request_id": request_id,
            **fields,
        },
    )
