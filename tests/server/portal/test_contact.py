"""``/portal/contact`` (issue 13; concept design 7.6): the customer chooses how passcodes are
sent.  A customer without e-mail (Bob) can only choose text messages and is told why; a
number is stored in E.164 and the change audited with the number's last digits only; the
page's own styles are admitted by its CSP hash and nothing else inline.  SQLite and
PostgreSQL (the portal world's database)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

from espi_sst_server.storage.models import RetailCustomer
from portal_world import Portal, csrf_of


def test_a_customer_without_e_mail_chooses_sms(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    outsider = portal.browser()
    away = outsider.get("/portal/contact")
    assert away.status_code == 302 and "/portal/login" in away.headers["Location"]

    bob = portal.browser()
    assert bob.sign_in("bob", "battery staple").status_code == 302
    page = bob.get("/portal/contact")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "(we have no e-mail address for you)" in html
    assert re.search(r'id="channel-email"[^>]*disabled', html)
    # The CSP lists the hash of each inline style block served, and allows nothing else.
    policy = page.headers["Content-Security-Policy"]
    for block in re.findall(r"<style>(.*?)</style>", html, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy

    token = csrf_of(page.data)
    refused = bob.post("/portal/contact", {"csrf_token": token, "channel": "email", "phone": ""})
    assert refused.status_code == 400
    assert "We have no e-mail address for you" in refused.get_data(as_text=True)
    bad = bob.post("/portal/contact", {"csrf_token": token, "channel": "sms", "phone": "555-0142"})
    assert bad.status_code == 400
    assert "Start the number with + and the country code" in bad.get_data(as_text=True)
    empty = bob.post("/portal/contact", {"csrf_token": token, "channel": "sms", "phone": " "})
    assert "Enter the mobile number to text your codes to" in empty.get_data(as_text=True)
    forged = bob.post("/portal/contact", {"channel": "sms", "phone": "+1 415 555 0199"})
    assert forged.status_code == 400
    (row,) = [c for c in portal.rows(RetailCustomer) if c.username == "bob"]
    assert (row.passcode_channel, row.phone) == ("email", None)  # nothing saved yet

    saved = bob.post(
        "/portal/contact", {"csrf_token": token, "channel": "sms", "phone": "+1 415 555 0199"}
    )
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/portal/contact")
    shown = bob.get("/portal/contact").get_data(as_text=True)
    assert "Saved. Your codes now go by" in shown and "text message to +14155550199" in shown
    assert "Saved." not in bob.get("/portal/contact").get_data(as_text=True)  # said once
    (row,) = [c for c in portal.rows(RetailCustomer) if c.username == "bob"]
    assert (row.passcode_channel, row.phone) == ("sms", "+14155550199")
    (event,) = [e for e in portal.audit() if e.action == "passcode_channel_changed"]
    assert event.actor == f"customer:{row.uuid}"
    assert event.detail == {"channel": "sms", "phone_ends": "99"}
