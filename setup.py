"""Package discovery, so no subpackage can be left out of the wheel.

Metadata and dependencies live in setup.cfg; this file exists only because the server's
source folder (``server/``, the design card's layout) installs under another name
(``espi_sst_server``), which ``packages = find:`` in setup.cfg cannot express: listing the
packages by hand left ``espi_sst_server.upstream`` out of the wheel, so bolt-on mode could
not run from ``pip install 'espi-sst[server]'`` (issue 19).

Discovery is by namespace (PEP 420): a folder is found whether or not it has an
``__init__.py``, so Alembic's ``storage/migrations/`` (``env.py`` and ``versions/``, which
have none) travel too, and the data folders (schemas, samples, templates) are packages whose
files ``package_data`` in setup.cfg selects.  tests/packaging/test_wheel.py compares the
wheel's folders with the source tree and imports every subpackage from the installed wheel.
"""

from setuptools import find_namespace_packages, setup

NOT_SOURCE = ["*.__pycache__", "*.__pycache__.*"]
LIBRARY = find_namespace_packages(include=["espi_sst", "espi_sst.*"], exclude=NOT_SOURCE)
SERVER = [
    "espi_sst_server" + name[len("server") :]
    for name in find_namespace_packages(include=["server", "server.*"], exclude=NOT_SOURCE)
]

setup(packages=LIBRARY + SERVER, package_dir={"espi_sst_server": "server"})
