"""The KB in a real browser: typo-tolerant search as you type, voting, editing then finding."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Role
from portal.kb import sync
from tests.conftest import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("start", ["/kb/search", "/kb"])
def test_typing_a_query_with_a_typo_shows_highlighted_results(demo_kb, live_server, page,
                                                              start):
    page.goto(f"{live_server}{start}")
    page.locator("#q").press_sequentially("pasword reset", delay=30)
    first = page.locator(".kb-hit").first
    first.wait_for()
    marked = [m.lower() for m in first.locator("mark").all_inner_texts()]
    assert "password" in marked, marked
    assert "q=pasword" in page.url  # the address follows, so the results can be shared
    first.locator("a").click()
    page.wait_for_url(re.compile(r"/kb/[a-z0-9-]+$"))
    assert page.locator("h1").inner_text()


def test_voting_on_an_article(demo_kb, live_server, page):
    page.goto(f"{live_server}/kb/reset-password")
    page.fill("#vote-comment", "Clear steps, thanks")
    page.get_by_role("button", name="Yes").click()
    page.get_by_text("Thanks for your feedback").wait_for()
    page.reload()
    assert page.get_by_text("Thanks for your feedback").is_visible()
    assert page.get_by_role("button", name="Yes").count() == 0


def test_editor_edits_an_article_and_finds_the_new_text(demo_kb, live_server, page, make_user):
    editor = make_user(Role.EDITOR)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", editor.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    page.goto(f"{live_server}/kb/editor/reset-password/edit")
    body = page.locator("#body")
    body.click()
    body.press("Control+End")
    body.press_sequentially("\n\nStill stuck? Try the marmalade checklist.", delay=5)
    page.locator("#preview").get_by_text("marmalade checklist").wait_for()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("It is live in search now").wait_for()
    page.goto(f"{live_server}/kb/search")
    page.locator("#q").press_sequentially("marmalade", delay=30)
    hit = page.locator(".kb-hit").first
    hit.wait_for()
    assert "Reset your password" in hit.inner_text()
    assert hit.locator("mark").first.inner_text().lower() == "marmalade"


@pytest.fixture
def demo_kb_by_meaning(app, content_dir: Path) -> Path:
    """The demo KB with the chatbot's passages too: questions are searched by meaning."""
    app.config["CONTENT_DIR"] = str(content_dir)
    report = sync.sync_content(content_dir, chunks=True, wait=True)
    assert report.added and not report.errors
    return content_dir


@pytest.mark.parametrize(("typed", "slug"), [
    ("how do I cancel my subscription", "cancel-subscription"),
    ("pasword reset", "reset-password"),
])
def test_a_question_or_a_typo_in_the_search_box_finds_its_article_first(
    demo_kb_by_meaning, live_server, page, typed, slug
):
    page.goto(f"{live_server}/kb")
    page.locator("#q").press_sequentially(typed, delay=20)
    first = page.locator(".kb-hit").first
    expect(first.locator(".kb-hit-title")).to_have_attribute(
        "href", re.compile(rf"slug={slug}\b"))
    first.locator(".kb-hit-title").click()
    page.wait_for_url(re.compile(rf"/kb/{slug}(#[a-z0-9-]+)?$"))


@pytest.mark.parametrize(("typed", "slug"), [
    ("My thermostat went offline after we changed the router", "thermostat-offline-wifi"),
    ("pasword reset", "reset-password"),
])
def test_the_new_ticket_subject_suggests_the_right_article_first(
    demo_kb_by_meaning, live_server, page, typed, slug
):
    page.goto(f"{live_server}/tickets/new")
    page.locator("#subject").press_sequentially(typed, delay=15)
    suggestions = page.get_by_test_id("suggested-articles")
    expect(suggestions.locator("a").first).to_have_attribute(
        "href", re.compile(rf"^/kb/{slug}(#|$)"))
