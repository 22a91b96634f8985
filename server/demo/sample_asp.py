"""The demo's third party: the sample ASP app (``examples/asp_app``) as client
``demo-energy-insights``, on the demo clients' registered base URL (``clients.ASP_BASE``).

``examples/`` is not installed with the package: the app is imported from the source
checkout this server runs from.  Installed from a wheel there is no checkout, and the demo
runs without it (:func:`load_asp_factory` returns None).
"""

from __future__ import annotations

import errno
import secrets
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, make_server

from .clients import ASP_BASE
from .data import DemoData

ASP_CLIENT_ID = "demo-energy-insights"
ASP_PORT = urlsplit(ASP_BASE).port or 80
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_asp_factory() -> Callable[[dict[str, Any]], Any] | None:
    """``create_asp_app`` from the checkout's ``examples/asp_app``, None when absent."""
    if not (EXAMPLES / "asp_app" / "__init__.py").is_file():
        return None
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))  # appended: nothing installed is shadowed
    from asp_app import create_asp_app

    factory: Callable[[dict[str, Any]], Any] = create_asp_app
    return factory


def serve_sample_asp(
    factory: Callable[[dict[str, Any]], Any],
    demo: DemoData,
    *,
    issuer: str,
    midas_url: str,
    data_dir: Path,
) -> tuple[BaseWSGIServer, threading.Thread, str]:
    """Serve the sample ASP in a thread on ``ASP_BASE``; returns (server, thread, its URL).

    Raises OSError when the port is taken (another demo, or command_line_asp.py).
    """
    client = next(c for c in demo.clients if c.client_id == ASP_CLIENT_ID)
    tokens = data_dir / "asp-tokens.json"
    tokens.unlink(missing_ok=True)  # grants of the last run's database mean nothing now
    app = factory(
        {
            "UTILITY_ISSUER": issuer,
            "CLIENT_ID": client.client_id,
            "CLIENT_SECRET": client.client_secret,
            "REDIRECT_URI": client.redirect_uris[0],
            "MIDAS_BASE_URL": midas_url,
            "TOKEN_STORE": str(tokens),
            "SECRET_KEY": secrets.token_urlsafe(32),
        }
    )
    try:
        server = make_server("127.0.0.1", ASP_PORT, app, threaded=True)
    except SystemExit:  # werkzeug printed why it cannot bind (the port is taken) and exits
        raise OSError(errno.EADDRINUSE, "address already in use") from None
    thread = threading.Thread(target=server.serve_forever, name="sample-asp", daemon=True)
    thread.start()
    return server, thread, f"{ASP_BASE}/"
