"""Every customer page and every demo article at 390 px (a phone): nothing wider than it."""

from __future__ import annotations

import pytest

from portal.accounts.models import Role
from portal.kb.documents import load_content
from portal.tickets import services as ticket_services
from tests.chat.test_browser import sign_in
from tests.conftest import REPO, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
CUSTOMER_PAGES = ["/", "/kb", "/kb/search?q=password", "/kb/search?q=zzzzqqq", "/tickets/new",
                  "/login", "/register", "/password/forgot"]
SIGNED_IN_PAGES = ["/", "/tickets", "/tickets/new", "/account"]


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the screen (0 when it fits)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth")


def widest_elements(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .slice(0, 5)
        .map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)""")


def test_no_customer_page_is_wider_than_a_phone(browser, live_server, demo_kb, make_user):
    customer = make_user(Role.CUSTOMER, name="Pat Phone")
    ref = ticket_services.create_ticket(
        subject="My thermostat keeps dropping off the wifi",
        description="Since the update it disconnects every night around 2am.",
        requester_id=customer.id, requester_email=None)
    published = [a for a in load_content(REPO / "content").articles if a.status == "published"]
    public_slugs = [a.slug for a in published if a.audience == "public"]
    customer_slugs = [a.slug for a in published if a.audience == "customers"]
    assert len(public_slugs) > 10
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    too_wide: dict[str, list[str]] = {}
    try:
        for path in CUSTOMER_PAGES + [f"/kb/{slug}" for slug in public_slugs]:
            page.goto(live_server + path)
            if overflow(page) > 0:
                too_wide[path] = widest_elements(page)
        page.goto(live_server + "/kb/plans-compared")
        screenshot(page, "phone-article-plans-compared")
        sign_in(page, live_server, customer)
        for path in SIGNED_IN_PAGES + [f"/tickets/{ref.number}"] + [
                f"/kb/{slug}" for slug in customer_slugs]:
            page.goto(live_server + path)
            if overflow(page) > 0:
                too_wide[path] = widest_elements(page)
        page.goto(live_server + f"/tickets/{ref.number}")
        screenshot(page, "phone-customer-ticket")
    finally:
        context.close()
    assert too_wide == {}
