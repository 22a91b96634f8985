"""The second passcode channel (issue 13; concept design 7.6, Class 2 authentication): a
customer who chose text messages confirms a rate change with a passcode sent by SMS.

Everything over real HTTP on free loopback ports, on SQLite and PostgreSQL: the server
(Werkzeug's threaded server), the worker's outbox delivering with the generic HTTP adapter
(server/outbox/sms.py) to the demo's SMS sink (server/demo/sms_sink.py), the ASP relaying
the code the customer read there.  Dana, the demo's solar customer, prefers SMS.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from espi_sst_server.demo import DemoData
from espi_sst_server.demo.sms_sink import SmsMessage, SmsSink
from espi_sst_server.storage.models import OutboxMessage, RetailCustomer
from espi_sst_server.worker import Worker
from parallel import serve
from sqlalchemy import select, update
from sst_world import Granted, SstWorld, make_world

DANA_PHONE = "+14085550175"
TOU_C = {"targetRin": "USCA-PGPG-0100-0000"}  # E-TOU-C, a rate Dana may choose
TOKEN = "sink-token-7"


@pytest.fixture
def texted(sst_database: tuple[str, DemoData], tmp_path: Path) -> tuple[SstWorld, SmsSink]:
    url, data = sst_database
    sink = SmsSink(tmp_path / "sms", token=TOKEN).start()
    made = make_world(url, data, SMS_URL=sink.url, SMS_TOKEN=TOKEN, SMS_TIMEOUT=5)
    yield made, sink  # type: ignore[misc]
    made.app.extensions["espi_sst_db"].engine.dispose()
    sink.stop()


def _post(base: str, granted: Granted, key: str = "sms-1") -> requests.Response:
    return requests.post(
        base + granted.url("/RateChangeRequest"),
        json=TOU_C,
        headers={**granted.headers, "Idempotency-Key": key},
        timeout=30,
    )


def _confirm(base: str, granted: Granted, rid: str, code: str) -> requests.Response:
    return requests.post(
        base + granted.url(f"/RateChangeRequest/{rid}/Confirmation"),
        json={"code": code},
        headers=granted.headers,
        timeout=30,
    )


def _code(message: SmsMessage) -> str:
    found = re.search(r"confirmation code is: (\d+)", message.body)
    assert found, message.body
    return found.group(1)


def _status(base: str, granted: Granted, rid: str) -> str:
    answer = requests.get(
        base + granted.url(f"/RateChangeRequest/{rid}"), headers=granted.headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    found = re.search(r"<(?:\w+:)?status>(\w+)</", answer.text)
    assert found, answer.text
    return found.group(1)


def test_a_rate_change_is_confirmed_with_the_code_sent_by_sms(
    texted: tuple[SstWorld, SmsSink],
) -> None:
    world, sink = texted
    dana = world.grant("dana")
    with serve(world.app) as base:
        asked = _post(base, dana)
        assert asked.status_code == 202, asked.text
        rid = str(asked.headers["Location"]).rsplit("/", 1)[1]
        assert sink.messages() == []  # queued in the request's transaction, sent by the worker
        Worker(world.app).run_once()
        (message,) = sink.messages(DANA_PHONE)
        assert "Demo Utility" in message.body and "E-TOU-C" in message.body
        code = _code(message)
        assert len(code) == 6
        # No e-mail passcode: the chosen channel only.
        with world.session() as s:
            kinds = [
                m.kind
                for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
                if m.kind != "asp_notification"
            ]
            assert kinds == ["sms"]
            sent = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms"))
            assert sent is not None and sent.sent_at is not None
            assert "sealed" not in sent.payload  # the body is purged once sent
        assert message.idempotency_key == f"http://127.0.0.1:5999/sms/{sent.id}"
        # Sent once: another pass sends nothing more.
        Worker(world.app).run_once()
        assert len(sink.messages(DANA_PHONE)) == 1
        confirmed = _confirm(base, dana, rid, code)
        assert confirmed.status_code == 200, confirmed.text
        assert _status(base, dana, rid) in ("confirmed", "submitted", "accepted")
        # The outcome reaches her the same way (a customer who chose SMS may have no
        # e-mail at all): billing decides, the worker texts the result.
        for _ in range(6):
            Worker(world.app).run_once()
            if _status(base, dana, rid) in ("accepted", "rejected"):
                Worker(world.app).run_once()  # deliver the outcome queued with the decision
                break
        decided = _status(base, dana, rid)
        assert decided in ("accepted", "rejected")
        outcome = [m for m in sink.messages(DANA_PHONE) if "confirmation code" not in m.body]
        assert len(outcome) == 1, [m.body for m in sink.messages(DANA_PHONE)]
        assert ("is accepted" if decided == "accepted" else "was not made") in outcome[0].body
        with world.session() as s:
            assert not [m for m in s.scalars(select(OutboxMessage)) if m.kind == "email"]


def test_the_same_attempt_limits_hold_on_the_sms_path(texted: tuple[SstWorld, SmsSink]) -> None:
    world, sink = texted
    maximum = int(world.app.config["OTP_MAX_ATTEMPTS"])
    dana = world.grant("dana")
    with serve(world.app) as base:
        asked = _post(base, dana, "sms-limits")
        rid = str(asked.headers["Location"]).rsplit("/", 1)[1]
        Worker(world.app).run_once()
        code = _code(sink.messages(DANA_PHONE)[0])
        wrong = "0" * 6 if code != "0" * 6 else "1" * 6
        answers = [_confirm(base, dana, rid, wrong) for _ in range(maximum)]
        assert [a.status_code for a in answers] == [422] * (maximum - 1) + [409]
        assert [a.json().get("attempts_left") for a in answers[:-1]] == [
            str(left) for left in range(maximum - 1, 0, -1)
        ]
        assert answers[-1].json()["error"] == "confirmation_closed"
        # The right code after the last wrong one is refused: the request is rejected.
        late = _confirm(base, dana, rid, code)
        assert late.status_code == 409, late.text
        assert _status(base, dana, rid) == "rejected"
        assert len(sink.messages(DANA_PHONE)) == 1  # no new code was sent


def test_a_customer_without_e_mail_gets_the_code_by_sms(texted: tuple[SstWorld, SmsSink]) -> None:
    """The chosen channel wins; with e-mail chosen but no address, the phone is used."""
    world, sink = texted
    with world.session() as s:
        s.execute(
            update(RetailCustomer)
            .where(RetailCustomer.username == "casey")
            .values(email=None, passcode_channel="email", phone="+15105550142")
        )
        s.commit()
    casey = world.grant("casey")
    with serve(world.app) as base:
        assert _post(base, casey, "casey-sms").status_code == 202
        Worker(world.app).run_once()
    (message,) = sink.messages("+1 510 555 0142")
    assert "confirmation code is" in message.body


def test_no_channel_at_all_is_a_clear_refusal(texted: tuple[SstWorld, SmsSink]) -> None:
    world, sink = texted
    with world.session() as s:
        s.execute(
            update(RetailCustomer)
            .where(RetailCustomer.username == "dana")
            .values(email=None, phone=None)
        )
        s.commit()
    dana = world.grant("dana")
    with serve(world.app) as base:
        refused = _post(base, dana, "none")
    assert refused.status_code == 409
    assert refused.json()["error"] == "no_confirmation_channel"
    assert "mobile number" in refused.json()["error_description"]
    assert sink.messages() == []
