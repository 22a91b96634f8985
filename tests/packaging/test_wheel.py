"""The built wheel works on its own: installed (not editable) into a fresh venv, away from
the checkout, it imports, finds its bundled schemas and validates offline.

Why: utilities install the package, not the repository; the XSDs must travel inside it.
No network: the wheel goes in with --no-index --no-deps, and the already-installed
dependencies (lxml, xmlschema) are made visible through a path file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
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
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("espi_sst-*.whl")
    return built


def test_wheel_carries_schemas_licence_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("espi.xsd", "customer.xsd", "atom.xsd", "xml.xsd", "NOTICE.md"):
        assert f"espi_sst/xsd/{required}" in names
    assert "espi_sst/py.typed" in names
    assert "espi_sst/samples/hourly-nine-days.xml" in names
    assert not any(name.startswith("tests/") for name in names)
    # the server: its migrations and templates travel with it
    assert "espi_sst_server/storage/migrations/versions/0001_initial_schema.py" in names
    assert "espi_sst_server/storage/migrations/script.py.mako" in names
    assert "espi_sst_server/portal/templates/portal/consent.html" in names
    assert not any(name.startswith("server/") for name in names)


def test_installed_wheel_validates_offline(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
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
    result = subprocess.run(
        [str(python), "-c", script],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    report = json.loads(result.stdout)
    assert report["module"].startswith(str(env_dir)), "the wheel, not the checkout, was imported"
    assert report["schemas"].startswith(str(env_dir))
    assert report["valid"] == []
    assert report["invalid"] >= 1

    cli = subprocess.run(
        [str(env_dir / "bin" / "espi-sst"), "inspect", "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert json.loads(cli.stdout)["interval_readings"] == 216

    server_script = f"""
import json, espi_sst_server
from espi_sst_server import create_app
app = create_app({{"DATABASE_URL": "sqlite:///{tmp_path}/wheel.db", "SECRET_KEY": "x"}})
client = app.test_client()
print(json.dumps({{
    "module": espi_sst_server.__file__,
    "login": client.get("/portal/login").status_code,
    "issuer": client.get("/.well-known/openid-configuration").get_json()["issuer"],
}}))
"""
    served = subprocess.run(
        [str(python), "-c", server_script],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    report = json.loads(served.stdout.strip().splitlines()[-1])
    assert report["module"].startswith(str(env_dir)), "the installed server, not the checkout"
    assert report["login"] == 200
    assert report["issuer"] == "http://127.0.0.1:5000"
