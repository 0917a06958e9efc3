"""The chat story in a real browser: ask, read the cited streamed answer, then No or Yes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Role
from tests.conftest import DEFAULT_PASSWORD, screenshot

pytestmark = pytest.mark.browser


def sign_in(page, base: str, user) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:has-text('Sign in')")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def ask(page, question: str) -> None:
    page.fill("#chat-input", question)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-bot.chat-answer").last).to_be_visible()


def test_no_leads_to_a_prefilled_ticket_in_my_tickets(page, live_server, make_user, indexed_kb):
    customer = make_user(Role.CUSTOMER, name="Robin Chat")
    sign_in(page, live_server, customer)
    page.goto(live_server + "/")
    expect(page.get_by_role("button", name="Talk to a person")).to_be_visible()
    ask(page, "How do I reset my password?")
    answer = page.locator(".chat-bot.chat-answer").last
    # The steps of the section that answers it, linked to that section.
    expect(answer).to_contain_text("1. On the sign-in screen")
    expect(answer.locator("a.citation").first).to_have_attribute(
        "href", "/kb/reset-password#reset-a-forgotten-password")
    screenshot(page, "chat-cited-answer")

    answer.get_by_role("button", name="No").click()
    expect(page.locator("#h-subject")).to_have_value("How do I reset my password?")
    page.fill("#h-description", "I followed the steps but the reset email never arrives.")
    page.goto(live_server + "/")  # leave and come back: nothing typed is lost
    page.get_by_role("link", name="Review the ticket").click()
    expect(page.locator("#h-description")).to_have_value(
        "I followed the steps but the reset email never arrives.")
    page.get_by_role("button", name="Send to support").click()
    page.wait_for_url(re.compile(r"/tickets/\d+"))
    page.goto(live_server + "/tickets")
    expect(page.locator("main")).to_contain_text("How do I reset my password?")
    screenshot(page, "chat-ticket-in-my-tickets")


def test_yes_confirms_the_answer(page, live_server, indexed_kb):
    page.goto(live_server + "/")
    ask(page, "My thermostat shows the wrong temperature")
    page.locator(".chat-bot.chat-answer").last.get_by_role("button", name="Yes").click()
    expect(page.locator("#resolved")).to_have_text("Glad that helped!")
    page.reload()
    expect(page.locator(".chat-user")).to_contain_text("wrong temperature")
