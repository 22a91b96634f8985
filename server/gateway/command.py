"""``espi-sst gateway REGISTRY --out DIR``: write the statewide gateway's nginx configuration.

Thin, like every command: arguments -> :func:`~.nginx.write_nginx_gateway` -> a message and
an exit code (2 with one line for a bad registry or option, never a traceback).  It needs no
database and no server configuration: the gateway holds no data (concept design 6.2).
``--check`` asks the installed nginx (``nginx -t``) whether it accepts the result.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .directory import RESOURCE_PATH
from .nginx import VERIFY_CLIENT, write_nginx_gateway
from .registry import GatewayRegistryError, load_gateway_registry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("registry", metavar="REGISTRY", help="espi-sst-gateway-registry/1 JSON")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write nginx.conf")
    p.add_argument("--listen", default="127.0.0.1:8443", help="nginx listen (host:port)")
    p.add_argument("--tls-cert", metavar="PEM", help="certificate chain: terminate TLS here")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--client-ca", metavar="PEM", help="CA of ASP client certificates (mTLS)")
    p.add_argument(
        "--mtls",
        choices=VERIFY_CLIENT,
        default=None,
        help="ssl_verify_client with --client-ca (default optional: customers' browsers "
        "reach the portals without certificates)",
    )
    p.add_argument("--rate", default="10r/s", help="requests per client (10r/s, 600r/m)")
    p.add_argument("--burst", type=int, default=20, help="extra requests a client may burst")
    p.add_argument("--address-rate", default="50r/s", help="requests per remote address")
    p.add_argument("--address-burst", type=int, default=100)
    p.add_argument("--user", default=None, help="nginx worker user when started as root")
    p.add_argument("--foreground", action="store_true", help="daemon off (systemd, containers)")
    p.add_argument("--check", action="store_true", help="run nginx -t on the result")


def run(args: argparse.Namespace) -> int:
    if args.mtls is not None and args.client_ca is None:
        return _fail("--mtls needs --client-ca (the CA that signs ASP certificates)")
    options: dict[str, Any] = {
        "listen": args.listen,
        "rate": args.rate,
        "burst": args.burst,
        "address_rate": args.address_rate,
        "address_burst": args.address_burst,
        "user": args.user,
        "daemon": not args.foreground,
        "verify_client": args.mtls or "optional",
    }
    for name in ("tls_cert", "tls_key", "client_ca"):
        value = getattr(args, name)
        if value is not None:
            path = Path(value).resolve()  # nginx would read a relative path from its prefix
            if not path.is_file():
                return _fail(f"--{name.replace('_', '-')} {value}: no such file")
            options[name] = path
    try:
        registry = load_gateway_registry(args.registry)
        files = write_nginx_gateway(registry, args.out, **options)
    except (GatewayRegistryError, ValueError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror}")
    folder = shlex.quote(str(files.directory))
    entities = ", ".join(e.id for e in registry.entities)
    print(f"wrote {files.config} and {files.directory_json} ({entities})")
    print(f"check it:  nginx -t -p {folder} -c nginx.conf")
    print(f"run it:    nginx -p {folder} -c nginx.conf")
    print(f"reload:    nginx -p {folder} -c nginx.conf -s reload")
    print(
        "each entity's server: ESPI_ISSUER="
        f"{registry.public_base_url}/SST/v1/<ID> ESPI_TRUSTED_PROXY_HOPS=1"
    )
    for entity in registry.entities:
        if entity.custodian is not None:
            print(
                f"{entity.id} is split: the bolt-on at {entity.upstream} answers the SST paths "
                f"and UsageSummary, the custodian at {entity.custodian} the rest; the "
                f"bolt-on's ESPI_UPSTREAM_RESOURCE_URL={entity.custodian}{RESOURCE_PATH} "
                "(the custodian itself, never the gateway)"
            )
    if args.check:
        return _check(files.directory)
    return 0


def _check(folder: Path) -> int:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        print("nginx is not installed here: the configuration was not checked")
        return 0
    done = subprocess.run(
        [nginx, "-t", "-p", str(folder), "-c", "nginx.conf"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return _fail("nginx -t refused the configuration (above)", code=1)
    print("nginx -t: the configuration is valid")
    return 0


def _fail(message: str, *, code: int = 2) -> int:
    sys.stderr.write(f"espi-sst: error: {' '.join(message.split())}\n")
    return code
