"""Every shell command and URL README.md shows works as shown (issue 19, "docs that are true").

The README is read here, not copied: each command it shows (in ``sh`` blocks, or inline as
a code span starting with a program) must be a key of :data:`COMMANDS`, which says how it
is checked -- run by a test of this file, as written or in the equivalent form the entry
names (a free port instead of 5000, a temporary folder), or where it runs instead and why
not here.  So a new README command without a test fails
:func:`test_every_readme_command_is_accounted_for`.

URLs: every ``http://127.0.0.1`` URL and every path (``/portal/login``) the README shows is
fetched from the real demo process (``./dev demo`` on a free port), and so is every URL the
demo's banner prints; hosts under ``.example`` (RFC 2606) and ``.internal`` (reserved for
private use by ICANN) are the placeholders of the production example; links and
repository paths must exist.  Paths with a ``{placeholder}`` are the statewide demo's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "espi_sst" / "samples" / "hourly-nine-days.xml"  # what inspect reads by default
VALID = ROOT / "tests" / "data" / "corpus" / "pge-cmd_UsageSummaries.xml"
BROKEN = ROOT / "tests" / "data" / "corpus" / "gba-sandbox_UsagePoints-feed.xml"
# The first word of an inline code span that is a command (``./dev demo --statewide``).
PROGRAMS = ("./dev", "espi-sst", "pip", "npm", "gunicorn", "curl", ".venv/bin/", "python")
PLACEHOLDER_HOSTS = (".example", ".internal")
REPOSITORY_ROOTS = ("tests/", "docs/", "espi_sst/", "server/", "examples/", "tools/", "bench/")


@dataclass(frozen=True)
class RunHere:
    """Run by ``test``, a test of this file (``how``: the form it runs in, if not as shown)."""

    test: str
    how: str = "as written"


@dataclass(frozen=True)
class Elsewhere:
    """Not run here (``why``); ``path`` contains ``needle``, the place it does run."""

    why: str
    path: str
    needle: str


DEMO = "test_the_demo_answers_what_the_readme_and_its_banner_show"
PRODUCTION = "test_the_production_commands_serve_register_and_work"
CLI = "test_the_command_line_section"

COMMANDS: dict[str, RunHere | Elsewhere] = {
    # Quick start
    "./dev demo": RunHere(DEMO, "./dev demo --port PORT --data-dir TMP: a free port"),
    "./dev demo --port 8080 --data-dir /tmp/demo": RunHere(DEMO, "a free port, a temporary folder"),
    "./dev check": Elsewhere(
        "CI runs it before the suite (running it here too would double its minute)",
        ".ci/run",
        "./dev check",
    ),
    "./dev check STEP...": Elsewhere(
        "the steps' names are tested against ./dev and the pre-commit hooks",
        "tests/test_dev_check.py",
        "dev_check_steps()",
    ),
    "./dev test": Elsewhere("it runs this suite", ".ci/run", "./dev test"),
    "./dev test ARGS": RunHere("test_dev_test_passes_its_arguments_to_pytest", "-k corpus"),
    "./dev test -k corpus -x": RunHere(
        "test_dev_test_passes_its_arguments_to_pytest",
        "with --collect-only: the corpus tests run in the suite itself",
    ),
    ".venv/bin/pre-commit install": RunHere(
        "test_pre_commit_install_writes_the_hook", "in a scratch git repository"
    ),
    "curl -s -u demo-energy-insights:SECRET -d grant_type=client_credentials "
    "-d scope=FB=1_3_4_5_13_14_15_19_37_39 http://127.0.0.1:5000/oauth/token": RunHere(
        DEMO, "SECRET from demo.json, the demo's port"
    ),
    "curl -s -H Authorization: Bearer TOKEN "
    "http://127.0.0.1:5000/espi/1_1/resource/ReadServiceStatus": RunHere(
        DEMO, "TOKEN from the command before, the demo's port"
    ),
    "./dev demo --statewide": Elsewhere(
        "three servers behind nginx: the statewide demo's own test runs exactly this",
        "tests/integration/test_statewide_demo.py",
        '"--statewide"',
    ),
    "espi-sst gateway": Elsewhere(
        "needs a gateway registry file: the nginx gateway tests run the command",
        "tests/server/gateway/test_nginx_gateway.py",
        '["gateway",',
    ),
    "npm ci --prefix tests/server/oauth/interop": Elsewhere(
        "./dev's set-up runs it when Node.js 20+ is there (the registry is not for tests)",
        "dev",
        "for interop in tests/server/oauth/interop",
    ),
    # Running the server in production
    "pip install espi-sst[server]": Elsewhere(
        "PyPI is not reached from tests: the built wheel is installed the same way, and "
        "serves, there",
        "tests/packaging/test_wheel.py",
        '"pip", "install", "--no-index", "--no-deps"',
    ),
    "export ESPI_DATABASE_URL=postgresql+psycopg://espi@db.internal/espi "
    "ESPI_ISSUER=https://gbc.utility.example ESPI_AUTO_MIGRATE=false": RunHere(
        PRODUCTION, "SQLite in a temporary folder, the issuer on 127.0.0.1"
    ),
    "espi-sst migrate upgrade": RunHere(
        PRODUCTION, "the schema, once, before gunicorn's two workers start"
    ),
    "espi-sst check-config": RunHere(
        PRODUCTION, "the same settings; an http issuer, so nothing is refused"
    ),
    "gunicorn -c python:espi_sst_server.gunicorn_conf -w 2 -b 127.0.0.1:8000 "
    "espi_sst_server.wsgi:app": RunHere(PRODUCTION, "a free port instead of 8000"),
    "espi-sst worker": RunHere(PRODUCTION, "espi-sst worker --once: one pass, then exit"),
    "espi-sst register-client --name Thermostat Co --redirect-uri https://asp.example/cb "
    "--notify-uri https://asp.example/notify": RunHere(PRODUCTION),
    "espi-sst load": Elsewhere(
        "named in the pointer to docs/operations.md; each kind of file is loaded there",
        "tests/server/ops/test_loader.py",
        'main(["load", kind',
    ),
    "espi-sst migrate": Elsewhere(
        "named in the pointer to docs/operations.md; upgrade, current and history run there",
        "tests/server/ops/test_migrate_command.py",
        '"migrate", "upgrade"',
    ),
    # Command line
    "espi-sst validate FILE... [--profile sst|official|appendix-b]": RunHere(
        CLI, "a valid and an invalid file, and --profile appendix-b"
    ),
    "espi-sst inspect [FILE...] [--json]": RunHere(
        CLI, "with and without FILE and --json, and two files"
    ),
    "espi-sst convert FILE... [--to csv|parquet] [-o OUT]": RunHere(
        CLI, "with -o OUT, and two files"
    ),
    "espi-sst conformance CONFIG [--html R.html] [--junit R.xml]": Elsewhere(
        "needs a running server: the kit's end-to-end test runs the CLI with both reports",
        "tests/integration/test_conformance_kit.py",
        '"--junit", str(junit), "--html", str(html)',
    ),
}


# -- what the README shows -----------------------------------------------------------------


def fenced_blocks(language: str) -> list[str]:
    return [
        body
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
        if lang == language
    ]


def prose() -> str:
    return re.sub(r"^```.*?^```", "", README, flags=re.MULTILINE | re.DOTALL)


def code_spans() -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose())


def normalized(command: str) -> str:
    """One spelling per command: quotes, comments and line continuations removed."""
    return " ".join(shlex.split(command, comments=True))


def shell_lines() -> list[str]:
    """The commands of the ``sh`` blocks, continuation lines joined, as written."""
    lines: list[str] = []
    for block in fenced_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if normalized(line):
                lines.append(line)
    return lines


def readme_commands() -> set[str]:
    inline = {span for span in code_spans() if span.startswith(PROGRAMS) and " " in span}
    return {normalized(line) for line in shell_lines()} | {normalized(s) for s in inline}


def readme_urls() -> list[str]:
    return re.findall(r"https?://[^\s`)<>\]\"']+", README)


def line_of(command: str) -> str:
    (line,) = [line for line in shell_lines() if normalized(line) == command]
    return line


# -- the bookkeeping -----------------------------------------------------------------------


def test_every_readme_command_is_accounted_for() -> None:
    shown = readme_commands()
    assert sorted(shown - set(COMMANDS)) == [], "README commands with no test: add to COMMANDS"
    assert sorted(set(COMMANDS) - shown) == [], "COMMANDS the README no longer shows"


def test_each_command_runs_where_it_says() -> None:
    for command, check in COMMANDS.items():
        if isinstance(check, RunHere):
            assert callable(globals().get(check.test)), (command, check.test)
        else:
            assert check.needle in (ROOT / check.path).read_text(), (command, check.path)


def test_every_url_is_the_demo_s_or_a_placeholder() -> None:
    for url in readme_urls():
        host = urlsplit(url).hostname or ""
        assert host == "127.0.0.1" or host.endswith(PLACEHOLDER_HOSTS), url


def test_links_and_repository_paths_exist() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    paths = [span for span in code_spans() if span.startswith(REPOSITORY_ROOTS)]
    paths += [span for span in code_spans() if span in ("LICENSE", ".ci/run")]
    assert links and paths
    missing = [p for p in links + paths if not (ROOT / p.rstrip("/")).exists()]
    assert missing == []


# -- the demo ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dev_env() -> dict[str, str]:
    """``./dev`` with this test run's virtual environment."""
    return {**os.environ, "ESPI_VENV": str(Path(sys.executable).parent.parent)}


@dataclass
class Demo:
    base: str
    port: int
    folder: Path
    document: dict[str, Any]
    banner: str


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    folder = tmp_path / "demo"
    port = free_port()
    out, err = folder.parent / "stdout", folder.parent / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [str(ROOT / "dev"), "demo", "--port", str(port), "--data-dir", str(folder)],
            cwd=ROOT,
            env=dev_env(),
            stdout=stdout,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while "press Ctrl-C to stop" not in out.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the demo did not start:\n" + err.read_text())
            time.sleep(0.3)
        document = json.loads((folder / "demo.json").read_text())
        yield Demo(base, port, folder, document, out.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert "Traceback" not in err.read_text(), err.read_text()


def on_demo(demo: Demo, url: str) -> str:
    """The README's ``http://127.0.0.1:5000/...`` on the demo's port."""
    return url.replace("http://127.0.0.1:5000", demo.base)


def client_token(demo: Demo) -> str:
    secret = next(
        c["client_secret"]
        for c in demo.document["clients"]
        if c["client_id"] == "demo-energy-insights"
    )
    line = on_demo(demo, line_of(normalized(_TOKEN_LINE))).replace("SECRET", secret)
    answer = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True)
    return str(json.loads(answer.stdout)["access_token"])


_TOKEN_LINE = next(c for c in COMMANDS if c.endswith("/oauth/token"))
_STATUS_LINE = next(c for c in COMMANDS if c.startswith("curl -s -H"))


def test_the_demo_answers_what_the_readme_and_its_banner_show(demo: Demo) -> None:
    # The base URL, and the pages it names (paths in code spans).
    assert demo.document["base_url"] == demo.base
    assert "http://127.0.0.1:5000" in readme_urls()
    paths = {span for span in code_spans() if span.startswith("/") and "{" not in span}
    assert {"/portal/login", "/demo/inbox", "/espi/1_1/resource/ReadServiceStatus"} <= paths
    token = client_token(demo)
    for path in sorted(paths):
        plain = requests.get(demo.base + path, timeout=30)
        if path.startswith("/espi/"):  # every ESPI resource needs a bearer token
            assert plain.status_code == 401, path
            assert plain.headers["WWW-Authenticate"].startswith("Bearer")
            with_token = requests.get(
                demo.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert with_token.status_code == 200, (path, with_token.text)
        else:
            assert plain.status_code == 200, path

    # The sample ASP app the README points at.
    assert "http://127.0.0.1:8765/" in readme_urls() and demo.document["asp_url"] == (
        "http://127.0.0.1:8765/"
    )
    assert "Connect my utility" in requests.get(demo.document["asp_url"], timeout=30).text

    # The two curl commands, as written but for the port, SECRET and TOKEN.
    status_line = on_demo(demo, line_of(_STATUS_LINE)).replace("TOKEN", token)
    status = subprocess.run(["bash", "-c", status_line], capture_output=True, text=True)
    assert status.returncode == 0 and "currentStatus>1<" in status.stdout, status.stdout

    # Every URL the banner prints answers (the ESPI one with a token).
    banner_urls = re.findall(r"https?://[^\s)]+", demo.banner)
    assert len(banner_urls) >= 6, demo.banner
    for url in banner_urls:
        if urlsplit(url).path in ("", "/") and url.rstrip("/") == demo.base:
            continue  # "demo utility at BASE": the base of the rest
        headers = {"Authorization": f"Bearer {token}"} if "/espi/" in url else {}
        answer = requests.get(url, headers=headers, timeout=30)
        assert answer.status_code == 200, (url, answer.status_code)


def test_dev_test_passes_its_arguments_to_pytest() -> None:
    command = shlex.split(next(s for s in code_spans() if s.startswith("./dev test -k")))
    collected = subprocess.run(
        [str(ROOT / command[0]), *command[1:], "--collect-only", "-q"],
        cwd=ROOT,
        env=dev_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    summary = collected.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+/\d+ tests collected \(\d+ deselected\) in .*", summary), summary
    assert "tests/corpus/test_corpus.py::" in collected.stdout


def test_pre_commit_install_writes_the_hook(tmp_path: Path) -> None:
    (program, *arguments) = shlex.split(line_of(".venv/bin/pre-commit install"), comments=True)
    assert program == ".venv/bin/pre-commit"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = subprocess.run(
        [str(BIN / "pre-commit"), *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr
    hook = tmp_path / ".git" / "hooks" / "pre-commit"
    assert "pre-commit" in hook.read_text() and os.access(hook, os.X_OK)


# -- production ------------------------------------------------------------------------------


def test_the_production_commands_serve_register_and_work(tmp_path: Path) -> None:
    (export,) = [line for line in shell_lines() if line.startswith("export ")]
    settings = dict(item.split("=", 1) for item in shlex.split(export, comments=True)[1:])
    assert set(settings) == {"ESPI_DATABASE_URL", "ESPI_ISSUER", "ESPI_AUTO_MIGRATE"}
    port = free_port()
    env = {
        **os.environ,
        **settings,
        "ESPI_DATABASE_URL": f"sqlite:///{tmp_path}/espi.db",
        "ESPI_ISSUER": f"http://127.0.0.1:{port}",
        "ESPI_SECRET_KEY": "readme",  # else generated into the checkout's instance folder
    }
    (migrate_line,) = [line for line in shell_lines() if line.startswith("espi-sst migrate")]
    migrate = shlex.split(migrate_line, comments=True)
    migrated = subprocess.run(
        [str(BIN / "espi-sst"), *migrate[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    (check_line,) = [line for line in shell_lines() if line.startswith("espi-sst check-config")]
    checked = subprocess.run(
        [str(BIN / "espi-sst"), *shlex.split(check_line, comments=True)[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "readme" not in checked.stdout  # the secret key is masked
    (gunicorn_line,) = [line for line in shell_lines() if line.startswith("gunicorn ")]
    gunicorn = shlex.split(gunicorn_line, comments=True)
    gunicorn[gunicorn.index("-b") + 1] = f"127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), *gunicorn[1:]],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        base = env["ESPI_ISSUER"]
        _wait_until_serving(f"{base}/oauth/jwks.json", server, log)
        issuer = requests.get(f"{base}/.well-known/openid-configuration", timeout=30).json()
        assert issuer["issuer"] == base

        (register_line,) = [line for line in shell_lines() if "register-client" in line]
        register = shlex.split(register_line, comments=True)
        registered = subprocess.run(
            [str(BIN / "espi-sst"), *register[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert registered.returncode == 0, registered.stderr
        client = json.loads(registered.stdout)
        assert "only its hash is stored" in registered.stderr
        token = requests.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "FB=1_3_4_5_13_14_15_19_37_39"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=30,
        )
        assert token.status_code == 200, token.text  # registered in the database it serves

        worker = subprocess.run(
            [str(BIN / "espi-sst"), "worker", "--once"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert "Traceback" not in log.read_text(), log.read_text()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the server exited:\n" + log.read_text())
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still migrating
            pass
        time.sleep(0.2)
    pytest.fail("the server did not answer within 60 s:\n" + log.read_text())


# -- the command line --------------------------------------------------------------------------


def test_the_command_line_section(tmp_path: Path) -> None:
    (block,) = [b for b in fenced_blocks("sh") if "espi-sst validate" in b]
    shown = {normalized(line).split()[1] for line in block.splitlines() if normalized(line)}
    assert shown == {"validate", "inspect", "convert", "conformance"}
    cli = str(BIN / "espi-sst")

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    assert run("validate", str(VALID)).returncode == 0
    invalid = run("validate", str(VALID), str(BROKEN))
    assert invalid.returncode == 1
    assert re.search(rf"^{re.escape(str(BROKEN))}:\d+: ", invalid.stdout, re.MULTILINE)

    bundled = json.loads(run("inspect", "--json").stdout)  # no FILE: the bundled sample
    assert bundled == json.loads(run("inspect", str(SAMPLE), "--json").stdout)
    assert bundled["interval_readings"] == 216
    text = run("inspect", str(SAMPLE))
    assert text.returncode == 0 and "216" in text.stdout

    converted = run("convert", str(SAMPLE), "--to", "csv", "-o", "readings.csv")
    assert converted.returncode == 0, converted.stderr
    rows = (tmp_path / "readings.csv").read_text().splitlines()
    assert len(rows) == 1 + 216

    one_day = VALID.with_name("ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml")
    both = run("convert", str(SAMPLE), str(one_day), "--to", "csv")
    assert both.returncode == 0 and len(both.stdout.splitlines()) == 1 + 216 + 96
    assert json.loads(run("inspect", "--json", str(SAMPLE), str(VALID)).stdout)[0] == bundled
    appendix_b = ROOT / "examples" / "sst" / "concept-design-appendix-b-usagesummary.xml"
    assert run("validate", "--profile", "appendix-b", str(appendix_b)).returncode == 0
    assert run("validate", str(appendix_b)).returncode == 1
