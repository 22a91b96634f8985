"""Validation benchmark (issue 17): ``espi-sst validate`` against ``xmllint --stream --schema``.

Each measurement is a fresh process (its peak RSS is ``os.wait4``'s ``ru_maxrss``; this
script imports nothing big, so a child inherits no large peak), best of ``--repeat``,
interleaved, anchor measured in the same run.  Contenders: the in-process API
(``espi_sst.validate`` in a bare interpreter), the CLI, and libxml2's own ``xmllint``
(``apt-get install libxml2-utils``) with the same schema set (xsd/catalog.xml maps the W3C
xml.xsd to the shipped copy: no network).  Targets: <= 2x xmllint's time, < 60 MiB.

    .venv/bin/python bench/validate.py [--sizes 1y,5y] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import generate  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
XSD = ROOT / "espi_sst" / "xsd"
PYTHON = sys.executable
WRAPPER = (
    '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    + "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(XSD / name).as_uri()}"/>'
        for ns, name in (
            ("http://www.w3.org/2005/Atom", "atom.xsd"),
            ("http://naesb.org/espi", "espi.xsd"),
            ("http://naesb.org/espi/customer", "customer.xsd"),
            ("urn:espi-sst:sst:1", "espi-sst.xsd"),
        )
    )
    + "</xs:schema>"
)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(seconds, peak RSS KiB, exit code) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return took, usage.ru_maxrss, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1y,5y")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        print("xmllint missing: apt-get install -y libxml2-utils", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = Path(tmp) / "espi-set.xsd"
        wrapper.write_text(WRAPPER)
        env = dict(os.environ, XML_CATALOG_FILES=str(XSD / "catalog.xml"))
        print(f"load average: {os.getloadavg()}")
        print("| file | contender | best s | ratio to xmllint | peak MiB | target |")
        print("|---|---|---|---|---|---|")
        for size in args.sizes.split(","):
            path, _manifest = generate.ensure(size)
            runs = {
                "xmllint --stream --schema": [
                    xmllint,
                    "--noout",
                    "--stream",
                    "--schema",
                    str(wrapper),
                    str(path),
                ],
                "espi_sst.validate (API)": [
                    PYTHON,
                    "-c",
                    f"import espi_sst,sys; sys.exit(1 if espi_sst.validate({str(path)!r}) else 0)",
                ],
                "espi-sst validate (CLI)": [
                    str(Path(PYTHON).with_name("espi-sst")),
                    "validate",
                    "--quiet",
                    str(path),
                ],
            }
            best: dict[str, tuple[float, int]] = {}
            for _ in range(args.repeat):
                for name, command in runs.items():
                    took, rss, code = timed(command, env)
                    if code != 0:
                        print(f"{name} on {path.name}: exit {code}", file=sys.stderr)
                        return 1
                    old = best.get(name)
                    best[name] = (
                        min(took, old[0]) if old else took,
                        max(rss, old[1]) if old else rss,
                    )
            anchor = best["xmllint --stream --schema"][0]
            for name, (took, rss) in best.items():
                ratio = took / anchor
                verdict = (
                    "anchor"
                    if name.startswith("xmllint")
                    else ("PASS" if ratio <= 2 and rss / 1024 < 60 else "MISS")
                )
                print(
                    f"| {path.name} | {name} | {took:.2f} | {ratio:.2f}x | {rss / 1024:.0f} | {verdict} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
