"""The kit's resources, certification and schema groups against a real ``espi-sst demo``.

The demo writes its own CONFIG (conformance.toml); the kit runs over loopback HTTP as any
Plug Fest participant would, and every scenario of these groups must pass or be skipped
for a stated reason that is not a failure (a GBA rule of a function block the demo's scope
does not claim, the catalogue's D078 that is no XPath).
"""

from __future__ import annotations

from pathlib import Path

from demo_process import demo_process

from espi_sst.conformance.config import load_config
from espi_sst.conformance.model import Verdict
from espi_sst.conformance.runner import run_conformance

GROUPS = ("DISC-01", "OAUTH-01", "resources", "certification", "schema")


def test_the_demo_passes_the_resource_certification_and_schema_groups(tmp_path: Path) -> None:
    with demo_process(tmp_path, ["--asp-port", "0"]):
        written = (tmp_path / "demo" / "conformance.toml").read_text()
        config_file = tmp_path / "conformance.toml"  # the kit need not receive notifications
        config_file.write_text(
            "\n".join(line for line in written.splitlines() if "notify_listen" not in line)
        )
        report = run_conformance(load_config(config_file), only=GROUPS)
    verdicts = {r.scenario.id: r for r in report.results}
    failed = {i: r.reason for i, r in verdicts.items() if r.verdict is Verdict.FAIL}
    assert failed == {}
    passed = {i for i, r in verdicts.items() if r.verdict is Verdict.PASS}
    assert {f"ESPI-{n:02d}" for n in range(1, 18)} <= passed
    assert {"ESPI-SCHEMA", "GBA-D099", "GBA-D007", "GBA-D146"} <= passed
    skipped = {i: r.reason for i, r in verdicts.items() if r.verdict is Verdict.SKIP}
    assert "not an XPath" in skipped.pop("GBA-D078")
    assert all("claims function blocks" in reason for reason in skipped.values()), skipped
    # the schema verdict saw the Batch feeds and the ASP's collections
    schema = verdicts["ESPI-SCHEMA"]
    assert any("validated, 0 invalid" in note for note in schema.notes)
