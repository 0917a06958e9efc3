"""A manager opens the dashboard in Chromium, filters it, and it renders charts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.accounts.models import Role
from portal.events import emit
from portal.extensions import db
from portal.metrics.synthetic import generate_events
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

FIRST = date(2025, 1, 1)


def test_manager_sees_the_dashboard(page, live_server, make_user):
    for row in generate_events(first_day=FIRST, days=42, conversations_per_day=25, seed=3):
        emit(**row)
    db.session.commit()
    manager = make_user(Role.MANAGER, password="manager-password-9")
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill("manager-password-9")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Metrics").click()

    last = FIRST + timedelta(days=27)
    page.get_by_label("From", exact=True).fill((FIRST + timedelta(days=14)).isoformat())
    page.get_by_label("To", exact=True).fill(last.isoformat())
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("15 Jan 2025 – 28 Jan 2025").wait_for()
    assert page.locator("svg.chart").count() == 4
    assert page.locator("[data-figure=deflection_rate] .tile-value").inner_text().endswith("%")
    tile = page.locator("[data-figure=deflection_rate]")
    assert "confirmed + assumed" in (tile.get_attribute("title") or "")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # let the "Updating…" indicator fade out
    screenshot(page, "metrics-dashboard")

    page.get_by_label("Category", exact=True).select_option("billing")
    page.get_by_text("category “Billing and plans”").wait_for()
    assert "category=billing" in page.url
