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

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from demo_process import demo_process

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
