"""A newcomer registers, signs in, sees their role's navigation and signs out, in Chromium."""

from __future__ import annotations

import pytest

from portal.accounts.models import Role
from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_register_sign_in_navigation_sign_out(page, live_server):
    page.goto(f"{live_server}/register")
    page.get_by_label("Your name").fill("Jordan Browser")
    page.get_by_label("Email").fill("jordan@example.com")
    page.get_by_label("Password", exact=True).fill("cosy-living-room-4")
    page.get_by_label("Repeat password").fill("cosy-living-room-4")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_server}/")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="My tickets").is_visible()
    assert nav.get_by_role("link", name="Queue").count() == 0

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()
    page.get_by_label("Email").fill("jordan@example.com")
    page.get_by_label("Password").fill("cosy-living-room-4")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Welcome back, Jordan Browser.").wait_for()
    screenshot(page, "account-signed-in")
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("link", name="Sign in").is_visible()


def test_agent_sees_the_queue_in_navigation(page, live_server, make_user):
    agent = make_user(Role.AGENT, password="agent-password-77")
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill("agent-password-77")
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Queue").wait_for()
    assert nav.get_by_role("link", name="My tickets").count() == 0
    screenshot(page, "agent-navigation")


def test_wrong_password_shows_the_error_next_to_the_field(page, live_server, make_user):
    user = make_user(password="lovely-garden-7")
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_text("That email and password do not match an account.")
    error.wait_for()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
