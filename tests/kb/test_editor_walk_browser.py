"""The editor's pages in a real browser: the slug check Chrome runs, the content-gap report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db
from tests.chat.test_browser import sign_in
from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_chrome_checks_the_slug_pattern(page, live_server, make_user):
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    sign_in(page, live_server, make_user(Role.EDITOR))
    page.goto(live_server + "/kb/editor/new")
    slug = page.locator("#slug")
    slug.fill("Not A Slug!")
    assert slug.evaluate("e => e.validity.patternMismatch") is True
    slug.fill("a-good-slug-2")
    assert slug.evaluate("e => e.validity.valid") is True
    assert not [p for p in problems if "pattern" in p.lower()], problems


def test_editor_opens_a_gap_and_lands_in_the_editor(page, live_server, make_user, demo_kb):
    recently = utcnow() - timedelta(days=1)
    for n in range(2):
        emit(EventKind.SEARCH, occurred_at=recently, visitor_id=f"v{n}",
             query="pair the thermostat with solar", results=0, search_id=f"g{n}", source="kb")
    emit(EventKind.ARTICLE_VOTE, occurred_at=recently, visitor_id="v7",
         article_slug="reset-password", category="account", helpful=False)
    db.session.commit()
    sign_in(page, live_server, make_user(Role.EDITOR))
    page.goto(live_server + "/kb/editor")
    page.get_by_role("link", name="Content gaps").click()
    failed = page.locator("#failed-searches").locator("xpath=..")
    expect(failed).to_contain_text("pair the thermostat with solar")
    expect(page.locator("section", has=page.locator("#unhelpful"))).to_contain_text(
        "Reset your password")
    screenshot(page, "editor-content-gaps")
    failed.get_by_role("link", name="Write one").click()
    expect(page.locator("#title")).to_have_value("pair the thermostat with solar")
