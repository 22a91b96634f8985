"""Concept design UC1.4, 6.4.6: a customer reports an ASP from the portal.  The report is
stored with a reference number the customer is shown, audited, e-mailed (sealed, through
the outbox) to ``COMPLAINTS_EMAIL``, and listed by ``espi-sst complaints list|show``.
Over real HTTP on a free port, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from espi_sst_server.lifecycle.complaints import LONGEST_TEXT
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, AspComplaint, Authorization
from parallel import serve
from portal_world import ASP, SCOPE, HttpBrowser, Portal, csrf_of
from sqlalchemy import select

UTILITY_DESK = "asp-complaints@utility.example"
OTHER = "asp-other"
WORDS = "It called me three times a day to make me switch my rate."
ESPI = Path(sys.executable).with_name("espi-sst")


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``espi-sst`` as an operator runs it, on the database the portal wrote."""
    env = dict(os.environ, ESPI_DATABASE_URL=database_url, ESPI_SECRET_KEY="portal-test-key")
    return subprocess.run([str(ESPI), *args], capture_output=True, text=True, env=env, timeout=120)


def _world(make_portal: Callable[..., Portal], **config: object) -> Portal:
    """Alice granted the public ASP access; a second ASP she never used is registered too."""
    portal = make_portal(**{"COMPLAINTS_EMAIL": UTILITY_DESK, **config})
    with portal.app.app_context(), db.transaction() as session:
        public = session.scalars(select(Application).where(Application.client_id == ASP)).one()
        other = Application(
            uuid="00000000-0000-4000-8000-000000000002",
            client_id=OTHER,
            client_secret_hash=None,
            client_name="Other Energy Co",
            redirect_uris=["https://other.example/cb"],
            notify_uri="https://other.example/notify",
            scope=SCOPE,
            grant_types=["authorization_code"],
            token_endpoint_auth_method="none",
            qualification="qualified",
            software_id="other",
            software_version="1",
            contacts=[],
            created_at=now(),
        )
        session.add(other)
        session.add(
            Authorization(
                uuid="44444444-4444-4444-8444-000000000001",
                subscription_uuid="44444444-4444-4444-8444-000000000002",
                customer_id=1,
                application_id=public.id,
                scope=SCOPE,
                status=1,
                created_at=now(),
                updated_at=now(),
                grant_type="authorization_code",
            )
        )
    return portal


@pytest.fixture()
def signed_in(make_portal: Callable[..., Portal]) -> Iterator[tuple[Portal, HttpBrowser]]:
    portal = _world(make_portal)
    with serve(portal.app) as base:
        browser = HttpBrowser(base)
        assert browser.sign_in("alice", "correct horse").status_code == 302
        try:
            yield portal, browser
        finally:
            browser.close()


def _form(browser: HttpBrowser) -> requests.Response:
    page = browser.http.get(f"{browser.base}/portal/complaints", timeout=30)
    assert page.status_code == 200, (page.status_code, page.text)
    return page


def _file(browser: HttpBrowser, **fields: str) -> requests.Response:
    data = {"application": ASP, "category": "misleading", "text": WORDS}
    data.update(fields)
    data["csrf_token"] = csrf_of(_form(browser).text)
    return browser.post("/portal/complaints", data)


def test_the_form_lists_granted_asps_first_then_the_other_registered_ones(
    signed_in: tuple[Portal, HttpBrowser],
) -> None:
    _, browser = signed_in
    page = _form(browser).text
    granted = page.index('<optgroup label="Companies you gave access to">')
    others = page.index('<optgroup label="Other registered companies">')
    assert granted < page.index("Public ASP") < others < page.index("Other Energy Co")
    assert f'maxlength="{LONGEST_TEXT}"' in page


def test_a_complaint_is_stored_audited_mailed_and_confirmed_with_its_reference(
    signed_in: tuple[Portal, HttpBrowser],
) -> None:
    portal, browser = signed_in
    filed = _file(browser)
    assert filed.status_code == 302
    confirmation = browser.http.get(browser.base + filed.headers["Location"], timeout=30)
    assert confirmation.status_code == 200
    reference = re.search(r'<strong id="reference">(C-[A-Z2-9]{8})</strong>', confirmation.text)
    assert reference, confirmation.text
    assert "Public ASP" in confirmation.text and "It misled me or pressured me" in confirmation.text

    (stored,) = portal.rows(AspComplaint)
    assert stored.reference == reference.group(1)
    assert (stored.category, stored.text, stored.had_grant) == ("misleading", WORDS, True)
    assert stored.mailed_to == UTILITY_DESK

    (event,) = [row for row in portal.audit() if row.action == "complaint_filed"]
    assert event.actor == "customer:11111111-1111-4111-8111-111111111111"
    assert event.subject == f"client:{ASP}"
    assert event.detail == {
        "reference": stored.reference,
        "category": "misleading",
        "had_grant": True,
        "mailed": True,
    }
    assert WORDS not in str(event.detail), "the customer's words stay out of the audit log"

    (mail,) = [row for row in portal.emails() if row.destination == UTILITY_DESK]
    assert WORDS not in str(mail.payload), "the body is sealed at rest"
    opened = portal.opened(mail)
    assert opened["subject"] == f"Customer complaint {stored.reference} about Public ASP"
    assert WORDS in opened["text"] and f"client id {ASP}" in opened["text"]
    assert "alice@example.com" in opened["text"]


def test_any_registered_asp_can_be_reported(signed_in: tuple[Portal, HttpBrowser]) -> None:
    portal, browser = signed_in
    assert _file(browser, application=OTHER, category="other").status_code == 302
    (stored,) = portal.rows(AspComplaint)
    assert stored.had_grant is False
    with portal.app.app_context():
        assert db.session.get(Application, stored.application_id).client_id == OTHER  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "bad"}, "Write between 10 and 2000 characters (you wrote 3)."),
        ({"text": "x" * (LONGEST_TEXT + 1)}, "(you wrote 2001)"),
        ({"text": "   "}, "Describe what happened, in a few sentences."),
        ({"category": ""}, "Choose what happened."),
        ({"category": "made-up"}, "Not a valid choice"),
        ({"application": "asp-nobody"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_refused_on_the_form_with_what_to_fix(
    signed_in: tuple[Portal, HttpBrowser], fields: dict[str, str], message: str
) -> None:
    portal, browser = signed_in
    answer = _file(browser, **fields)
    assert answer.status_code == 400
    assert "Your report was not sent." in answer.text
    assert message in answer.text
    assert portal.rows(AspComplaint) == []


def test_without_a_csrf_token_nothing_is_filed(signed_in: tuple[Portal, HttpBrowser]) -> None:
    portal, browser = signed_in
    answer = browser.post(
        "/portal/complaints", {"application": ASP, "category": "other", "text": WORDS}
    )
    assert answer.status_code == 400
    assert "The CSRF token is missing." in answer.text
    assert portal.rows(AspComplaint) == []


def test_a_customer_sees_only_their_own_confirmation(
    signed_in: tuple[Portal, HttpBrowser],
) -> None:
    portal, browser = signed_in
    location = _file(browser).headers["Location"]
    other = HttpBrowser(browser.base)
    try:
        assert other.sign_in("bob", "battery staple").status_code == 302
        assert other.http.get(other.base + location, timeout=30).status_code == 404
    finally:
        other.close()


def test_signed_out_browsers_cannot_file(make_portal: Callable[..., Portal]) -> None:
    portal = _world(make_portal)
    with serve(portal.app) as base:
        browser = HttpBrowser(base)
        page = browser.http.get(f"{base}/portal/complaints", allow_redirects=False, timeout=30)
        assert page.status_code == 302 and "/portal/login" in page.headers["Location"]
        token = csrf_of(browser.http.get(f"{base}/portal/login", timeout=30).text)
        answer = browser.post(
            "/portal/complaints",
            {"application": ASP, "category": "other", "text": WORDS, "csrf_token": token},
        )
        browser.close()
    assert answer.status_code == 401
    assert portal.rows(AspComplaint) == []


def test_filing_is_rate_limited_per_customer(make_portal: Callable[..., Portal]) -> None:
    portal = _world(make_portal, COMPLAINT_RATE_LIMIT="2 per hour")
    with serve(portal.app) as base:
        browser = HttpBrowser(base)
        assert browser.sign_in("alice", "correct horse").status_code == 302
        answers = [_file(browser).status_code for _ in range(3)]
        browser.close()
    assert answers == [302, 302, 429]
    assert len(portal.rows(AspComplaint)) == 2


def test_without_a_complaints_address_the_report_is_stored_but_not_mailed(
    make_portal: Callable[..., Portal],
) -> None:
    portal = _world(make_portal, COMPLAINTS_EMAIL=None)
    with serve(portal.app) as base:
        browser = HttpBrowser(base)
        assert browser.sign_in("alice", "correct horse").status_code == 302
        assert _file(browser).status_code == 302
        browser.close()
    (stored,) = portal.rows(AspComplaint)
    assert stored.mailed_to is None
    assert portal.emails() == []


def test_the_admin_command_lists_and_shows_complaints(
    signed_in: tuple[Portal, HttpBrowser], database_url: str
) -> None:
    portal, browser = signed_in
    assert _file(browser, category="misleading").status_code == 302
    assert _file(browser, application=OTHER, category="privacy_security").status_code == 302
    stored = {row.category: row.reference for row in portal.rows(AspComplaint)}

    listed = _cli(database_url, "complaints", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    documents = json.loads(listed.stdout)
    assert [d["reference"] for d in documents] == [
        stored["privacy_security"],
        stored["misleading"],
    ], "newest first"
    assert documents[1]["client_id"] == ASP and documents[1]["asp"] == "Public ASP"
    assert documents[1]["customer"] == "alice" and documents[1]["had_grant"] is True
    assert documents[1]["mailed_to"] == UTILITY_DESK and documents[1]["filed_at"].endswith("Z")
    assert "text" not in documents[1], "the list is an index; show has the words"

    only_public = _cli(database_url, "complaints", "list", "--client-id", ASP, "--json")
    assert [d["reference"] for d in json.loads(only_public.stdout)] == [stored["misleading"]]

    table = _cli(database_url, "complaints", "list")
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["REFERENCE", "FILED_AT", "CLIENT_ID", "ASP", "CATEGORY", "CUSTOMER"]
    assert lines[1].startswith(stored["misleading"]) and ASP in lines[1]

    shown = _cli(database_url, "complaints", "show", stored["misleading"].lower(), "--json")
    assert shown.returncode == 0, shown.stderr
    one = json.loads(shown.stdout)
    assert one["text"] == WORDS and one["category_text"] == "It misled me or pressured me"
    assert one["customer_email"] == "alice@example.com"
    person = _cli(database_url, "complaints", "show", stored["misleading"])
    assert WORDS in person.stdout and "It misled me or pressured me" in person.stdout

    missing = _cli(database_url, "complaints", "show", "C-NOTAREAL")
    assert missing.returncode == 1
    assert missing.stderr.startswith("espi-sst: error: no complaint has the reference 'C-NOTAREAL'")
    unknown = _cli(database_url, "complaints", "list", "--client-id", "asp-nobody")
    assert unknown.returncode == 1 and "asp-nobody" in unknown.stderr
