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


def say(page, message: str, kind: str) -> None:
    """Send a message and wait for the reply of that kind (answer, suggest, handoff, chitchat)."""
    count = page.locator(f".chat-bot.chat-{kind}").count()
    page.fill("#chat-input", message)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(f".chat-bot.chat-{kind}")).to_have_count(count + 1)


def test_a_short_new_question_switches_topic(page, live_server, indexed_kb):
    page.goto(live_server + "/")
    say(page, "How do I reset my password?", "answer")
    say(page, "Where is my order?", "answer")
    latest = page.locator(".chat-bot.chat-answer").last
    expect(latest.locator("a.citation").first).to_have_attribute(
        "href", re.compile(r"^/kb/track-order"))
    expect(latest).not_to_contain_text("Forgot password")
    page.get_by_role("button", name="Talk to a person").click()
    expect(page.locator("#h-subject")).to_have_value("Where is my order?")


def test_asking_for_a_person_after_an_answer_offers_the_ticket(page, live_server, indexed_kb):
    page.goto(live_server + "/")
    say(page, "How do I reset my password?", "answer")
    say(page, "I need a person now", "handoff")
    handoff = page.locator(".chat-bot.chat-handoff").last
    expect(handoff).to_contain_text("support team")
    handoff.get_by_role("link", name="Review the ticket").click()
    expect(page.locator("#h-subject")).to_have_value("How do I reset my password?")
    screenshot(page, "chat-person-after-answer")


def test_hello_and_thanks_that_worked(page, live_server, indexed_kb):
    page.goto(live_server + "/")
    say(page, "hello", "chitchat")
    greeting = page.locator(".chat-bot.chat-chitchat").last
    expect(greeting).to_contain_text("What can I help you with")
    expect(greeting.locator("a.citation")).to_have_count(0)
    expect(page.get_by_text("Did this solve your problem?")).to_have_count(0)
    say(page, "My thermostat shows the wrong temperature", "answer")
    say(page, "thanks, that worked", "chitchat")
    expect(page.locator(".chat-bot.chat-chitchat").last).to_contain_text("glad")
    page.reload()
    # The typed thanks confirmed the answer, as the Yes button does.
    expect(page.locator("#resolved")).to_have_text("Glad that helped!")
    screenshot(page, "chat-small-talk")


def test_off_topic_and_not_covered_questions_get_no_confident_answer(
    page, live_server, indexed_kb
):
    page.goto(live_server + "/")
    say(page, "What's the weather going to be like tomorrow?", "chitchat")
    expect(page.locator(".chat-bot.chat-chitchat").last).to_contain_text(
        "I can only help with questions about")
    page.fill("#chat-input", "Is there a version of the app for my smart TV?")
    page.get_by_role("button", name="Send").click()
    reply = page.locator(".chat-bot.chat-suggest, .chat-bot.chat-handoff").last
    expect(reply).to_be_visible()
    expect(reply.get_by_role("link", name="Review the ticket")).to_be_visible()
    expect(page.locator(".chat-bot.chat-answer")).to_have_count(0)
    expect(page.get_by_text("Did this solve your problem?")).to_have_count(0)
    screenshot(page, "chat-not-covered")
