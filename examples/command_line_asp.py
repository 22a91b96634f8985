"""A command-line ASP: authorize at a utility through a loopback redirect, then print the
customer's RINs and bill comparison.

    python examples/command_line_asp.py --issuer http://127.0.0.1:5000 \
        --client-id demo-rate-coach-mobile --redirect-uri http://127.0.0.1:8765/mobile/callback

A native app is a *public* client: no secret, PKCE only (RFC 8252; the library always uses
S256).  The script listens on the redirect URI's loopback port for exactly one request,
prints the authorization URL (and opens a browser unless ``--no-browser``), waits for the
customer to approve at the utility, exchanges the code and saves the tokens in
``--token-store`` (a 0600 JSON file) for later runs (see midas_prices.py).
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

from espi_sst.client import AspClient, ClientError, FileTokenStore

SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 billing usage sst:rin sst:bill_comparison"
)


def wait_for_callback(redirect_uri: str, timeout: float) -> str:
    """Serve one request on the redirect URI's loopback port; return its full URL."""
    parts = urlsplit(redirect_uri)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the redirect URI must be a loopback address (RFC 8252 7.3)")
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            received.append(f"{parts.scheme}://{parts.netloc}{self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Done: you can close this window and return to the terminal.")

        def log_message(self, *args: object) -> None:
            pass

    with HTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Handler) as server:
        server.timeout = timeout
        while not received:
            server.handle_request()
            if not received:
                raise SystemExit("no answer from the browser in time")
    return received[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=None, help="confidential clients only")
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--token-store", default="asp-tokens.json")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    try:
        client = AspClient.from_issuer(
            args.issuer,
            client_id=args.client_id,
            client_secret=args.client_secret,
            redirect_uri=args.redirect_uri,
            scope=SCOPE,
            token_store=FileTokenStore(args.token_store),
        )
        started = client.authorization_url()
        print(f"Open this URL to authorize:\n{started.url}", flush=True)
        if not args.no_browser:
            webbrowser.open(started.url)
        grant = client.fetch_token(wait_for_callback(args.redirect_uri, args.timeout), started)
        print(f"grant {grant.key} saved in {args.token_store}")
        with client.connect(grant.key) as customer:
            for point in customer.usage_points():
                if not point.electric:
                    continue
                print(f"\n{point.title}")
                for rin in customer.rins(point):
                    print(f"  RIN {rin.value}  ({rin.value.role if rin.value else '?'})")
                comparison = customer.bill_comparison(point)
                print(f"  bill comparison: {comparison.status.value if comparison.status else '?'}")
                for estimate in comparison.rate_estimate:
                    mark = "*" if estimate.is_current else " "
                    print(
                        f"  {mark} {estimate.tariff_code:<18} "
                        f"${(estimate.annual_cost_amount or 0):>9,.2f} a year"
                    )
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
