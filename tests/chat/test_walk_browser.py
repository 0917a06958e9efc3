"""What a walk through the customer's chat journeys found, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Role
from tests.chat.test_browser import ask, say, sign_in
from tests.conftest import screenshot

pytestmark = pytest.mark.browser
GREETING = "Hi! Ask me about"


def hand_off(page, base: str, field: str, value: str) -> None:
    """Ask one question, then send the ticket with one field filled in."""
    page.goto(base + "/")
    ask(page, "My thermostat shows the wrong temperature")
    page.get_by_role("button", name="Talk to a person").click()
    page.fill(field, value)
    page.get_by_role("button", name="Send to support").click()


def test_start_over_greets_and_back_from_a_citation_keeps_the_chat(page, live_server,
                                                                   indexed_kb):
    page.goto(live_server + "/")
    ask(page, "How do I reset my password?")
    page.get_by_role("button", name="Start over").click()
    expect(page.locator(".chat-empty")).to_contain_text(GREETING)
    expect(page.locator(".chat-user")).to_have_count(0)
    screenshot(page, "chat-start-over")

    ask(page, "Where is my order?")
    expect(page.locator(".chat-empty")).to_have_count(0)
    page.locator(".chat-bot.chat-answer a.citation").first.click()
    page.wait_for_url(re.compile(r"/kb/"))
    page.go_back()
    page.wait_for_url(live_server + "/")
    expect(page.locator(".chat-user")).to_have_text(["Where is my order?"])
    expect(page.locator(".chat-bot.chat-answer")).to_have_count(1)


def test_talk_to_a_person_without_a_conversation_is_a_plain_empty_form(page, live_server,
                                                                         indexed_kb):
    page.goto(live_server + "/")
    page.get_by_role("button", name="Talk to a person").click()
    page.wait_for_url(re.compile(r"/chat/\d+/handoff$"))
    expect(page.locator("main")).not_to_contain_text("filled this in from our conversation")
    expect(page.locator("main")).to_contain_text("Tell us what you need")
    expect(page.locator("#h-subject")).to_have_value("")
    expect(page.locator("#h-description")).to_have_value("")
    expect(page.locator("details.transcript")).to_have_count(0)
    screenshot(page, "chat-handoff-without-conversation")


def test_sending_the_handoff_ticket_confirms_and_leaves_the_form(page, live_server, make_user,
                                                                  indexed_kb):
    sign_in(page, live_server, make_user(Role.CUSTOMER, name="Sam Sender"))
    hand_off(page, live_server, "#h-description", "It reads 4 degrees too warm since I moved it.")
    page.wait_for_url(re.compile(r"/tickets/\d+$"))
    expect(page.get_by_role("status").or_(page.locator(".alert-success"))).to_contain_text(
        re.compile(r"ticket #\d+ is in"))
    screenshot(page, "chat-handoff-sent")


def test_anonymous_handoff_lands_on_check_your_inbox(page, live_server, indexed_kb):
    hand_off(page, live_server, "#h-email", "walker@example.com")
    page.wait_for_url(re.compile(r"/tickets/sent/\d+$"))
    expect(page.locator("h1")).to_have_text("Check your inbox")


def test_agent_reads_the_chat_as_a_conversation(page, live_server, make_user, indexed_kb):
    customer = make_user(Role.CUSTOMER, name="Chatty Customer")
    agent = make_user(Role.AGENT, name="Agent Reader")
    sign_in(page, live_server, customer)
    page.goto(live_server + "/")
    for question in ("How do I reset my password?", "Where is my order?",
                     "My thermostat shows the wrong temperature"):
        say(page, question, "answer")
    page.get_by_role("button", name="Talk to a person").click()
    page.get_by_role("button", name="Send to support").click()
    page.wait_for_url(re.compile(r"/tickets/\d+$"))
    number = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, agent)
    page.goto(f"{live_server}/tickets/{number}")
    chat = page.locator(".chat-transcript")
    expect(chat.locator("h2")).to_contain_text("Chat before the ticket")
    latest = chat.locator(":scope > ol.turns > li")
    expect(latest).to_have_count(4)
    expect(latest.last).to_contain_text("Ticket #")
    expect(chat.locator("h2")).to_contain_text("(7 messages)")
    expect(chat.locator(".turn-customer time").first).to_be_attached()
    expect(chat.locator(".turn-sources a").first).to_have_attribute("href", re.compile("^/kb/"))
    earlier = chat.locator("details.transcript-earlier")
    expect(earlier.locator("li").first).not_to_be_visible()
    earlier.locator("summary").click()
    expect(earlier.locator("li").first).to_contain_text("How do I reset my password?")
    font = chat.locator(".turn-text").first.evaluate("e => getComputedStyle(e).fontFamily")
    assert "mono" not in font
    screenshot(page, "agent-ticket-chat-transcript")


def test_an_empty_new_ticket_names_every_missing_field(page, live_server):
    page.goto(live_server + "/tickets/new")
    page.get_by_role("button", name="Send ticket").click()
    for field, words in (("email", "email address"), ("subject", "subject"),
                         ("description", "description")):
        expect(page.locator(f"#{field}-error")).to_contain_text(words)
    screenshot(page, "ticket-form-all-missing")


def test_the_chat_and_the_handoff_form_fit_a_phone(browser, live_server, indexed_kb):
    from tests.kb.test_narrow_screens import PHONE, overflow, widest_elements

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(live_server + "/")
        ask(page, "Which plan do I need for more than one home, and what does it cost?")
        assert overflow(page) <= 0, widest_elements(page)
        screenshot(page, "phone-chat-answer")
        page.get_by_role("button", name="Talk to a person").click()
        page.wait_for_url(re.compile(r"/handoff$"))
        page.locator("details.transcript summary").click()
        assert overflow(page) <= 0, widest_elements(page)
        screenshot(page, "phone-chat-handoff")
        page.fill("#h-email", "phone@example.com")
        page.get_by_role("button", name="Send to support").click()
        page.wait_for_url(re.compile(r"/tickets/sent/\d+$"))
        assert overflow(page) <= 0, widest_elements(page)
    finally:
        context.close()
