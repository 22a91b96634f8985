"""The authority's abuse limits over real HTTP (server/authority/limits.py), on SQLite and
PostgreSQL, and with Redis shared by two authority instances: the attack first (a loop of
sign-ups from one address, a mail bomb at one mailbox from many addresses, one address trying
many accounts, a flood of the entity API and the list), then the legitimate path that must
still work (another address, another entity, the same address after the window)."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pyotp
import pytest
import redis
import requests
from authority_world import ENTITY_TOKENS, STAFF_PASSWORD, LiveAuthority, serving_authority
from espi_sst_server.authority.models import StaffUser
from espi_sst_server.authority.settings import authority_settings
from espi_sst_server.demo.mail_sink import MailSink
from espi_sst_server.errors import ConfigurationError
from sqlalchemy import func, select

PASSWORD = "asp staff password 99"


def _redis_server() -> ModuleType:
    """tests/server/limits/redis_server.py: the throw-away redis-server the entity server's
    limit tests use (skips when redis-server is not installed, unless ESPI_REQUIRE_REDIS)."""
    if "redis_server" not in sys.modules:
        path = Path(__file__).parents[1] / "server" / "limits" / "redis_server.py"
        spec = importlib.util.spec_from_file_location("redis_server", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["redis_server"] = module
        spec.loader.exec_module(module)
    return sys.modules["redis_server"]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _post_form(url: str, data: dict[str, Any], *, address: str | None = None) -> requests.Response:
    """A fresh browser's GET of the form (not counted) and its POST, from ``address``
    (X-Forwarded-For, which only a trusted proxy hop makes the client address)."""
    headers = {"X-Forwarded-For": address} if address else {}
    browser = requests.Session()
    token = _csrf(browser.get(url, headers=headers, timeout=10).text)
    return browser.post(
        url, data={**data, "csrf_token": token}, headers=headers, allow_redirects=False, timeout=10
    )


def _sign_up(authority: LiveAuthority, email: str, address: str | None = None) -> requests.Response:
    return _post_form(
        f"{authority.url}/sign-up",
        {"organisation": "Acme Energy Apps", "email": email, "password": PASSWORD},
        address=address,
    )


def _accounts(authority: LiveAuthority, like: str) -> int:
    with authority.sessions() as session:
        return int(session.scalar(select(func.count()).where(StaffUser.email.like(like))) or 0)


def _retry_after(answer: requests.Response) -> int:
    seconds = int(answer.headers["Retry-After"])
    assert seconds >= 1
    return seconds


def test_a_loop_of_sign_ups_from_one_address_is_cut_off_and_others_still_sign_up(
    authority_database_url: str, tmp_path: Path
) -> None:
    with (
        MailSink(tmp_path / "maildir") as sink,
        serving_authority(
            authority_database_url,
            sink,
            AUTHORITY_SIGN_UP_RATE_LIMIT="3 per 6 seconds",
            AUTHORITY_TRUSTED_PROXY_HOPS=1,
        ) as authority,
    ):
        # the attack: one address signs up in a loop, each time for another mailbox
        answers = [_sign_up(authority, f"target{n}@spam.example") for n in range(6)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]
        refused = answers[3]
        assert _retry_after(refused) <= 7  # the 6-second window, in whole seconds
        assert refused.headers["Content-Type"].startswith("text/html")
        assert "Too many sign-ups from your network address" in refused.text
        assert re.search(r"Please try again in \d+ seconds?\.", refused.text), refused.text
        assert len(sink.messages()) == 3, "no more e-mails than the limit reach the sink"
        assert _accounts(authority, "target%") == 3, "a refused sign-up leaves no account"

        # the legitimate path: another address signs up at once ...
        other = _sign_up(authority, "someone@asp.example", address="203.0.113.7")
        assert other.status_code == 200 and sink.messages(to="someone@asp.example")
        # ... and after the window, so does the first one
        time.sleep(_retry_after(answers[-1]) + 0.5)
        again = _sign_up(authority, "later@asp.example")
        assert again.status_code == 200, again.text
        assert sink.messages(to="later@asp.example")


def test_sign_ups_for_one_mailbox_from_many_addresses_send_at_most_the_limit(
    authority_database_url: str, tmp_path: Path
) -> None:
    with (
        MailSink(tmp_path / "maildir") as sink,
        serving_authority(
            authority_database_url,
            sink,
            AUTHORITY_VERIFICATION_EMAIL_LIMIT="2 per day",
            AUTHORITY_TRUSTED_PROXY_HOPS=1,
        ) as authority,
    ):
        # the attack: six addresses, one victim's mailbox (its +tag subaddresses and case)
        answers = [
            _sign_up(authority, f"Victim+{n}@Mail.example", address=f"198.51.100.{n + 1}")
            for n in range(6)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429, 429, 429, 429]
        assert "Too many confirmation e-mails went to this address" in answers[2].text
        assert _retry_after(answers[2]) > 3600, "the count is per day"
        mails = [m for m in sink.messages() if "victim" in str(m.to).lower()]
        assert len(mails) == 2
        assert _accounts(authority, "victim%") == 2, "no account squatted without its mail"

        # the legitimate path: any other mailbox, from one of those addresses
        fine = _sign_up(authority, "owner@mail.example", address="198.51.100.3")
        assert fine.status_code == 200 and sink.messages(to="owner@mail.example")


def test_without_a_trusted_proxy_hop_a_forged_forwarded_for_changes_nothing(
    tmp_path: Path,
) -> None:
    with (
        MailSink(tmp_path / "maildir") as sink,
        serving_authority(
            f"sqlite:///{tmp_path}/authority.db", sink, AUTHORITY_SIGN_UP_RATE_LIMIT="1 per minute"
        ) as authority,
    ):
        assert _sign_up(authority, "one@asp.example").status_code == 200
        forged = _sign_up(authority, "two@asp.example", address="192.0.2.99")
        assert forged.status_code == 429, "X-Forwarded-For is trusted only behind a proxy hop"


def _sign_in(authority: LiveAuthority, email: str, password: str, code: str, **kw: Any) -> Any:
    return _post_form(
        f"{authority.url}/sign-in", {"email": email, "password": password, "code": code}, **kw
    )


def test_one_address_trying_many_accounts_is_cut_off_and_others_sign_in(
    authority_database_url: str, tmp_path: Path
) -> None:
    with (
        MailSink(tmp_path / "maildir") as sink,
        serving_authority(
            authority_database_url,
            sink,
            AUTHORITY_SIGN_IN_RATE_LIMIT="4 per minute",
            AUTHORITY_TRUSTED_PROXY_HOPS=1,
        ) as authority,
    ):
        code = pyotp.TOTP(authority.staff_totp_secret).now()
        # the attack: one address, a different account each time (no account's lock-out fires)
        tries = [
            _sign_in(authority, f"user{n}@asp.example", "a guessed password", "123456")
            for n in range(4)
        ]
        assert [t.status_code for t in tries] == [401] * 4
        cut = _sign_in(authority, authority.staff_email, STAFF_PASSWORD, code)
        assert cut.status_code == 429, "even the right credentials wait at that address"
        assert "Too many sign-in attempts from your network address" in cut.text
        # the legitimate path: the staff member from their own address
        staff = _sign_in(
            authority, authority.staff_email, STAFF_PASSWORD, code, address="203.0.113.9"
        )
        assert staff.status_code == 303 and staff.headers["Location"].endswith("/staff")


def test_the_entity_api_the_list_and_the_link_have_limits_answered_in_json(
    authority_database_url: str, tmp_path: Path
) -> None:
    with (
        MailSink(tmp_path / "maildir") as sink,
        serving_authority(
            authority_database_url,
            sink,
            AUTHORITY_ENTITY_RATE_LIMIT="3 per minute",
            AUTHORITY_LIST_RATE_LIMIT="2 per minute",
            AUTHORITY_VERIFY_RATE_LIMIT="2 per minute",
            AUTHORITY_TRUSTED_PROXY_HOPS=1,
        ) as authority,
    ):
        url = authority.url

        def report(entity: str, token: str, **kw: Any) -> requests.Response:
            body = {"entity": entity, "sequence": 1, "results": []}
            headers = {"Authorization": f"Bearer {token}", **kw}
            return requests.post(f"{url}/registry/reports", json=body, headers=headers, timeout=10)

        complaint = {
            "entity": "PGE",
            "reference": "C-1",
            "software_id": "acme",
            "category": "privacy",
            "text": "t",
            "filed_at": "2026-05-01T10:00:00Z",
        }
        as_pge = {"Authorization": f"Bearer {ENTITY_TOKENS['PGE']}"}
        # a stranger's unknown token spends its own address's budget, not PGE's
        for _ in range(3):
            assert report("PGE", "not-a-token").status_code == 401
        assert report("PGE", "not-a-token").status_code == 429
        # PGE: reports and complaints share one budget per entity
        assert report("PGE", ENTITY_TOKENS["PGE"]).status_code == 202
        assert report("PGE", ENTITY_TOKENS["PGE"]).status_code == 202
        posted = requests.post(f"{url}/complaints", json=complaint, headers=as_pge, timeout=10)
        assert posted.status_code == 202
        refused = report("PGE", ENTITY_TOKENS["PGE"])
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "this entity" in refused.json()["error_description"]
        assert 1 <= _retry_after(refused) <= 61  # whole seconds, rounded up
        # another entity, from the same address, is not affected
        assert report("SCE", ENTITY_TOKENS["SCE"]).status_code == 202

        # the list and its key set: one budget per address
        assert requests.get(f"{url}/registry", timeout=10).status_code == 404  # not published
        assert requests.get(f"{url}/.well-known/jwks.json", timeout=10).status_code == 200
        polled = requests.get(f"{url}/registry", timeout=10)
        assert polled.status_code == 429 and polled.json()["error"] == "rate_limited"
        assert "Retry-After" in polled.headers
        assert requests.get(f"{url}/.well-known/jwks.json", timeout=10).status_code == 429
        elsewhere = {"X-Forwarded-For": "203.0.113.20"}
        assert requests.get(f"{url}/.well-known/jwks.json", headers=elsewhere, timeout=10).ok

        # the e-mailed link: per address
        links = [
            requests.get(f"{url}/verify?token=guess{n}", timeout=10).status_code for n in range(3)
        ]
        assert links == [400, 400, 429]


def test_two_instances_on_one_redis_share_the_limits(tmp_path: Path) -> None:
    with _redis_server().running_redis(tmp_path) as (redis_url, _):
        database = f"sqlite:///{tmp_path}/authority.db"
        config = {
            "RATELIMIT_STORAGE_URI": redis_url,
            "AUTHORITY_SIGN_UP_RATE_LIMIT": "3 per hour",
            "AUTHORITY_VERIFICATION_EMAIL_LIMIT": "2 per day",
            "AUTHORITY_TRUSTED_PROXY_HOPS": 1,
        }
        with (
            MailSink(tmp_path / "maildir") as sink,
            serving_authority(database, sink, **config) as first,
            serving_authority(database, sink, **config) as second,
        ):
            assert first.url != second.url
            # one address, alternating between the instances: 3 in all, not 3 each
            statuses = [
                _sign_up(instance, f"loop{n}@spam.example", address="198.51.100.1").status_code
                for n, instance in enumerate([first, second, first, second, first, second])
            ]
            assert statuses == [200, 200, 200, 429, 429, 429]
            # one mailbox, from many addresses, across both instances: 2 mails in all
            victim = [
                _sign_up(instance, f"victim+{n}@mail.example", address=f"192.0.2.{n + 1}")
                for n, instance in enumerate([first, second, first, second])
            ]
            assert [v.status_code for v in victim] == [200, 200, 429, 429]
            assert len([m for m in sink.messages() if "victim" in str(m.to)]) == 2
            keys = redis.Redis.from_url(redis_url).keys("*")
            assert keys, "the counters are in Redis"
            assert not any(b"mail.example" in key or b"victim" in key for key in keys), (
                "no e-mail address is written to Redis"
            )
            # another address signs up through either instance
            assert _sign_up(second, "fine@asp.example", address="203.0.113.5").status_code == 200


@pytest.mark.parametrize(
    ("setting", "variable"),
    [
        ("AUTHORITY_SIGN_UP_RATE_LIMIT", "ESPI_AUTHORITY_SIGN_UP_RATE_LIMIT"),
        ("AUTHORITY_LIST_RATE_LIMIT", "ESPI_AUTHORITY_LIST_RATE_LIMIT"),
    ],
)
def test_a_limit_that_cannot_be_read_stops_the_start_naming_its_variable(
    setting: str, variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        authority_settings({setting: "five a minute"})


def test_proxy_hops_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError, match="ESPI_AUTHORITY_TRUSTED_PROXY_HOPS"):
        authority_settings({"AUTHORITY_TRUSTED_PROXY_HOPS": -1})
