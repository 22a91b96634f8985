"""The conformance kit end to end (issue 14): ``espi-sst conformance`` as a Plug Fest runs it.

* against ``espi-sst demo`` (the kit listening at the demo ASP's notify URI, so the sample
  ASP is off): every scenario passes, twice in a row on the same demo -- a run leaves
  nothing behind that makes the next one fail -- and the skips are exactly the listed ones;
* against a deliberately broken demo (tests/integration/broken_demo.py: PKCE ignored, a wrong
  RIN role, a schema-invalid body): the kit fails exactly the scenarios each defect targets,
  and nothing else -- proof that it can fail, and fails precisely;
* against ``espi-sst demo --statewide`` through its gateway, with the CONFIG files the demo
  writes for PGE (caches its CCA customers' RINs) and SCE (does not; SST Phase 1).

The kit runs as a separate process (the CLI a utility runs), its JUnit XML read back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from demo_process import demo_process
from imap_server import imap_server, require_dovecot

from espi_sst.conformance import Verdict, load_config
from espi_sst.conformance.runner import Report, run_conformance

HERE = Path(__file__).parent
CLI = str(Path(sys.executable).with_name("espi-sst"))


@dataclass(frozen=True)
class KitRun:
    exit_code: int
    output: str
    verdicts: dict[str, tuple[str, str]]  # id -> (pass | fail | skipped, message)
    html: Path

    def ids(self, verdict: str) -> set[str]:
        return {i for i, (v, _m) in self.verdicts.items() if v == verdict}


def run_kit(config: Path, out: Path, *options: str) -> KitRun:
    out.mkdir(parents=True, exist_ok=True)
    junit, html = out / "kit.xml", out / "kit.html"
    done = subprocess.run(
        [CLI, "conformance", str(config), "--junit", str(junit), "--html", str(html), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    verdicts = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        scenario_id = str(case.get("name")).split(" ", 1)[0]
        failure, skipped = case.find("failure"), case.find("skipped")
        if failure is not None:
            verdicts[scenario_id] = ("fail", str(failure.get("message")))
        elif skipped is not None:
            verdicts[scenario_id] = ("skipped", str(skipped.get("message")))
        else:
            verdicts[scenario_id] = ("pass", "")
    return KitRun(done.returncode, done.stdout + done.stderr, verdicts, html)


def groups(run: KitRun) -> set[str]:
    return {scenario_id.split("-", 1)[0] for scenario_id in run.ids("pass")}


def report_verdicts(report: Report) -> dict[str, tuple[Verdict, str]]:
    return {r.scenario.id: (r.verdict, r.reason) for r in report.results}


def notes_of(report: Report) -> dict[str, str]:
    return {r.scenario.id: " ".join(r.notes) for r in report.results}


def assert_only_unclaimed_rules_skipped(skipped: dict[str, str]) -> None:
    """A skip is a GBA rule of a function block the server does not claim, or the one rule
    whose catalogue text is not an XPath (D078): nothing else may hide behind a skip."""
    for scenario_id, reason in skipped.items():
        assert scenario_id.startswith("GBA-"), (scenario_id, reason)
        assert "claims function blocks" in reason or scenario_id == "GBA-D078", reason


def test_the_demo_passes_every_scenario_twice(tmp_path: Path) -> None:
    """The CLI as a utility runs it (JUnit XML, HTML), then the library's runner on the same
    demo: both pass, so a run leaves nothing that fails the next (rate changes included)."""
    with demo_process(tmp_path, ["--asp-port", "0"]):
        config = tmp_path / "demo" / "conformance.toml"
        first = run_kit(config, tmp_path / "first")
        second = run_conformance(load_config(config))
        by_browser = run_with_the_selenium_script(config, tmp_path / "selenium")
    assert first.exit_code == 0, first.output
    assert not first.ids("fail"), first.output
    assert_only_unclaimed_rules_skipped(
        {i: m for i, (v, m) in first.verdicts.items() if v == "skipped"}
    )
    assert groups(first) >= {"DISC", "OAUTH", "ESPI", "SST", "GBA"}
    for scenario_id in ("ESPI-SCHEMA", "SST-06", "SST-08", "OAUTH-08", "GBA-D099", "GBA-D081"):
        assert first.verdicts[scenario_id][0] == "pass", (scenario_id, first.verdicts[scenario_id])
    page = first.html.read_text()
    assert all(f'id="{scenario_id}"' in page for scenario_id in first.verdicts)
    assert '<span class="fail">0 failed</span>' in page
    found = report_verdicts(second)
    assert second.passed, [(i, m) for i, (v, m) in found.items() if v is Verdict.FAIL]
    assert {i for i, (v, _m) in found.items() if v is Verdict.PASS} == first.ids("pass")
    # The portal walked by a real browser (examples/conformance/selenium_walk.py): approve,
    # deny, the hybrid response mode.
    assert by_browser.exit_code == 0, by_browser.output
    assert by_browser.ids("pass") == {"DISC-01", "OAUTH-01", "OAUTH-07", "OAUTH-08"}
    notes = notes_of(second)
    assert "cached CCA RIN (7.13.1.1)" in notes["SST-02"]
    assert "accepted, effective" in notes["SST-06"]
    assert "wrong passcode: 422" in notes["SST-07"]
    assert "BatchList named" in notes["SST-08"]
    assert "status 0 (revoked)" in notes["SST-09"]


def run_with_the_selenium_script(config: Path, out: Path) -> KitRun:
    """The same CONFIG with ``[browser] mode = "selenium"`` and the example script."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("ESPI_REQUIRE_BROWSER"):
            pytest.fail("ESPI_REQUIRE_BROWSER is set but chromium/chromedriver are missing")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    script = HERE.parents[1] / "examples" / "conformance" / "selenium_walk.py"
    text = config.read_text().replace('mode = "form"', f'mode = "selenium"\nscript = "{script}"')
    assert 'mode = "selenium"' in text
    selenium_config = config.with_name("conformance-selenium.toml")
    selenium_config.write_text(text.replace("notify_listen", "# notify_listen"))
    options = (
        "--only",
        "DISC-01",
        "--only",
        "OAUTH-01",
        "--only",
        "OAUTH-07",
        "--only",
        "OAUTH-08",
    )
    return run_kit(selenium_config, out, *options)


BROKEN_TARGETS = {
    # PKCE not enforced (RFC 9700 2.1.1): no challenge, plain, a wrong or no verifier.
    "OAUTH-02",
    "OAUTH-03",
    "OAUTH-04",
    "OAUTH-05",
    # The CCA's generation RIN in the deliveryRin element (1623(c)(1)(A), concept design 7.13.1).
    "SST-02",
    # An element the ESPI schema does not have.
    "ESPI-SCHEMA",
}


def test_a_broken_server_fails_exactly_the_scenarios_its_defects_target(tmp_path: Path) -> None:
    broken = [sys.executable, str(HERE / "broken_demo.py")]
    with demo_process(tmp_path, ["--asp-port", "0"], command=broken):
        run = run_kit(tmp_path / "demo" / "conformance.toml", tmp_path / "kit")
    assert run.exit_code == 1, run.output
    assert run.ids("fail") == BROKEN_TARGETS, run.output
    assert "is a generation RIN; <deliveryRin> takes a delivery RIN" in run.verdicts["SST-02"][1]
    assert "notInTheSchema" in run.verdicts["ESPI-SCHEMA"][1]
    assert 'access_token": "' not in run.html.read_text().replace("…", "")  # masked


def test_the_statewide_demo_passes_through_its_gateway(tmp_path: Path) -> None:
    """PGE (caches its CCA customers' RINs, Phase 3) passes everything; SCE (does not cache
    them, Phase 1) passes the RIN scenarios on the referral and skips, saying why, what
    Phase 1 does not offer."""
    with demo_process(tmp_path, ["--statewide", "--asp-port", "0"]) as document:
        files = document["conformance"]
        assert sorted(files) == ["PGE", "SCE"]
        pge_config = load_config(files["PGE"])
        assert pge_config.issuer == document["entities"]["PGE"]["issuer"]
        assert "/SST/v1/" in pge_config.issuer  # through the gateway
        pge = run_conformance(pge_config)
        sce = run_conformance(load_config(files["SCE"]))
    for report in (pge, sce):
        found = report_verdicts(report)
        assert report.passed, [(i, m) for i, (v, m) in found.items() if v is Verdict.FAIL]
    skipped = {i: m for i, (v, m) in report_verdicts(pge).items() if v is Verdict.SKIP}
    assert_only_unclaimed_rules_skipped(skipped)
    sce_found = report_verdicts(sce)
    for scenario_id in ("SST-04", "SST-05", "SST-06", "SST-07"):
        verdict, reason = sce_found[scenario_id]
        assert verdict is Verdict.SKIP and "does not offer" in reason, (scenario_id, reason)
    for scenario_id in ("SST-01", "SST-02", "SST-03", "SST-08", "SST-09", "OAUTH-01", "ESPI-01"):
        assert sce_found[scenario_id][0] is Verdict.PASS, (scenario_id, sce_found[scenario_id])
    assert "non-cached CCA RIN (7.13.1.2)" in notes_of(sce)["SST-02"]


def test_passcodes_read_from_an_imap_mailbox(tmp_path: Path) -> None:
    """The IMAP passcode source against a real IMAP server (Debian's Dovecot) serving the
    mailbox the demo's mail goes to: the rate-change scenarios get their passcodes by IMAP."""
    require_dovecot()
    # Dovecot's processes run as its own user (never root): the demo's folder and the IMAP
    # configuration must be reachable by it, which pytest's private tmp_path is not.
    shared = Path(tempfile.mkdtemp(prefix="espi-imap-"))
    shared.chmod(0o755)
    try:
        report = _sst_by_imap(shared)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    found = report_verdicts(report)
    assert all(v is Verdict.PASS for v, _m in found.values()), found
    assert "accepted, effective" in notes_of(report)["SST-06"]
    # The passcodes came over IMAP: the kit never asked the demo's inbox page.
    pages = [e.url for r in report.results for e in r.evidence]
    assert not any("/demo/inbox" in url for url in pages)


def _sst_by_imap(tmp_path: Path) -> Report:
    with demo_process(tmp_path, ["--asp-port", "0"]):
        maildir = tmp_path / "demo" / "mail"
        with imap_server(tmp_path / "imap", maildir) as imap:
            text = (tmp_path / "demo" / "conformance.toml").read_text()
            inbox = text[text.index("[passcodes]") :]
            imap_config = tmp_path / "demo" / "conformance-imap.toml"
            imap_config.write_text(
                text.replace(
                    inbox,
                    '[passcodes]\nmode = "imap"\n'
                    f'imap_host = "{imap.host}"\nimap_port = {imap.port}\nimap_ssl = false\n'
                    f'imap_user = "{imap.user}"\nimap_password = "{imap.password}"\n',
                )
            )
            return run_conformance(load_config(imap_config), only=["DISC-01", "SST-06", "SST-07"])
