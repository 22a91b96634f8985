"""``espi-sst check-config`` and the same check at the start of ``serve`` and gunicorn
(server/ops/check_config.py; issue 16, Safe configuration), through the real commands:
a clean production-like configuration passes, each unsafe one is refused with one line
naming its setting, and gunicorn really refuses to boot (its exit status, its message).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from scratch_databases import postgresql_database

BIN = Path(sys.executable).parent
DB_PASSWORD = "db-pa55-Zq81"
SECRET_KEY = "sk-7f3a9c1d5e2b8a4f6c0d9e1b3a5c7e9f1d3b5a7c9e1f3d5b7a9c1e3f5d7b9a1c"
SMTP_PASSWORD = "smtp-pa55-Kx42"
REDIS_PASSWORD = "redis-pa55-Ww07"
SMS_TOKEN = "sms-t0ken-Qa19"

CLEAN = {
    "ESPI_ISSUER": "https://sst.utility.example",
    "ESPI_DATABASE_URL": f"postgresql+psycopg://espi:{DB_PASSWORD}@127.0.0.1:9/espi",
    "ESPI_SECRET_KEY": SECRET_KEY,
    "ESPI_AUTO_MIGRATE": "false",
    # the adapters as docs/utility-integration.md names them
    "ESPI_RATE_CATALOG": "espi_sst_server.sst.table_catalog:table_catalog",
    "ESPI_BILLING_BACKEND": "utility_sst.billing:CisBillingBackend",
    "ESPI_BILL_COMPARISON_SOURCE": "espi_sst_server.sst.rate_api:RateApiComparison",
    "ESPI_SMTP_HOST": "mail.utility.example",
    "ESPI_MAIL_FROM": "Utility <no-reply@utility.example>",
    "ESPI_SMTP_USERNAME": "sst",
    "ESPI_SMTP_PASSWORD": SMTP_PASSWORD,
    "ESPI_SMS_URL": "https://sms.utility.example/v1/messages",
    "ESPI_SMS_TOKEN": SMS_TOKEN,
    "ESPI_SESSION_COOKIE_SECURE": "true",
    "ESPI_COMPLAINTS_EMAIL": "asp-complaints@utility.example",
    "ESPI_RATELIMIT_STORAGE_URI": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
}
SECRETS = (DB_PASSWORD, SECRET_KEY, SMTP_PASSWORD, REDIS_PASSWORD, SMS_TOKEN)


def _env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESPI_", "GUNICORN", "WEB_"))}
    if "ESPI_TEST_POSTGRESQL_URL" in os.environ:
        env["ESPI_TEST_POSTGRESQL_URL"] = os.environ["ESPI_TEST_POSTGRESQL_URL"]
    env.update(CLEAN)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "espi-sst"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_clean_production_configuration_passes_and_shows_no_secret(tmp_path: Path) -> None:
    done = _cli(_env(tmp_path), "check-config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "production (https issuer)" in done.stdout
    assert "error:" not in done.stderr and "Traceback" not in done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr
    assert "postgresql+psycopg://espi:***@127.0.0.1:9/espi" in done.stdout
    assert "SMTP mail.utility.example:587 (STARTTLS)" in done.stdout

    as_json = _cli(_env(tmp_path), "check-config", "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["errors"] == [] and document["production"] is True
    assert document["adapters"] == {
        "mode": "standalone",
        "token_validation": "local",
        "billing_backend": "utility_sst.billing:CisBillingBackend",
        "rin_catalog": "espi_sst_server.sst.table_catalog:table_catalog",
        "rate_analysis": "espi_sst_server.sst.rate_api:RateApiComparison",
        "mail_transport": "SMTP mail.utility.example:587 (STARTTLS)",
        "sms_transport": "HTTP https://sms.utility.example/v1/messages",
        "identity_source": "sample (TableIdentitySource)",
        "database": "postgresql+psycopg",
    }
    configuration = document["configuration"]
    assert configuration["SECRET_KEY"] == configuration["SMTP_PASSWORD"] == "(set, hidden)"
    assert configuration["AUTO_MIGRATE"] is False and configuration["LOG_FORMAT"] == "json"
    for secret in SECRETS:
        assert secret not in as_json.stdout


REFUSALS = {
    "sample billing backend": ({"ESPI_BILLING_BACKEND": None}, "BILLING_BACKEND"),
    "sample RIN catalog": ({"ESPI_RATE_CATALOG": None}, "RATE_CATALOG"),
    "mail log fallback": ({"ESPI_SMTP_HOST": None}, "SMTP_HOST"),
    "no SECRET_KEY": ({"ESPI_SECRET_KEY": None}, "SECRET_KEY"),
    "SQLite, --workers in GUNICORN_CMD_ARGS": (
        {
            "ESPI_DATABASE_URL": "sqlite:///{tmp}/espi.db",
            "GUNICORN_CMD_ARGS": "--bind :8000 --workers 3",
        },
        "DATABASE_URL",
    ),
    "SQLite, WEB_CONCURRENCY": (
        {"ESPI_DATABASE_URL": "sqlite:///{tmp}/espi.db", "WEB_CONCURRENCY": "2"},
        "DATABASE_URL",
    ),
    "the demo's inbox": ({"ESPI_DEMO_MAILDIR": "{tmp}/mail"}, "DEMO_MAILDIR"),
    "the demo's SMS sink": ({"ESPI_DEMO_SMS_DIR": "{tmp}/sms"}, "DEMO_SMS_DIR"),
    "an SMS gateway in clear": ({"ESPI_SMS_URL": "http://sms.utility.example/send"}, "SMS_URL"),
    "an outbox claim shorter than a send": (
        {"ESPI_OUTBOX_CLAIM_SECONDS": "8", "ESPI_SMTP_TIMEOUT": "10"},
        "OUTBOX_CLAIM_SECONDS",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_unsafe_production_setting_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    changes, setting = REFUSALS[case]
    env = _env(tmp_path, **{k: v and v.format(tmp=tmp_path) for k, v in changes.items()})
    done = _cli(env, "check-config", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {setting}: "), done.stderr
    assert "Traceback" not in done.stderr
    as_json = json.loads(_cli(env, "check-config", "--json", cwd=tmp_path).stdout)
    assert [e["setting"] for e in as_json["errors"]] == [setting]


def test_no_complaints_address_is_a_warning_not_a_refusal(tmp_path: Path) -> None:
    """Complaints about ASPs are still stored without it (issue 13): warn, start anyway."""
    clean = json.loads(_cli(_env(tmp_path), "check-config", "--json", cwd=tmp_path).stdout)
    assert "COMPLAINTS_EMAIL" not in [w["setting"] for w in clean["warnings"]]
    done = _cli(_env(tmp_path, ESPI_COMPLAINTS_EMAIL=None), "check-config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning: COMPLAINTS_EMAIL: not set: customers' complaints about ASPs" in done.stderr
    assert "error:" not in done.stderr


def test_the_same_settings_pass_on_an_http_issuer(tmp_path: Path) -> None:
    """Development (http issuer): the samples are fine; nothing is refused."""
    env = _env(
        tmp_path,
        ESPI_ISSUER="http://127.0.0.1:5000",
        ESPI_BILLING_BACKEND=None,
        ESPI_SMTP_HOST=None,
    )
    assert _cli(env, "check-config", cwd=tmp_path).returncode == 0


def test_without_a_database_url_the_file_is_named_or_refused(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        ESPI_DATABASE_URL=None,
        ESPI_ISSUER="http://127.0.0.1:5000",
        ESPI_AUTO_MIGRATE="true",
    )
    done = _cli(env, "worker", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ESPI_DATABASE_URL is not set: using the SQLite file " in done.stderr
    assert "instance/espi-sst.db" in done.stderr
    refused = _cli(_env(tmp_path, ESPI_DATABASE_URL=None), "worker", "--once", cwd=tmp_path)
    assert refused.returncode == 2
    assert "DATABASE_URL is not set and ISSUER is https" in refused.stderr
    assert "Traceback" not in refused.stderr
    checked = _cli(_env(tmp_path, ESPI_DATABASE_URL=None), "check-config", cwd=tmp_path)
    assert checked.returncode == 1 and "error: DATABASE_URL is not set" in checked.stderr


def test_serve_refuses_an_unsafe_production_start(tmp_path: Path) -> None:
    env = _env(tmp_path, ESPI_RATE_CATALOG=None)
    done = _cli(
        env,
        "serve",
        "--port",
        str(_free_port()),
        "--issuer",
        "https://sst.utility.example",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "espi-sst serve refuses to start" in done.stderr and "RATE_CATALOG" in done.stderr
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _gunicorn(env: dict[str, str], *args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-b",
            f"127.0.0.1:{_free_port()}",
            *args,
            "espi_sst_server.wsgi:app",
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(
    ("changes", "args", "setting"),
    [
        ({"ESPI_BILLING_BACKEND": None}, (), "BILLING_BACKEND"),
        ({"ESPI_DATABASE_URL": "sqlite:///{tmp}/espi.db"}, ("--workers", "2"), "DATABASE_URL"),
        ({"ESPI_SMTP_HOST": None}, ("--preload",), "SMTP_HOST"),
    ],
)
def test_gunicorn_refuses_to_boot(
    tmp_path: Path, changes: dict[str, str | None], args: tuple[str, ...], setting: str
) -> None:
    env = _env(tmp_path, **{k: v and v.format(tmp=tmp_path) for k, v in changes.items()})
    process = _gunicorn(env, *args, cwd=tmp_path)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode in (1, 3), output  # 3: "Worker failed to boot"; 1: --preload
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    refused = [line["message"] for line in lines if line["level"] == "ERROR"]
    assert any(message.startswith(f"error: {setting}: ") for message in refused), output
    assert "gunicorn refuses to start" in output
    if "--preload" not in args:
        assert "Worker failed to boot" in output


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    yield from postgresql_database()


def test_gunicorn_boots_a_clean_production_configuration(
    tmp_path: Path, postgresql_url: str
) -> None:
    url = postgresql_url
    port = _free_port()
    env = _env(tmp_path, ESPI_DATABASE_URL=url, ESPI_AUTO_MIGRATE="true")
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-b",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "espi_sst_server.wsgi:app",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=5
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert answer.status_code == 200
        assert answer.json()["issuer"] == "https://sst.utility.example"
        assert len(answer.headers["X-Request-Id"]) == 32
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    (request_line,) = [line for line in lines if line["logger"] == "espi_sst_server.request"]
    assert request_line["path"] == "/.well-known/openid-configuration"
    assert request_line["request_id"] == answer.headers["X-Request-Id"]
    assert not [line for line in lines if line["level"] == "ERROR"], output
