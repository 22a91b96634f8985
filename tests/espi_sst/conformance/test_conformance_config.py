"""CONFIG: what the kit accepts, and a clear one-line refusal (file, key, fix) for the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from espi_sst.cli import main
from espi_sst.conformance import ConformanceConfigError, load_config

GOOD = """
issuer = "https://utility.example/"
[[clients]]
client_id = "asp-1"
client_secret = "s3cret"
redirect_uri = "https://asp.example/callback"
scope = "FB=4_5_15 sst:rin"
notify_listen = "127.0.0.1:8766"

[[clients]]
client_id = "asp-mobile"
redirect_uri = "https://asp.example/mobile"
scope = "FB=4_5_15"
class = "data-only"

[[customers]]
username = "alex"
password = "pw"
kind = "bundled"
email = "alex@example.com"

[browser]
mode = "form"
approve = "decision=approve"

[passcodes]
mode = "inbox"
inbox_url = "http://127.0.0.1:8000/demo/inbox/{email}"
"""


def write(tmp_path: Path, text: str, name: str = "kit.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_complete_toml_config_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.issuer == "https://utility.example"  # the trailing slash dropped
    assert [c.client_id for c in config.confidential_clients] == ["asp-1"]
    assert [c.client_id for c in config.public_clients] == ["asp-mobile"]
    assert config.clients[0].notify_listen == ("127.0.0.1", 8766)
    assert config.clients[1].asp_class == "data-only"
    assert config.customer("bundled") is not None and config.customer("unbundled") is None
    assert config.passcodes.inbox_url and config.browser.approve == "decision=approve"


def test_json_is_read_too(tmp_path: Path) -> None:
    document = {
        "issuer": "http://127.0.0.1:8000",
        "clients": [
            {"client_id": "c", "redirect_uri": "http://127.0.0.1:8765/cb", "scope": "FB=4"}
        ],
        "customers": [{"username": "u", "password": "p"}],
    }
    config = load_config(write(tmp_path, json.dumps(document), "kit.json"))
    assert config.customers[0].kind == "other"
    assert config.passcodes.mode == "none" and config.browser.mode == "form"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('issuer = "https://utility.example/"', ""), "issuer: missing"),
        (
            ('issuer = "https://utility.example/"', 'issuer = "ftp://x"'),
            "issuer: 'ftp://x' is not an http(s) URL",
        ),
        (
            ('mode = "form"', 'mode = "robot"'),
            "browser.mode: 'robot': use one of form, selenium, paste",
        ),
        (('kind = "bundled"', 'kind = "cca"'), "customers[0].kind: 'cca'"),
        (
            ('notify_listen = "127.0.0.1:8766"', 'notify_listen = "asp.example:80"'),
            "clients[0].notify_listen",
        ),
        (
            ('client_id = "asp-mobile"', 'client_id = "asp-1"'),
            "clients: the same client_id is listed twice",
        ),
        (
            ('inbox_url = "http://127.0.0.1:8000/demo/inbox/{email}"', ""),
            "passcodes.inbox_url: missing",
        ),
        (
            ('approve = "decision=approve"', 'approve = "Allow"'),
            "browser.approve: 'Allow': write it as name=value",
        ),
        (('scope = "FB=4_5_15 sst:rin"', ""), "clients[0].scope: missing"),
    ],
)
def test_each_mistake_is_named_with_its_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConformanceConfigError) as caught:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)))
    assert str(tmp_path / "kit.toml") in str(caught.value)
    assert expected in str(caught.value)


def test_broken_toml_and_missing_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conformance", str(write(tmp_path, "issuer = ["))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("espi-sst: error: ") and "not valid TOML" in err
    assert "Traceback" not in err
    assert main(["conformance", str(tmp_path / "absent.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["conformance", str(write(tmp_path, "[[clients]]\n", "no-customers.toml"))]) == 2
    assert "issuer: missing" in capsys.readouterr().err


def test_the_selenium_mode_needs_an_existing_script(tmp_path: Path) -> None:
    text = GOOD.replace('mode = "form"', 'mode = "selenium"\nscript = "walk.py"')
    with pytest.raises(ConformanceConfigError, match="browser.script: .*walk.py: no such file"):
        load_config(write(tmp_path, text))
    (tmp_path / "walk.py").write_text("def walk(**kw):\n    return None\n")
    assert load_config(write(tmp_path, text)).browser.script == (tmp_path / "walk.py").resolve()
