"""The runner's verdicts and the three reports, on scenarios written for the test against a
small real HTTP server (no server under test is needed to prove the kit's own logic)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from espi_sst.conformance import Scenario, Verdict, load_config
from espi_sst.conformance.context import Context
from espi_sst.conformance.recorder import mask
from espi_sst.conformance.reports import write_html, write_junit
from espi_sst.conformance.runner import run_conformance


@Request.application
def tiny_server(request: Request) -> Response:
    if request.path == "/limited":
        tiny_server.calls = getattr(tiny_server, "calls", 0) + 1  # type: ignore[attr-defined]
        if tiny_server.calls % 2:  # type: ignore[attr-defined]
            return Response("slow down", status=429, headers={"Retry-After": "0"})
    if request.path == "/token":
        return Response(
            '{"access_token": "abcdefgh-SECRET", "token_type": "Bearer"}',
            content_type="application/json",
        )
    return Response(
        "<feed xmlns='http://www.w3.org/2005/Atom'/>", content_type="application/atom+xml"
    )


@pytest.fixture()
def base() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, tiny_server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def config_for(tmp_path: Path, base: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "kit.toml"
    path.write_text(
        f'issuer = "{base}"\n[[clients]]\nclient_id = "c"\nclient_secret = "pw-SECRET-1"\n'
        f'redirect_uri = "{base}/cb"\nscope = "FB=4"\n'
        '[[customers]]\nusername = "u"\npassword = "p"\n'
    )
    return load_config(path)


def catalogue(base: str) -> list[Scenario]:
    def passes(ctx: Context) -> None:
        ctx.fetch(f"{base}/feed", "tok-SECRET-123")
        ctx.note("read the feed")

    def fails(ctx: Context) -> None:
        response = ctx.http.post(f"{base}/token", data={"client_secret": "pw-SECRET-1"})
        ctx.check(response.json()["token_type"] == "DPoP", "token_type is not DPoP")

    def skips(ctx: Context) -> None:
        ctx.skip("the server claims no such feature")

    def crashes(ctx: Context) -> None:
        raise KeyError("links")

    def limited(ctx: Context) -> None:
        ctx.check(ctx.http.get(f"{base}/limited").status_code == 200, "not served")

    return [
        Scenario("T-01", "passes", ("RFC 1",), "t", passes),
        Scenario("T-02", "fails", ("RFC 2",), "t", fails),
        Scenario("T-03", "skips", ("RFC 3",), "t", skips),
        Scenario("T-04", "needs a failed one", ("RFC 4",), "t", passes, needs=("T-02",)),
        Scenario("T-05", "crashes", ("RFC 5",), "u", crashes),
        Scenario("T-06", "waits out a 429", ("RFC 6585 4",), "u", limited),
    ]


def test_verdicts_reasons_and_evidence(tmp_path: Path, base: str) -> None:
    seen = []
    report = run_conformance(
        config_for(tmp_path, base),
        catalogue=catalogue(base),
        progress=lambda result, number, total: seen.append((result.scenario.id, number, total)),
    )
    verdicts = {r.scenario.id: r.verdict for r in report.results}
    assert verdicts == {
        "T-01": Verdict.PASS,
        "T-02": Verdict.FAIL,
        "T-03": Verdict.SKIP,
        "T-04": Verdict.SKIP,
        "T-05": Verdict.FAIL,
        "T-06": Verdict.PASS,
    }
    assert seen[0] == ("T-01", 1, 6) and seen[-1] == ("T-06", 6, 6)
    results = {r.scenario.id: r for r in report.results}
    assert results["T-02"].reason == "token_type is not DPoP"
    assert results["T-04"].reason == "needs T-02, which did not pass"
    assert results["T-05"].reason == "could not complete: KeyError: 'links'"
    assert [e.status for e in results["T-06"].evidence] == [429, 200]
    assert results["T-01"].notes == ["read the feed"]
    assert not report.passed and report.failed_ids() == ["T-02", "T-05"]
    # The bodies fetched with ctx.fetch are kept for the final checks.
    assert any(url.endswith("/feed") for url in report_documents(tmp_path, base))


def report_documents(tmp_path: Path, base: str) -> list[str]:
    ctx = Context(config_for(tmp_path, base))
    try:
        ctx.fetch(f"{base}/feed", None)
        return list(ctx.documents)
    finally:
        ctx.close()


def test_only_selects_by_id_prefix_or_group(tmp_path: Path, base: str) -> None:
    report = run_conformance(
        config_for(tmp_path, base), catalogue=catalogue(base), only=["u", "T-01"]
    )
    assert [r.scenario.id for r in report.results] == ["T-01", "T-05", "T-06"]


def test_reports_carry_verdicts_but_no_secrets(tmp_path: Path, base: str) -> None:
    report = run_conformance(config_for(tmp_path, base), catalogue=catalogue(base))
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    write_junit(junit, report)
    write_html(html, report)
    suite = ET.parse(junit).getroot()
    assert (
        suite.get("tests") == "6" and suite.get("failures") == "2" and suite.get("skipped") == "2"
    )
    failure = suite.find("testcase[@name='T-02 fails']/failure")
    assert failure is not None and failure.get("message") == "token_type is not DPoP"
    page = html.read_text()
    assert 'class="fail"' in page and "token_type is not DPoP" in page and "RFC 6585 4" in page
    for text in (junit.read_text(), page):
        assert "SECRET" not in text  # bearer token, client secret, access token: masked
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in page and "<link" not in page and "src=" not in page


def test_mask_cuts_secret_values() -> None:
    assert mask('{"access_token": "abcdefghij", "scope": "FB=4"}') == (
        '{"access_token": "abcd…", "scope": "FB=4"}'
    )
    assert mask("https://asp/cb?code=ABCDEFGH&state=xyz") == "https://asp/cb?code=ABCD…&state=xyz"


def test_mask_cuts_a_token_even_when_the_quote_was_cut_off() -> None:
    cut = """answered 200 '{"access_token": "zX9aUjbkRgSdXrz9QnxH2c5WTt"""
    assert mask(cut) == """answered 200 '{"access_token": "zX9a…"""


def test_a_reason_quoting_the_servers_token_is_masked(tmp_path: Path, base: str) -> None:
    def quotes(ctx: Context) -> None:
        answer = ctx.http.post(f"{base}/token", data={})
        ctx.fail(f"the token endpoint answered 200 {answer.text[:40]!r}, it must refuse")

    report = run_conformance(
        config_for(tmp_path, base), catalogue=[Scenario("T-07", "quotes", (), "t", quotes)]
    )
    assert "SECRET" not in report.results[0].reason
    assert '"access_token": "abcd…' in report.results[0].reason


def test_docs_list_every_scenario() -> None:
    """docs/conformance.md names every scenario id (the GBA rules as their family)."""
    from espi_sst.conformance.runner import all_scenarios

    docs = (Path(__file__).parents[3] / "docs" / "conformance.md").read_text()
    missing = [
        s.id for s in all_scenarios() if not s.id.startswith("GBA-") and f"`{s.id}`" not in docs
    ]
    assert missing == []
    assert "**`GBA-Dnnn`**" in docs


def test_the_run_order_is_the_modules_order_whatever_was_imported_first() -> None:
    """A program that imported the SST scenarios first must still run discovery and OAuth
    first (a full suite did: its OAuth scenarios then met grants the SST ones had made)."""
    import subprocess
    import sys

    program = (
        "import espi_sst.conformance.scenarios.sst, espi_sst.conformance.scenarios.schema\n"
        "from espi_sst.conformance.runner import all_scenarios\n"
        "print(' '.join(s.id.split('-')[0] for s in all_scenarios()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    groups = []
    for prefix in done.stdout.split():
        if not groups or groups[-1] != prefix:
            groups.append(prefix)
    assert groups == ["DISC", "OAUTH", "ESPI", "SST", "GBA", "ESPI"]  # ESPI-SCHEMA last
