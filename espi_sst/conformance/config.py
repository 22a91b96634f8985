"""CONFIG: which server the kit tests, with which ASP clients, customers and hooks.

TOML or JSON (by extension; ``docs/conformance.md`` has a commented example, and ``espi-sst
demo`` writes one for itself).  Everything the kit needs to know about the server under test
is here, so the same kit runs against any Green Button Connect / SST server: the issuer (the
rest is discovered), one or more registered ASP clients, test customers, how the customer's
browser part is done and where passcodes arrive.  Errors name the file, the key and the fix.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConformanceConfigError

__all__ = [
    "BrowserConfig",
    "ClientConfig",
    "CustomerConfig",
    "KitConfig",
    "PasscodeConfig",
    "load_config",
]

BROWSER_MODES = ("form", "selenium", "paste")
PASSCODE_MODES = ("none", "inbox", "imap", "prompt")
CUSTOMER_KINDS = ("bundled", "unbundled", "gas", "other")


@dataclass(frozen=True)
class ClientConfig:
    """A registered ASP client (confidential when it has a secret)."""

    name: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    scope: str
    notify_listen: tuple[str, int] | None = None  # where the kit receives its BatchLists
    asp_class: str = "rate-change"  # data-only | rate-change (concept design 6.4.2)

    @property
    def confidential(self) -> bool:
        return self.client_secret is not None


@dataclass(frozen=True)
class CustomerConfig:
    """A test customer who signs in at the utility's portal and consents."""

    username: str
    password: str
    kind: str = "other"  # bundled | unbundled | gas | other: which SST checks apply
    email: str | None = None  # where the passcode hook looks
    phone: str | None = None  # E.164: the customer's passcodes go by text message (sms_inbox_url)
    totp_secret: str | None = None  # when the portal asks for a second factor
    rate_change_rin: str | None = None  # the rate SST-RC scenarios ask for


@dataclass(frozen=True)
class BrowserConfig:
    """How the customer's part (sign-in, consent) is done."""

    mode: str = "form"
    username_field: str | None = None  # form walker: the sign-in inputs (found when None)
    password_field: str | None = None
    approve: str | None = None  # "name=value" of the consent form's allow button
    deny: str | None = None
    script: Path | None = None  # selenium: a Python file defining walk(...)


@dataclass(frozen=True)
class PasscodeConfig:
    """Where the utility's one-time passcodes for rate changes arrive."""

    mode: str = "none"
    inbox_url: str | None = None  # "{email}" replaced by the customer's address
    sms_inbox_url: str | None = None  # "{phone}" replaced: a customer with a phone reads codes here
    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: str | None = None
    imap_mailbox: str = "INBOX"
    imap_ssl: bool = True
    pattern: str = r"(?<![\w.,/:+-])\d{6,8}(?![\w/:+-]|[.,]\d)"
    timeout: float = 60.0


@dataclass(frozen=True)
class KitConfig:
    """The whole CONFIG, checked."""

    issuer: str
    clients: tuple[ClientConfig, ...]
    customers: tuple[CustomerConfig, ...]
    browser: BrowserConfig = field(default_factory=BrowserConfig)
    passcodes: PasscodeConfig = field(default_factory=PasscodeConfig)
    resource_base: str | None = None  # default: from the token response's resourceURI
    timeout: float = 30.0
    source: str = "<config>"

    def customer(self, kind: str) -> CustomerConfig | None:
        return next((c for c in self.customers if c.kind == kind), None)

    @property
    def confidential_clients(self) -> tuple[ClientConfig, ...]:
        return tuple(c for c in self.clients if c.confidential)

    @property
    def public_clients(self) -> tuple[ClientConfig, ...]:
        return tuple(c for c in self.clients if not c.confidential)


def load_config(path: str | Path) -> KitConfig:
    """Read and check CONFIG (``.toml`` or ``.json``); ConformanceConfigError says what to fix."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConformanceConfigError(
            f"{file}: no such file (write one like docs/conformance.md's example, or run "
            "`espi-sst demo`, which writes demo-data/conformance.toml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConformanceConfigError(f"{file}: cannot read it: {exc}") from None
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise ConformanceConfigError(
            f"{file}: line {exc.lineno}: not valid JSON: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConformanceConfigError(f"{file}: not valid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise ConformanceConfigError(f"{file}: the top level must be a table / object")
    return _Reader(str(file), file.parent).kit(data)


class _Reader:
    """Turns the parsed document into a KitConfig, naming each key it refuses."""

    def __init__(self, source: str, folder: Path) -> None:
        self.source = source
        self.folder = folder

    def fail(self, where: str, message: str) -> ConformanceConfigError:
        return ConformanceConfigError(f"{self.source}: {where}: {message}")

    def text(self, table: dict[str, Any], key: str, where: str, *, required: bool = True) -> Any:
        value = table.get(key)
        if value is None:
            if required:
                raise self.fail(f"{where}{key}", "missing (required)")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}{key}", f"must be non-empty text, not {value!r}")
        return value.strip()

    def url(self, table: dict[str, Any], key: str, where: str, *, required: bool = True) -> Any:
        value = self.text(table, key, where, required=required)
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise self.fail(f"{where}{key}", f"{value!r} is not an http(s) URL")
        return value

    def choice(self, table: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> Any:
        value = table.get(key, allowed[0])
        if value not in allowed:
            raise self.fail(f"{where}{key}", f"{value!r}: use one of {', '.join(allowed)}")
        return value

    def number(self, table: dict[str, Any], key: str, where: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(f"{where}{key}", f"must be a positive number, not {value!r}")
        return float(value)

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table ([" + key + "])")
        return value

    def tables(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"at least one [[{key}]] table is required")
        return value

    def kit(self, data: dict[str, Any]) -> KitConfig:
        issuer = self.url(data, "issuer", "").rstrip("/")
        clients = tuple(
            self.client(table, f"clients[{n}].")
            for n, table in enumerate(self.tables(data, "clients"))
        )
        ids = [c.client_id for c in clients]
        if len(set(ids)) != len(ids):
            raise self.fail("clients", "the same client_id is listed twice")
        customers = tuple(
            self.customer(table, f"customers[{n}].")
            for n, table in enumerate(self.tables(data, "customers"))
        )
        names = [c.username for c in customers]
        if len(set(names)) != len(names):
            raise self.fail("customers", "the same username is listed twice")
        resource_base = self.url(data, "resource_base", "", required=False)
        return KitConfig(
            issuer=issuer,
            clients=clients,
            customers=customers,
            browser=self.browser(self.table(data, "browser")),
            passcodes=self.passcodes(self.table(data, "passcodes")),
            resource_base=resource_base.rstrip("/") if resource_base else None,
            timeout=self.number(data, "timeout", "", 30.0),
            source=self.source,
        )

    def client(self, table: dict[str, Any], where: str) -> ClientConfig:
        client_id = self.text(table, "client_id", where)
        listen = None
        if table.get("notify_listen") is not None:
            value = self.text(table, "notify_listen", where)
            host, _, port = value.rpartition(":")
            if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") or not port.isdigit():  # noqa: S104
                raise self.fail(
                    f"{where}notify_listen",
                    f"{value!r}: give HOST:PORT on this machine (127.0.0.1:8766), where the "
                    "client's registered notify URI points",
                )
            listen = (host, int(port))
        asp_class = self.choice(table, "class", where, ("rate-change", "data-only"))
        return ClientConfig(
            name=self.text(table, "name", where, required=False) or client_id,
            client_id=client_id,
            client_secret=self.text(table, "client_secret", where, required=False),
            redirect_uri=self.url(table, "redirect_uri", where),
            scope=self.text(table, "scope", where),
            notify_listen=listen,
            asp_class=asp_class,
        )

    def customer(self, table: dict[str, Any], where: str) -> CustomerConfig:
        return CustomerConfig(
            username=self.text(table, "username", where),
            password=self.text(table, "password", where),
            kind=self.choice(table, "kind", where, ("other", *CUSTOMER_KINDS[:3])),
            email=self.text(table, "email", where, required=False),
            phone=self.text(table, "phone", where, required=False),
            totp_secret=self.text(table, "totp_secret", where, required=False),
            rate_change_rin=self.text(table, "rate_change_rin", where, required=False),
        )

    def browser(self, table: dict[str, Any]) -> BrowserConfig:
        mode = self.choice(table, "mode", "browser.", BROWSER_MODES)
        script = self.text(table, "script", "browser.", required=mode == "selenium")
        path = None
        if script is not None:
            path = (self.folder / script).resolve()
            if not path.is_file():
                raise self.fail("browser.script", f"{path}: no such file")
        for key in ("approve", "deny"):
            value = table.get(key)
            if value is not None and (not isinstance(value, str) or "=" not in value):
                raise self.fail(f"browser.{key}", f"{value!r}: write it as name=value")
        return BrowserConfig(
            mode=mode,
            username_field=self.text(table, "username_field", "browser.", required=False),
            password_field=self.text(table, "password_field", "browser.", required=False),
            approve=table.get("approve"),
            deny=table.get("deny"),
            script=path,
        )

    def passcodes(self, table: dict[str, Any]) -> PasscodeConfig:
        where = "passcodes."
        mode = self.choice(table, "mode", where, PASSCODE_MODES)
        inbox_url = self.url(table, "inbox_url", where, required=mode == "inbox")
        imap = mode == "imap"
        port = table.get("imap_port", 993)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.fail(f"{where}imap_port", f"must be a port number, not {port!r}")
        return PasscodeConfig(
            mode=mode,
            inbox_url=inbox_url,
            sms_inbox_url=self.url(table, "sms_inbox_url", where, required=False),
            imap_host=self.text(table, "imap_host", where, required=imap),
            imap_port=port,
            imap_user=self.text(table, "imap_user", where, required=imap),
            imap_password=self.text(table, "imap_password", where, required=imap),
            imap_mailbox=self.text(table, "imap_mailbox", where, required=False) or "INBOX",
            imap_ssl=bool(table.get("imap_ssl", True)),
            pattern=self.text(table, "pattern", where, required=False) or PasscodeConfig.pattern,
            timeout=self.number(table, "timeout", where, 60.0),
        )
