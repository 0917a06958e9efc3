"""A manager reviews three sampled answers in Chromium and sees the dashboard's figures change."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.accounts.models import Role
from portal.clock import utcnow
from tests.conftest import screenshot
from tests.metrics.review_scenario import seed_answers

pytestmark = pytest.mark.browser


def test_manager_reviews_three_answers_and_the_dashboard_changes(page, live_server, make_user):
    seed_answers((utcnow() - timedelta(days=2)).replace(microsecond=0))
    manager = make_user(Role.MANAGER, password="manager-password-9")
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill("manager-password-9")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Metrics").click()

    panel = page.locator(".review-figures")
    assert "No assumed resolution in this period has been reviewed yet" in panel.inner_text()
    assert page.locator("[data-figure=deflection_rate] .tile-value").inner_text() == "75.0%"
    panel.get_by_role("link", name="Review answers").click()
    page.get_by_role("heading", name="Answer review", level=1).wait_for()
    assert page.get_by_text("Assumed resolved: 0 of 10 reviewed").is_visible()

    for verdict in ("Right", "Wrong", "Right"):
        item = page.locator(".review-item", has_text="Assumed resolved").first
        number = item.get_attribute("data-conversation")
        assert "How do I sort out" in item.locator(".review-question").inner_text()
        assert item.get_by_role("link", name="Fix this article").count() == 1
        item.get_by_label(verdict, exact=True).check()
        if verdict == "Wrong":
            item.get_by_label("Note (optional)").fill("Cites the wrong article")
        item.get_by_role("button", name="Save verdict").click()
        page.get_by_text(f"Conversation #{number} marked {verdict.lower()}.").wait_for()
        assert page.locator(f"#review-{number}").count() == 0
    assert page.get_by_text("Assumed resolved: 3 of 10 reviewed").is_visible()
    screenshot(page, "metrics-review")

    page.get_by_role("link", name="the dashboard").click()
    panel = page.locator(".review-figures")
    panel.wait_for()
    # 2 of 3 reviewed assumed resolutions right: (2 + 10 × 2/3) ÷ 16 = 54.2%.
    assert panel.locator("[data-figure=review_precision] strong").inner_text() == "66.7%"
    assert panel.locator("[data-figure=corrected_rate] strong").inner_text() == "54.2%"
    assert panel.locator("[data-figure=review_count] strong").inner_text() == "3"
    wrong = page.locator("section[aria-labelledby=t-wrong_articles]")
    assert wrong.get_by_role("link").first.get_attribute("href", timeout=2000).startswith(
        "/kb/editor/")
    screenshot(page, "metrics-dashboard-reviewed")
