"""MIDAS prices for every RIN of a customer: the step that turns a Green Button grant into
device control.

    python examples/midas_prices.py --issuer http://127.0.0.1:5000 \
        --client-id demo-rate-coach-mobile --redirect-uri http://127.0.0.1:8765/mobile/callback \
        --token-store asp-tokens.json [--midas https://midasapi.energy.ca.gov]

Uses the grant command_line_asp.py saved in ``--token-store`` (the newest one, or
``--grant KEY``), reads the RINs of each electric service agreement from the utility, and
asks the CEC's MIDAS server (reads need no login) for each RIN's current price.  Unbundled
customers have two RINs: the utility's delivery rate and the CCA's generation rate -- a
device pays both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from espi_sst.client import AspClient, ClientError, FileTokenStore
from espi_sst.midas import MidasClient, MidasError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=None)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--token-store", default="asp-tokens.json")
    parser.add_argument("--grant", default=None, help="grant key (default: the only/last one)")
    parser.add_argument("--midas", default="https://midasapi.energy.ca.gov")
    args = parser.parse_args()
    stored = (
        json.loads(Path(args.token_store).read_text()) if Path(args.token_store).exists() else {}
    )
    key = args.grant or (list(stored)[-1] if stored else None)
    if key is None:
        print(f"no grant in {args.token_store}: run command_line_asp.py first", file=sys.stderr)
        return 2
    client = AspClient.from_issuer(
        args.issuer,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uri=args.redirect_uri,
        scope="sst:rin",
        token_store=FileTokenStore(args.token_store),
    )
    midas = MidasClient(args.midas)
    try:
        with client.connect(key) as customer:
            for point in customer.usage_points():
                if not point.electric:
                    continue
                print(point.title)
                for rin in customer.rins(point):
                    try:
                        interval = midas.prices(str(rin.value)).current()
                    except MidasError as exc:
                        print(f"  {rin.value}: no price ({exc})")
                        continue
                    if interval is None:
                        print(f"  {rin.value}: MIDAS has no price for now")
                    else:
                        print(
                            f"  {rin.value}: {interval.value:.4f} {interval.unit} "
                            f"until {interval.end:%Y-%m-%d %H:%M %Z}"
                        )
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
