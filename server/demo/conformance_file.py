"""``conformance.toml``: the conformance kit's CONFIG for a running demo, written beside
``demo.json`` so that ``espi-sst conformance demo-data/conformance.toml`` just works.

It names the demo's issuer, its two qualified ASP clients (the confidential rate-change ASP
first, the public mobile app second: isolation between ASPs needs two), its customers with
their passwords and kinds, the built-in form walker for the portal, and the demo inbox page
where the rate-change passcodes arrive.  When the sample ASP app is not running, the kit
itself listens at the confidential client's notify URI (127.0.0.1:8765) and checks the
notifications; otherwise the sample ASP receives them and the kit says it skipped that.
"""

from __future__ import annotations

import json
from pathlib import Path

from espi_sst.scope import Scope

from .data import DemoData
from .sample_asp import ASP_PORT

__all__ = ["write_conformance_config"]

_SST_BY_PHASE = {1: ("sst:rin",), 2: ("sst:rin", "sst:bill_comparison")}


def _scope(base: str, *, data_only: bool, phase: int) -> str:
    words = base.split()
    if data_only:
        words = [w for w in words if w != "sst:rate_change"]
    if phase in _SST_BY_PHASE:
        words = [w for w in words if not w.startswith("sst:") or w in _SST_BY_PHASE[phase]]
    scope = " ".join(words)
    Scope.parse(words[0])
    return scope


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for this ASCII text)."""
    return json.dumps(value)


def conformance_toml(
    demo: DemoData,
    *,
    issuer: str,
    inbox_url: str,
    scope: str,
    sms_inbox_url: str | None = None,
    notify_listen: bool,
    data_only_clients: frozenset[str] = frozenset(),
    phase: int = 3,
    title: str = "the espi-sst demo",
) -> str:
    qualified = [c for c in demo.clients if c.qualification == "qualified"]
    qualified.sort(key=lambda c: c.client_secret is None)  # confidential first
    lines = [
        f"# espi-sst conformance CONFIG for {title}, written by `espi-sst demo`.",
        "# Run: espi-sst conformance THIS_FILE [--html report.html] [--junit report.xml]",
        "# docs/conformance.md explains every key.",
        f"issuer = {_q(issuer)}",
        "timeout = 30",
        "",
    ]
    for index, client in enumerate(qualified):
        data_only = client.client_id in data_only_clients or client.asp_class == "data-only"
        lines += [
            "[[clients]]",
            f"name = {_q(client.name)}",
            f"client_id = {_q(client.client_id)}",
        ]
        if client.client_secret:
            lines.append(f"client_secret = {_q(client.client_secret)}")
        lines += [
            f"redirect_uri = {_q(client.redirect_uris[0])}",
            f"scope = {_q(_scope(scope, data_only=data_only, phase=phase))}",
            f"class = {_q('data-only' if data_only else 'rate-change')}",
        ]
        if index == 0 and notify_listen:
            lines.append(f'notify_listen = "127.0.0.1:{ASP_PORT}"')
        lines.append("")
    kinds = ("bundled", "unbundled", "gas")
    rank = {kind: n for n, kind in enumerate(kinds)}
    for customer in sorted(demo.customers, key=lambda c: rank.get(c.kind, len(kinds))):
        lines += [
            "[[customers]]",
            f"username = {_q(customer.username)}",
            f"password = {_q(customer.password)}",
            f"kind = {_q(customer.kind if customer.kind in kinds else 'other')}",
        ]
        if customer.passcode_channel == "sms" and customer.phone:
            # Codes by text message (dana): the kit reads them from the SMS inbox page.
            lines.append(f"phone = {_q(customer.phone)}")
        elif customer.email:
            lines.append(f"email = {_q(customer.email)}")
        lines.append("")
    lines += [
        "[browser]",
        'mode = "form"  # the portal is plain HTML forms',
        "",
        "[passcodes]",
        'mode = "inbox"',
        f"inbox_url = {_q(inbox_url.rstrip('/') + '/{email}')}",
        *(
            [f"sms_inbox_url = {_q(sms_inbox_url.rstrip('/') + '/{phone}')}"]
            if sms_inbox_url
            else []
        ),
        "timeout = 60",
        "",
    ]
    return "\n".join(lines)


def write_conformance_config(path: Path, text: str) -> Path:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
    return path
