"""The conformance kit's SST group (SST-01..09, concept design section 8) against real demos.

``espi-sst demo`` runs in its own process exactly as a developer starts it (without the
sample ASP, so the kit itself listens at the clients' notify URI, 127.0.0.1:8765); the kit
reads the ``conformance.toml`` the demo wrote and runs the ``sst`` group twice: every
scenario must pass both times (the rate changes of the first run must not stand in the
way of the second).  The statewide demo's two files: PGE through the gateway passes every
scenario; SCE (Phase 1, non-cached CCA RINs) passes the RIN scenarios on the referral and
skips bill comparison and rate change, saying that it does not offer them.
"""

from __future__ import annotations

from pathlib import Path

from demo_process import demo_process

from espi_sst.conformance.config import load_config
from espi_sst.conformance.model import Verdict
from espi_sst.conformance.runner import Report, run_conformance

SST_IDS = [f"SST-0{n}" for n in range(1, 10)]


def run_sst(config_file: str | Path) -> Report:
    return run_conformance(load_config(config_file), only=["sst"])


def verdicts(report: Report) -> dict[str, tuple[Verdict, str]]:
    return {r.scenario.id: (r.verdict, r.reason) for r in report.results}


def test_every_sst_scenario_passes_against_the_demo_twice(tmp_path: Path) -> None:
    with demo_process(tmp_path, ["--asp-port", "0"]):
        config_file = tmp_path / "demo" / "conformance.toml"
        assert load_config(config_file).clients[0].notify_listen == ("127.0.0.1", 8765)
        for _run in (1, 2):
            report = run_sst(config_file)
            found = verdicts(report)
            assert sorted(found) == SST_IDS
            assert all(verdict is Verdict.PASS for verdict, _ in found.values()), found
            notes = {r.scenario.id: " ".join(r.notes) for r in report.results}
            assert "cached CCA RIN (7.13.1.1)" in notes["SST-02"]
            assert "accepted, effective" in notes["SST-06"]
            assert "wrong passcode: 422" in notes["SST-07"]
            assert "BatchList named" in notes["SST-08"]
            assert "status 0 (revoked)" in notes["SST-09"]


def test_the_statewide_demo_writes_files_its_entities_pass(tmp_path: Path) -> None:
    with demo_process(tmp_path, ["--statewide", "--asp-port", "0"]) as document:
        files = document["conformance"]
        assert sorted(files) == ["PGE", "SCE"]
        pge = load_config(files["PGE"])
        assert pge.issuer == document["entities"]["PGE"]["issuer"]
        found = verdicts(run_sst(files["PGE"]))
        assert all(verdict is Verdict.PASS for verdict, _ in found.values()), found

        assert load_config(files["SCE"]).issuer == document["entities"]["SCE"]["issuer"]
        report = run_sst(files["SCE"])
        found = verdicts(report)
        passed = {"SST-01", "SST-02", "SST-03", "SST-08", "SST-09"}
        assert {i for i, (v, _) in found.items() if v is Verdict.PASS} == passed, found
        for skipped in sorted(set(SST_IDS) - passed):
            verdict, reason = found[skipped]
            assert verdict is Verdict.SKIP and "does not offer" in reason, (skipped, reason)
        referral = next(r for r in report.results if r.scenario.id == "SST-02")
        assert any("non-cached CCA RIN (7.13.1.2)" in note for note in referral.notes)
