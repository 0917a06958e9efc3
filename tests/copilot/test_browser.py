"""The copilot in a real browser: an agent opens a chat-originated ticket, reviews the
summary, the articles and the draft, edits it and sends it; the customer sees the reply."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.copilot.models import CopilotDraft
from portal.extensions import db
from tests.conftest import screenshot
from tests.tickets.test_browser import sign_in, sign_out

pytestmark = pytest.mark.browser


@pytest.fixture
def copilot_not_computed(app):
    """The ticket's copilot not computed before the agent opens it (the worker behind), the
    page not waiting for it, as in production."""
    app.config["COPILOT_BACKGROUND"] = "off"
    app.config["COPILOT_ON_OPEN"] = "deferred"


def test_agent_edits_and_sends_the_drafted_reply(copilot_not_computed, page, live_server, agent,
                                                 customer, chat_ticket):
    sign_in(page, live_server, agent)
    page.goto(f"{live_server}/tickets/queue")
    # The page shows at once; the card arrives by the placeholder's own request.
    with page.expect_response(f"{live_server}/tickets/{chat_ticket.number}/copilot") as card:
        page.get_by_role("link", name=f"#{chat_ticket.number}").click()
    assert card.value.ok

    copilot = page.get_by_test_id("copilot")
    expect(copilot.get_by_test_id("copilot-summary")).to_contain_text("Needs:")
    expect(copilot.get_by_test_id("copilot-summary")).to_contain_text(
        "Already tried: I tried that twice already")
    articles = copilot.get_by_test_id("copilot-articles").locator("li")
    expect(articles).to_have_count(3)
    expect(articles.first).to_contain_text("Reset your password")
    draft = page.get_by_test_id("copilot-draft")
    expect(draft).to_have_value(re.compile(r"^Hi Casey,"))
    expect(draft).to_have_value(re.compile(r"\[1\]"))
    screenshot(page, "copilot-ticket")

    # The agent puts a second article's link in, then writes their own opening.
    second_title = articles.nth(1).locator("a").first.inner_text()
    articles.nth(1).get_by_role("button", name="Insert link").click()
    expect(draft).to_have_value(re.compile(re.escape(second_title) + r": http"))
    edited = draft.input_value().replace("Hi Casey,", "Hi Casey, sorry it took us a while.", 1)
    draft.fill(edited)
    page.get_by_role("button", name="Send reviewed reply").click()
    expect(page.get_by_text("Reply sent to the customer.")).to_be_visible()
    expect(page.locator(".thread")).to_contain_text("sorry it took us a while")
    sign_out(page)

    db.session.expire_all()
    row = db.session.scalar(select(CopilotDraft).where(CopilotDraft.ticket_id == chat_ticket.id))
    assert row is not None and row.outcome == "edited"

    sign_in(page, live_server, customer)
    page.goto(f"{live_server}/tickets/{chat_ticket.number}")
    expect(page.locator(".thread")).to_contain_text("sorry it took us a while")
    expect(page.get_by_test_id("copilot")).to_have_count(0)


@pytest.fixture
def app_overrides():
    # The solved ticket is indexed by the hook in its own request.
    return {"COPILOT_BACKGROUND": "inline"}


def test_similar_solved_ticket_becomes_an_article(page, live_server, make_user, solved, asking):
    from portal.accounts.models import Role

    sign_in(page, live_server, make_user(Role.ADMIN))
    page.goto(f"{live_server}/tickets/{asking.number}")
    found = page.get_by_test_id("copilot-similar").locator("li")
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text(f"#{solved.number} Password reset email never arrives")
    found.first.get_by_text("The reply that solved it").click()
    expect(found.first).to_contain_text("Add noreply@hearthly.example to your contacts")
    screenshot(page, "copilot-similar")

    found.first.get_by_role("link", name="Make this an article").click()
    expect(page).to_have_url(re.compile(r"/kb/editor/new\?"))
    expect(page.locator("#title")).to_have_value("Password reset email never arrives")
    expect(page.locator("#body")).to_have_value(re.compile(r"^The reset email is often filed"))
    expect(page.locator("#body")).not_to_have_value(re.compile("Casey"))
