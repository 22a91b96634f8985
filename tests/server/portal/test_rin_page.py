"""Title 20 1623(c)(4): the signed-in customer sees each service agreement's RIN(s) in the
portal, as text and as a QR code that decodes to exactly that text; an unbundled (CCA)
customer sees the delivery RIN (the utility's) and the generation RIN (the CCA's), each
labelled.  Over real HTTP on a free port, SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from espi_sst_server.storage import db
from espi_sst_server.storage.models import RetailCustomer, Tariff, UsagePoint
from parallel import serve
from portal_world import HttpBrowser, Portal
from qr_pixels import decode_svg
from sqlalchemy import select

BUNDLED = "USCA-PGPG-0100-0000"
DELIVERY = "USCA-PGXX-0100-0000"
GENERATION = "USCA-XXPE-0440-0000"
FIGURE = re.compile(r'<figure class="rin">(.*?)</figure>', re.DOTALL)


def _rated_world(make_portal: Callable[..., Portal], **config: object) -> Portal:
    """Alice bundled on E-TOU-C; Bob unbundled: PG&E delivery plus PCE's generation rate."""
    portal = make_portal(ENTITIES={"PCE": {"name": "Peninsula Clean Energy"}}, **config)
    with portal.app.app_context(), db.transaction() as session:
        bundled = Tariff(code="E-TOU-C", name="Time of use", rin=BUNDLED, role="bundled", lse="PGE")
        delivery = Tariff(
            code="E-TOU-C-D", name="Time of use delivery", rin=DELIVERY, role="delivery", lse="PGE"
        )
        generation = Tariff(
            code="PCE-TOU", name="ECOplus time of use", rin=GENERATION, role="generation", lse="PCE"
        )
        session.add_all([bundled, delivery, generation])
        alice_point = session.scalars(select(UsagePoint)).one()
        alice_point.tariff = bundled
        alice_point.customer.service_address = "1 Main St, Fresno, CA 93701"
        bob = session.scalars(select(RetailCustomer).where(RetailCustomer.username == "bob")).one()
        session.add(
            UsagePoint(
                uuid="33333333-3333-4333-8333-000000000002",
                customer_id=bob.id,
                title="Bob's apartment - electric",
                service_kind=0,
                service_agreement="SA-2",
                udc="PGE",
                lse="PCE",
                tariff=delivery,
                generation_tariff=generation,
            )
        )
    return portal


def _figures(base: str, username: str, password: str) -> tuple[str, list[str]]:
    browser = HttpBrowser(base)
    try:
        assert browser.sign_in(username, password).status_code == 302
        page = browser.http.get(f"{base}/portal/rates", timeout=30)
        assert page.status_code == 200, page.status_code
        return page.text, FIGURE.findall(page.text)
    finally:
        browser.close()


def test_a_bundled_customer_sees_the_rin_and_a_qr_code_of_exactly_it(
    make_portal: Callable[..., Portal],
) -> None:
    portal = _rated_world(make_portal)
    with serve(portal.app) as base:
        page, figures = _figures(base, "alice", "correct horse")
    assert "Home - electric" in page and "SA-1" in page and "1 Main St, Fresno" in page
    assert len(figures) == 1
    assert "Rate identification number (RIN)" in figures[0]
    assert f'<code class="rin-text">{BUNDLED}</code>' in figures[0]
    assert decode_svg(figures[0]) == [BUNDLED]
    width = int(re.search(r'<svg role="img" width="(\d+)"', figures[0]).group(1))  # type: ignore[union-attr]
    assert width >= 120, "large enough for a phone camera"
    assert (
        f"<title>QR code of the Rate identification number (RIN): {BUNDLED}</title>" in figures[0]
    )


def test_an_unbundled_customer_sees_the_delivery_and_the_generation_rin_labelled(
    make_portal: Callable[..., Portal],
) -> None:
    portal = _rated_world(make_portal)
    with serve(portal.app) as base:
        _, figures = _figures(base, "bob", "battery staple")
    assert len(figures) == 2
    delivery, generation = figures
    assert "Delivery RIN" in delivery and DELIVERY in delivery
    assert "Generation RIN" in generation and GENERATION in generation
    assert "Peninsula Clean Energy buys or generates" in generation
    assert decode_svg(delivery) == [DELIVERY]
    assert decode_svg(generation) == [GENERATION]


def test_a_utility_that_does_not_cache_cca_rins_says_whom_to_ask(
    make_portal: Callable[..., Portal],
) -> None:
    portal = _rated_world(make_portal, CACHED_CCA_RINS=False)
    with serve(portal.app) as base:
        page, figures = _figures(base, "bob", "battery staple")
    assert [DELIVERY in figure for figure in figures] == [True]
    assert GENERATION not in page
    assert "Your generation rate is set by Peninsula Clean Energy" in page


@pytest.mark.parametrize("path", ["/portal/rates"])
def test_the_page_is_for_signed_in_customers_only(
    make_portal: Callable[..., Portal], path: str
) -> None:
    portal = _rated_world(make_portal)
    with serve(portal.app) as base:
        browser = HttpBrowser(base)
        answer = browser.http.get(base + path, allow_redirects=False, timeout=30)
        browser.close()
    assert answer.status_code == 302 and "/portal/login?next=" in answer.headers["Location"]
    assert BUNDLED not in answer.text
