"""'Point to a help article' in a real browser: the agent picks the articles from search."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Role
from tests.conftest import screenshot
from tests.tickets.test_browser import sign_in

pytestmark = pytest.mark.browser


def test_point_to_an_article_offers_search_not_the_bots_articles(
        page, live_server, make_user, new_ticket, kb_articles):
    customer = make_user(Role.CUSTOMER, name="Pat Reader")
    ticket = new_ticket(customer, subject="Password reset email never arrives",
                        source="chat", article_slugs=["error-codes"])
    sign_in(page, live_server, make_user(Role.AGENT, name="Alex Linker"))
    page.goto(f"{live_server}/tickets/{ticket.number}")
    page.get_by_label("Canned response").select_option(label="Point to a help article")
    page.get_by_role("button", name="Insert", exact=True).click()
    offer = page.get_by_test_id("macro-needs-articles")
    expect(offer).to_contain_text("Pick them first")
    expect(page.locator("#reply-body")).to_have_value("")
    screenshot(page, "agent-canned-pick-articles")
    offer.locator("li", has_text="Reset your password").get_by_role("button",
                                                                    name="Link").click()
    expect(page.locator(".alert-success")).to_contain_text("Article linked")
    page.get_by_label("Canned response").select_option(label="Point to a help article")
    page.get_by_role("button", name="Insert", exact=True).click()
    body = page.locator("#reply-body")
    expect(body).to_have_value(
        re.compile(r"\[Reset your password\]\(http://localhost/kb/reset-password\)"))
    assert "error-codes" not in body.input_value()
