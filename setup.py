"""Package discovery, so no subpackage can be left out of the wheel.

Metadata and dependencies live in setup.cfg; this file exists only because the server's
source folder (``server/``, the design card's layout) installs under another name
(``espi_sst_server``), which ``packages = find:`` in setup.cfg cannot express: listing the
packages by hand left ``espi_sst_server.upstream`` out of the wheel, so bolt-on mode could
not run from ``pip install 'espi-sst[server]'`` (issue 19).  tests/packaging/test_wheel.py
imports every subpackage from the installed wheel.
"""

from setuptools import find_packages, setup

LIBRARY = find_packages(include=["espi_sst", "espi_sst.*"])
SERVER = [
    "espi_sst_server" + name[len("server") :]
    for name in find_packages(include=["server", "server.*"])
]

setup(packages=LIBRARY + SERVER, package_dir={"espi_sst_server": "server"})
