"""The whole journey in a real browser: file, work, solve, rate."""

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


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()


def test_file_work_solve_and_rate(page, live_server, make_user, kb_articles):
    customer = make_user(Role.CUSTOMER, name="Casey Browser")
    agent = make_user(Role.AGENT, name="Alex Browser")

    # The customer starts a ticket; suggestions appear while the subject is typed.
    sign_in(page, live_server, customer)
    page.goto(f"{live_server}/tickets/new")
    page.locator("#subject").press_sequentially("reset password email", delay=20)
    suggestions = page.get_by_test_id("suggested-articles")
    expect(suggestions).to_contain_text("password")
    screenshot(page, "tickets-form-suggestions")
    page.fill("#description", "The reset email never arrives, I checked spam.")
    page.get_by_role("button", name="Send ticket").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("new")
    number = re.search(r"/tickets/(\d+)", page.url).group(1)
    sign_out(page)

    # The agent claims it, answers with a canned response, leaves a note, solves it.
    sign_in(page, live_server, agent)
    page.goto(f"{live_server}/tickets/queue")
    page.get_by_role("link", name=f"#{number}").click()
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_test_id("assignee")).to_have_text("Alex Browser")
    page.select_option("select[name=name]", "ask-for-details")
    page.get_by_role("button", name="Insert", exact=True).click()
    expect(page.locator("#reply-body")).to_have_value(re.compile(r"Hi Casey Browser,"))
    expect(page.locator("#reply-body")).to_have_value(re.compile(f"ticket #{number}"))
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".thread")).to_contain_text("So we can help quickly")
    page.fill("#note-body", "Customer tried spam folder already; check mail logs.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".message.note")).to_contain_text("check mail logs")
    page.select_option("#ticket-panel select[name=status]", "solved")
    page.get_by_role("button", name="Set status").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("solved")
    screenshot(page, "tickets-agent-solved")
    sign_out(page)

    # The customer sees the answer but not the note, and rates the support.
    sign_in(page, live_server, customer)
    page.goto(f"{live_server}/tickets/{number}")
    expect(page.locator(".thread")).to_contain_text("So we can help quickly")
    expect(page.locator("body")).not_to_contain_text("check mail logs")
    page.get_by_label("5").check()
    page.fill("#comment", "Fast and friendly")
    page.get_by_role("button", name="Send rating").click()
    expect(page.locator("#rating")).to_contain_text("You rated this ticket 5 out of 5")
