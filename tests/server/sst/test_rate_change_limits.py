"""Passcode mail floods (issue 11, item 10): creating a rate change e-mails the customer a
passcode, so creation is limited per usage point (counted in the database) and per ASP
(Flask-Limiter), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from espi_sst_server.demo import DemoData
from espi_sst_server.storage.models import RateChangeRequestRecord
from sqlalchemy import func, select
from sst_world import SstWorld, make_world
from test_rate_change import _email, post_change, rid_of

TOU_C = {"targetRin": "USCA-PGPG-0100-0000"}


def _passcode_mails(world: SstWorld, username: str) -> int:
    with world.session() as s:
        mails = world.mails(s, _email(username))
        return len([m for m in mails if "confirm" in m.payload["subject"]])


def test_create_and_withdraw_cycles_cannot_flood_the_customer(world: SstWorld) -> None:
    casey = world.grant("casey")
    answers = []
    for cycle in range(8):  # what the penetration test did: 8 cycles in 2 seconds
        response = post_change(world, casey, TOU_C, key=f"cycle-{cycle}")
        answers.append(response)
        if response.status_code == 202:
            gone = world.client.delete(
                casey.url(f"/RateChangeRequest/{rid_of(response)}"), headers=casey.headers
            )
            assert gone.status_code == 200
    assert [a.status_code for a in answers] == [202] * 3 + [429] * 5
    assert _passcode_mails(world, "casey") == 3  # the default "3 per hour;5 per day"
    refused = answers[-1]
    assert refused.json["error"] == "too_many_rate_changes"
    assert "3 per hour" in refused.json["error_description"]
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 3600
    assert f"in {retry_after} seconds" in refused.json["error_description"]
    # Replaying a request that exists is not a new request: not refused, no new mail.
    replay = post_change(world, casey, TOU_C, key="cycle-0")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert _passcode_mails(world, "casey") == 3
    # Another service agreement is not held back by casey's.
    blake = world.grant("blake")
    assert post_change(world, blake, {"targetRin": "USCA-PGXX-0010-0000"}).status_code == 202


def test_the_usage_point_limit_can_be_switched_off(world: SstWorld) -> None:
    world.app.config["RATE_CHANGE_USAGE_POINT_LIMIT"] = ""
    casey = world.grant("casey")
    for cycle in range(5):
        response = post_change(world, casey, TOU_C, key=f"off-{cycle}")
        assert response.status_code == 202, response.data
        world.client.delete(
            casey.url(f"/RateChangeRequest/{rid_of(response)}"), headers=casey.headers
        )
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(RateChangeRequestRecord)) == 5


def test_one_asp_cannot_create_requests_without_limit(sst_database: tuple[str, DemoData]) -> None:
    url, data = sst_database
    limited = make_world(
        url,
        data,
        RATELIMIT_ENABLED=True,
        RATE_CHANGE_CLIENT_RATE_LIMIT="2 per minute",
        RATE_CHANGE_USAGE_POINT_LIMIT="",
    )
    try:
        granted = {name: limited.grant(name) for name in ("blake", "casey", "dana")}
        targets: dict[str, dict[str, Any]] = {
            "blake": {"targetRin": "USCA-PGXX-0010-0000"},  # E-1 delivery (alex: 12-month rule)
            "casey": TOU_C,
            "dana": TOU_C,
        }
        answers = [
            post_change(limited, granted[n], targets[n], key=f"asp-{n}")
            for n in ("blake", "casey", "dana")
        ]
        assert [a.status_code for a in answers] == [202, 202, 429], [a.data for a in answers]
        assert answers[2].json["error"] == "too_many_requests"
        assert int(answers[2].headers["Retry-After"]) > 0
        assert _passcode_mails(limited, "dana") == 0
        # The limit is the ASP's, not every ASP's: another client still gets through.
        other = limited.grant("dana", client_id="demo-rate-coach-mobile")
        assert post_change(limited, other, TOU_C, key="other-asp").status_code == 202
    finally:
        limited.app.extensions["espi_sst_db"].engine.dispose()
