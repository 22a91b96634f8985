"""The soak's upstream Green Button Connect custodian, as a process of its own.

``python bench/soak/upstream_custodian.py --public-base URL`` serves the stand-in custodian
we did not write (tests/server/upstream/foreign_custodian.py: PG&E-shaped feeds, opaque
tokens, RFC 7662 introspection with the standard members only) on a free loopback port,
registers the soak's ASP and the bolt-on as a resource server that may introspect
(tests/server/upstream/bolt_on_seed.py's ids and secrets), prints one JSON line
``{"url": ..., "public_base": ...}`` and serves until SIGTERM or its stdin closes.

``--public-base`` is where the world reaches it -- the soak's fault proxy (fault_proxy.py)
-- so every href it writes, and every token response's resourceURI, names the address the
bolt-on forwards to and that the fault makes slow, then closes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "server" / "upstream")]

from bolt_on_seed import ASP_ID, ASP_SECRET, GBC_SCOPE, REDIRECT, RESOURCE_SERVER  # noqa: E402
from foreign_custodian import running_foreign_custodian  # noqa: E402

MAX_LIFE_S = 3600.0
"""Bounded: the custodian stops by itself after an hour, whatever happens to its parent."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--public-base", required=True, help="http://127.0.0.1:PORT (no path)")
    args = parser.parse_args(argv)
    done = threading.Event()

    def stop(_signum: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    with running_foreign_custodian(
        introspection="standard", shape="pge", public_base=args.public_base + "/GreenButtonConnect"
    ) as custodian:
        custodian.register_client(ASP_ID, ASP_SECRET, [REDIRECT], GBC_SCOPE)
        custodian.register_resource_server(*RESOURCE_SERVER)
        print(json.dumps({"url": custodian.url, "public_base": custodian.public_base}), flush=True)

        def watch_stdin() -> None:  # the parent gone (its pipe closed): stop too
            sys.stdin.read()
            done.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        done.wait(MAX_LIFE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
