"""The built wheel works on its own: installed (not editable) into a fresh venv, away from
the checkout, it carries every file of the source tree, imports every subpackage, finds its
bundled schemas, validates offline, and runs the server in bolt-on mode.

Why: utilities install the package, not the repository; the XSDs, the migrations and every
subpackage must travel inside it.  A hand-written package list once left
``espi_sst_server.upstream`` out, so bolt-on mode -- the main way an IOU uses this -- could
not run from ``pip install 'espi-sst[server]'`` (issue 19); the lists compared here come
from the source tree, so a new package cannot be forgotten.

No network beyond 127.0.0.1: the wheel goes in with --no-index --no-deps, and the
already-installed dependencies are made visible through a path file.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
# Source folder -> the name it installs under (setup.py's package_dir).
INSTALLED_AS = {"espi_sst": "espi_sst", "server": "espi_sst_server"}

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding only the wheel (dependencies through a path file)."""

    root: Path
    python: Path
    home: Path

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def env(self, **settings: str) -> dict[str, str]:
        """A bare environment: nothing of the checkout, no proxies, no PYTHONPATH."""
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home), **settings}

    def run(self, *command: str, **settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            check=True,
            capture_output=True,
            text=True,
            cwd=self.home,
            env=self.env(**settings),
            timeout=120,
        )


def installed_name(source_path: str) -> str:
    """``server/oauth/routes.py`` -> ``espi_sst_server/oauth/routes.py``."""
    top, _, rest = source_path.partition("/")
    return f"{INSTALLED_AS[top]}/{rest}"


def source_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", *INSTALLED_AS],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listed.split("\0") if name]


def source_packages() -> set[str]:
    """Dotted names of every regular package (a folder with ``__init__.py``)."""
    return {
        installed_name(name).removesuffix("/__init__.py").replace("/", ".")
        for name in source_files()
        if name.endswith("/__init__.py")
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy without the checkout's build/ and *.egg-info: setuptools reuses
    # build/lib, so a module deleted since the last local build would ride along.
    source = tmp_path_factory.mktemp("source") / "espi-sst"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "node_modules", "__pycache__"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("espi_sst-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    # Dependencies come from this interpreter's site-packages (no download in tests).
    target_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    here_site = sysconfig.get_paths()["purelib"]
    Path(target_site, "deps-from-test-runner.pth").write_text(here_site + "\n")
    home = tmp_path_factory.mktemp("home")
    return Installed(root, python, home)


def test_wheel_carries_schemas_licence_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("espi.xsd", "customer.xsd", "atom.xsd", "xml.xsd", "NOTICE.md"):
        assert f"espi_sst/xsd/{required}" in names
    assert "espi_sst/py.typed" in names
    assert "espi_sst/samples/hourly-nine-days.xml" in names
    # the conformance kit's copy of the GBA certification catalogue, with its provenance
    assert "espi_sst/conformance/data/gba-test-cases-2019_index.tsv" in names
    assert "espi_sst/conformance/data/PROVENANCE.md" in names
    assert not any(name.startswith("tests/") for name in names)
    # the server: its migrations and templates travel with it
    assert "espi_sst_server/storage/migrations/versions/0001_initial_schema.py" in names
    assert "espi_sst_server/storage/migrations/script.py.mako" in names
    assert "espi_sst_server/portal/templates/portal/consent.html" in names
    assert not any(name.startswith("server/") for name in names)


def test_wheel_carries_every_file_of_the_source_tree(wheel: Path) -> None:
    """Every file git tracks under espi_sst/ and server/, and nothing else: a new package,
    a folder without ``__init__.py`` (Alembic's migrations) or a data file that
    setup.cfg's package_data does not match shows up here by name."""
    in_wheel = {name for name in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in name}
    expected = {installed_name(name) for name in source_files()}
    assert sorted(expected - in_wheel) == [], "left out of the wheel"
    assert sorted(in_wheel - expected) == [], "in the wheel but not in the source tree"


def test_installed_wheel_imports_every_subpackage(installed: Installed) -> None:
    script = """
import importlib, json, pathlib, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"])
found = {}
for top in ("espi_sst", "espi_sst_server"):
    for init in sorted((site / top).rglob("__init__.py")):
        name = ".".join(init.parent.relative_to(site).parts)
        found[name] = importlib.import_module(name).__file__
print(json.dumps(found))
"""
    found: dict[str, str] = json.loads(installed.run(str(installed.python), "-c", script).stdout)
    assert set(found) == source_packages()
    assert "espi_sst_server.upstream" in found  # the package once left out
    outside = {
        name: path for name, path in found.items() if not path.startswith(str(installed.root))
    }
    assert outside == {}, "imported from the checkout, not the wheel"


def test_installed_wheel_validates_offline(installed: Installed) -> None:
    sample = ROOT / "tests" / "data" / "corpus" / "pge-cmd_UsageSummaries.xml"
    broken = ROOT / "tests" / "data" / "corpus" / "gba-sandbox_UsagePoints-feed.xml"
    script = f"""
import json, espi_sst, espi_sst.validation as v
print(json.dumps({{
    "module": espi_sst.__file__,
    "schemas": str(v.schema_dir()),
    "valid": [str(i) for i in espi_sst.validate({str(sample)!r})],
    "invalid": len(espi_sst.validate({str(broken)!r})),
}}))
"""
    report = json.loads(installed.run(str(installed.python), "-c", script).stdout)
    assert report["module"].startswith(str(installed.root)), "the wheel, not the checkout"
    assert report["schemas"].startswith(str(installed.root))
    assert report["valid"] == []
    assert report["invalid"] >= 1

    cli = installed.run(installed.bin("espi-sst"), "inspect", "--json")
    assert json.loads(cli.stdout)["interval_readings"] == 216

    database = installed.home / "wheel.db"
    server_script = f"""
import json, espi_sst_server
from espi_sst_server import create_app
app = create_app({{"DATABASE_URL": "sqlite:///{database}", "SECRET_KEY": "x"}})
client = app.test_client()
print(json.dumps({{
    "module": espi_sst_server.__file__,
    "login": client.get("/portal/login").status_code,
    "issuer": client.get("/.well-known/openid-configuration").get_json()["issuer"],
}}))
"""
    served = installed.run(str(installed.python), "-c", server_script)
    report = json.loads(served.stdout.strip().splitlines()[-1])
    assert report["module"].startswith(str(installed.root)), "the installed server"
    assert report["login"] == 200
    assert report["issuer"] == "http://127.0.0.1:5000"


# -- bolt-on mode from the wheel -------------------------------------------------------------

MONITORING_SCOPE = "FB=1_3_4_5_13_14_15_19_37_39"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Upstream:
    """The existing custodian: this checkout's app as a plain GBC custodian."""

    url: str
    bolt_on_url: str  # where its token responses send ASPs (RESOURCE_BASE_URL)
    seen: list[tuple[str, str]]
    asp_id: str
    asp_secret: str
    bolt_on_id: str
    bolt_on_secret: str


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    from espi_sst_server import create_app
    from espi_sst_server.lifecycle.registration import (
        register_application,
        register_resource_server,
    )
    from espi_sst_server.storage import db
    from werkzeug.serving import make_server

    port = free_port()
    url, bolt_on_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{free_port()}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/upstream.db",
            "SECRET_KEY": "upstream",
            "ISSUER": url,
            "SST_ENABLED": False,
            "RESOURCE_BASE_URL": f"{bolt_on_url}/espi/1_1/resource",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        asp = register_application(
            db.session,
            name="Monitoring",
            redirect_uris=["https://monitoring.example/callback"],
            notify_uri="https://monitoring.example/notify",
        )
        bolt_on = register_resource_server(db.session, name="SST bolt-on")
    assert asp.client_secret is not None
    seen: list[tuple[str, str]] = []
    inner = app.wsgi_app

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return inner(environ, start_response)

    app.wsgi_app = recording  # type: ignore[method-assign]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Upstream(
            url,
            bolt_on_url,
            seen,
            asp.client_id,
            asp.client_secret,
            bolt_on.client_id,
            bolt_on.client_secret,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        app.extensions["espi_sst_db"].engine.dispose()


def test_installed_wheel_runs_the_bolt_on_against_an_upstream(
    installed: Installed, upstream: Upstream
) -> None:
    """docs/deployment.md, section 2, with the wheel's own commands: the ASP is registered
    at the bolt-on under the upstream's client id, gunicorn serves the bolt-on, and the
    monitoring probe of the same page goes through it: the token is introspected at the
    upstream and the request forwarded there."""
    token_answer = requests.post(
        f"{upstream.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": MONITORING_SCOPE},
        auth=(upstream.asp_id, upstream.asp_secret),
        timeout=30,
    )
    assert token_answer.status_code == 200, token_answer.text
    token = token_answer.json()["access_token"]
    assert token_answer.json()["resourceURI"].startswith(upstream.bolt_on_url)
    bolt_on = upstream.bolt_on_url

    settings = {
        "ESPI_DATABASE_URL": f"sqlite:///{installed.home}/bolt-on.db",
        "ESPI_SECRET_KEY": "bolt-on",
        "ESPI_ISSUER": bolt_on,
        "ESPI_UPSTREAM_RESOURCE_URL": f"{upstream.url}/espi/1_1/resource",
        "ESPI_TOKEN_VALIDATION": "introspection",
        "ESPI_INTROSPECTION_URL": f"{upstream.url}/oauth/introspect",
        "ESPI_INTROSPECTION_CLIENT_ID": upstream.bolt_on_id,
        "ESPI_INTROSPECTION_CLIENT_SECRET": upstream.bolt_on_secret,
        "ESPI_INTROSPECTION_CACHE_SECONDS": "0",
    }
    registered = installed.run(
        installed.bin("espi-sst"),
        "register-client",
        "--name",
        "Monitoring",
        "--client-id",
        upstream.asp_id,
        "--redirect-uri",
        "https://monitoring.example/callback",
        "--notify-uri",
        "https://monitoring.example/notify",
        **settings,
    )
    assert json.loads(registered.stdout)["client_id"] == upstream.asp_id

    log = installed.home / "gunicorn.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                str(installed.python),
                "-m",
                "gunicorn",
                "espi_sst_server.wsgi:app",
                "--bind",
                bolt_on.removeprefix("http://"),
                "--workers",
                "1",
            ],
            cwd=installed.home,
            env=installed.env(**settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(f"{bolt_on}/oauth/jwks.json", process, log)
        status = requests.get(
            f"{bolt_on}/espi/1_1/resource/ReadServiceStatus",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert status.status_code == 200, status.text
        assert b"currentStatus>1<" in status.content
        assert ("POST", "/oauth/introspect") in upstream.seen
        assert ("GET", "/espi/1_1/resource/ReadServiceStatus") in upstream.seen

        forged = requests.get(
            f"{bolt_on}/espi/1_1/resource/ReadServiceStatus",
            headers={"Authorization": "Bearer not-a-token-the-upstream-issued"},
            timeout=30,
        )
        assert forged.status_code == 401
        assert forged.json()["error"] == "invalid_token"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the bolt-on exited:\n" + log.read_text())
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or its first request (the app's start) is still running
        time.sleep(0.2)
    pytest.fail("the bolt-on did not answer within 60 s:\n" + log.read_text())
