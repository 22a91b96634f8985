"""The custodian's own HTML: sign-in, consent ("Share My Data"), the customer's authorizations.

Plain forms a scripted browser can walk (``tests/integration/demo_process.py``'s
``CustomerBrowser`` included): every form posts ``csrf_token``; the consent form has one
``usage_points`` checkbox per service of the customer (all ticked) and the buttons
``decision=approve`` / ``decision=deny``.  No SST anywhere: this custodian has never heard
of it.
"""

from __future__ import annotations

from html import escape

from .state import ForeignCustomer, Grant

STYLE = "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}</style>"


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"{STYLE}</head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _csrf(csrf: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'


def sign_in(action: str, csrf: str, error: str = "") -> str:
    note = f'<p class="error">{escape(error)}</p>' if error else ""
    return _page(
        "Sign in to Share My Data",
        f'{note}<form method="post" action="{escape(action)}">{_csrf(csrf)}'
        '<label>Username <input name="username" autocomplete="username"></label><br>'
        '<label>Password <input type="password" name="password"></label><br>'
        '<button type="submit">Sign in</button></form>',
    )


def consent(
    action: str, csrf: str, client_name: str, scope: str, customer: ForeignCustomer, error: str = ""
) -> str:
    note = f'<p class="error">{escape(error)}</p>' if error else ""
    boxes = "".join(
        f'<label><input type="checkbox" name="usage_points" value="{escape(point)}" checked> '
        f"Electric service {escape(point)} at {escape(customer.address)}</label><br>"
        for point in customer.usage_points
    )
    return _page(
        "Share My Data",
        f"{note}<p>{escape(client_name)} asks to read your energy data "
        f"(<code>{escape(scope)}</code>).</p>"
        f'<form method="post" action="{escape(action)}">{_csrf(csrf)}{boxes}'
        '<button type="submit" name="decision" value="approve">Allow</button> '
        '<button type="submit" name="decision" value="deny">Deny</button></form>',
    )


def authorizations(csrf: str, grants: list[Grant]) -> str:
    rows = "".join(
        f"<li>{escape(g.client_id)}: services {escape(', '.join(g.usage_points))} "
        f'<form method="post" action="authorizations/revoke">{_csrf(csrf)}'
        f'<input type="hidden" name="authorization" value="{escape(g.authorization_id)}">'
        '<button type="submit">Stop sharing</button></form></li>'
        for g in grants
    )
    return _page("Your authorizations", f"<ul>{rows}</ul>" if rows else "<p>None.</p>")


def error(message: str) -> str:
    return _page("Share My Data: request refused", f"<p>{escape(message)}</p>")
