"""A manager opens the dashboard in Chromium, filters it, and it renders charts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from portal.accounts.models import Role
from portal.events import EventKind, emit
from portal.extensions import db
from portal.metrics.synthetic import generate_events
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

FIRST = date(2025, 1, 1)


def sign_in_as_manager(page, base: str, make_user) -> None:
    manager = make_user(Role.MANAGER, password="manager-password-9")
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill("manager-password-9")
    page.get_by_role("button", name="Sign in").click()


def test_manager_sees_the_dashboard(page, live_server, make_user):
    for row in generate_events(first_day=FIRST, days=42, conversations_per_day=25, seed=3):
        emit(**row)
    db.session.commit()
    sign_in_as_manager(page, live_server, make_user)
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


def test_every_column_of_the_gap_tables_is_in_view(page, live_server, make_user):
    from portal.kb import services as kb_services
    from tests.conftest import REPO

    # Articles named by their titles (and slugs), as in the demo, not by slugs alone.
    kb_services.sync_content(str(REPO / "content"), chunks=False, wait=True)
    for row in generate_events(first_day=FIRST, days=14, conversations_per_day=25, seed=4):
        emit(**row)
    for slug in ("damaged-on-arrival", "room-zoning-vents"):  # long titles and slugs
        for n in range(4):
            emit(kind=EventKind.ARTICLE_VOTE, occurred_at=datetime(2025, 1, 3, 9 + n),
                 visitor_id=f"long{n}", article_slug=slug, category="general", helpful=False)
    quiet = FIRST + timedelta(days=14)
    for row in generate_events(first_day=quiet, days=7, conversations_per_day=2, seed=5,
                               start_ids=100_000):
        emit(**row)
    db.session.commit()
    sign_in_as_manager(page, live_server, make_user)
    page.goto(f"{live_server}/metrics?start={FIRST.isoformat()}&grain=day"
              f"&end={(FIRST + timedelta(days=20)).isoformat()}")
    unhelpful = page.locator("section", has=page.locator("#t-unhelpful"))
    assert unhelpful.locator("tbody tr").count() > 0
    hidden = page.evaluate("""() => [...document.querySelectorAll('.two-col .table-scroll')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.parentElement.id
            || e.parentElement.getAttribute('aria-labelledby'))""")
    assert hidden == []
    last_header = unhelpful.locator("thead th").last
    box, card = last_header.bounding_box(), unhelpful.bounding_box()
    assert box and card and box["x"] + box["width"] <= card["x"] + card["width"]
    # The last week has two chats a day: those days are grey, each with its count under it.
    rates = page.locator("figure", has_text="Deflection rate over time")
    assert rates.locator("text.basis").count() == 21
    assert rates.locator("text.basis.few").count() >= 7
    assert rates.locator("circle.dot.few").count() > 0
    xs = rates.locator("text.basis").evaluate_all("els => els.map(e => +e.getAttribute('x'))")
    assert xs == sorted(xs) and len(set(xs)) == 21 and max(xs) < 640  # one under each day
    screenshot(page, "metrics-few-chats-and-gaps")
    from tests.conftest import ARTIFACTS

    unhelpful.screenshot(path=str(ARTIFACTS / "metrics-unhelpful-table.png"))
    rates.screenshot(path=str(ARTIFACTS / "metrics-deflection-per-day.png"))


def test_the_dashboard_leads_to_the_team_without_agents(page, live_server, make_user):
    from playwright.sync_api import expect

    from portal.tickets import services as ticket_services

    ticket_services.create_team("general", "General Support", default=True)
    db.session.commit()
    sign_in_as_manager(page, live_server, make_user)
    page.goto(f"{live_server}/metrics")
    warning = page.get_by_test_id("unstaffed-team")
    expect(warning).to_contain_text("General Support has no agents")
    screenshot(page, "metrics-unstaffed-team")
    warning.get_by_role("link").click()
    expect(page.get_by_test_id("team-without-agents")).to_contain_text(
        "No agents in the default team")
    screenshot(page, "teams-without-agents")
