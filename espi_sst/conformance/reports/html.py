"""A self-contained HTML report: one file (inline CSS, no script, nothing fetched) to mail
around after a Plug Fest; every scenario with its references, verdict, reason, notes and
evidence (requests and answer excerpts, credentials already masked by the recorder)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..model import Result, Verdict
from ..runner import Report

__all__ = ["write_html"]

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:70rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}.pass{color:#0a6b2d}
.fail{color:#a50e0e;font-weight:bold}.skipped{color:#6b6b6b}details{margin:.2rem 0}
pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:.5rem;font-size:12px}
.refs{color:#555;font-size:13px}.totals span{margin-right:1.2rem}
"""


def _evidence(result: Result) -> str:
    parts = []
    for exchange in result.evidence:
        request = "\n".join(f"{k}: {v}" for k, v in exchange.request_headers.items())
        answer = "\n".join(f"{k}: {v}" for k, v in exchange.response_headers.items())
        parts.append(
            f"<details><summary>{escape(exchange.summary())}</summary>"
            f"<pre>{escape(exchange.method)} {escape(exchange.url)}\n{escape(request)}\n\n"
            f"{escape(exchange.request_body)}</pre>"
            f"<pre>{escape(str(exchange.status))}\n{escape(answer)}\n\n"
            f"{escape(exchange.response_excerpt)}</pre></details>"
        )
    return "".join(parts)


def _row(result: Result) -> str:
    verdict = result.verdict.value
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.notes)
    return (
        f'<tr id="{escape(result.scenario.id)}"><td><code>{escape(result.scenario.id)}</code></td>'
        f"<td>{escape(result.scenario.title)}"
        f'<div class="refs">{escape("; ".join(result.scenario.references))}</div>'
        f"{'<p>' + escape(result.reason) + '</p>' if result.reason else ''}"
        f"{'<ul>' + notes + '</ul>' if notes else ''}{_evidence(result)}</td>"
        f'<td class="{verdict}">{verdict}</td></tr>'
    )


def write_html(path: Path, report: Report) -> None:
    order = {Verdict.FAIL: 0, Verdict.PASS: 1, Verdict.SKIP: 2}
    rows = "".join(_row(r) for r in report.results)
    summary = (
        f'<p class="totals"><span class="pass">{report.count(Verdict.PASS)} passed</span>'
        f'<span class="fail">{report.count(Verdict.FAIL)} failed</span>'
        f'<span class="skipped">{report.count(Verdict.SKIP)} skipped</span>'
        f"<span>{report.seconds:.1f} s</span></p>"
    )
    failed = [
        r
        for r in sorted(report.results, key=lambda r: order[r.verdict])
        if r.verdict is Verdict.FAIL
    ]
    failed_links = ", ".join(
        f'<a href="#{escape(r.scenario.id)}">{escape(r.scenario.id)}</a>' for r in failed
    )
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>espi-sst conformance: {escape(report.issuer)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Green Button / SST conformance: {escape(report.issuer)}</h1>"
        f"<p>{escape(report.started)} &middot; espi-sst {escape(report.kit_version)} &middot; "
        f"config {escape(report.config_source)}</p>{summary}"
        + (f"<p>Failed: {failed_links}</p>" if failed else "")
        + "<table><thead><tr><th>Scenario</th><th>What, reference, evidence</th><th>Verdict</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></body></html>\n"
    )
    partial = path.with_name(path.name + ".partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
