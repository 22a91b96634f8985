"""JUnit XML: one testcase per scenario (CI systems show failures and skips from it)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from ..model import Verdict
from ..runner import Report

__all__ = ["write_junit"]


def write_junit(path: Path, report: Report) -> None:
    suite = ET.Element(
        "testsuite",
        name="espi-sst conformance",
        tests=str(len(report.results)),
        failures=str(report.count(Verdict.FAIL)),
        skipped=str(report.count(Verdict.SKIP)),
        errors="0",
        time=f"{report.seconds:.3f}",
        timestamp=report.started,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("issuer", report.issuer), ("kit_version", report.kit_version)):
        ET.SubElement(properties, "property", name=name, value=value)
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{result.scenario.group}",
            name=f"{result.scenario.id} {result.scenario.title}",
            time=f"{result.seconds:.3f}",
        )
        if result.verdict is Verdict.FAIL:
            failure = ET.SubElement(case, "failure", message=result.reason)
            failure.text = "\n".join(e.summary() for e in result.evidence)
        elif result.verdict is Verdict.SKIP:
            ET.SubElement(case, "skipped", message=result.reason)
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(
            ["references: " + "; ".join(result.scenario.references), *result.notes]
            + [e.summary() for e in result.evidence]
        )
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    partial = path.with_name(path.name + ".partial")
    tree.write(partial, encoding="utf-8", xml_declaration=True)
    partial.replace(path)
