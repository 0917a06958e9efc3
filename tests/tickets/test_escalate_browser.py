"""In a real browser: an L1 agent escalates a ticket to L2; the reason is required."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Role
from portal.tickets import services
from tests.conftest import screenshot

from .conftest import fresh
from .test_browser import sign_in

pytestmark = pytest.mark.browser


def test_escalate_a_ticket_from_l1_to_l2(page, live_server, make_user, new_ticket) -> None:
    services.create_team("technical", "Technical", assignment="round_robin", default=True)
    first = make_user(Role.AGENT, name="Lou Level-One")
    second = make_user(Role.AGENT, name="Tam Level-Two")
    services.set_membership(first.id, "technical", "L1")
    services.set_membership(second.id, "technical", "L2")
    ticket = new_ticket(make_user(Role.CUSTOMER), subject="Hub reboots every hour")

    sign_in(page, live_server, first)
    page.goto(f"{live_server}/tickets/queue")
    row = page.locator(f"tr[data-number='{ticket.number}']")
    expect(row).to_contain_text("Technical")
    expect(row).to_contain_text("L1")
    page.get_by_role("link", name=f"#{ticket.number}").click()
    expect(page.get_by_test_id("tier")).to_have_text("L1")
    expect(page.get_by_test_id("assignee")).to_have_text("Lou Level-One")

    # Without a reason the panel says what is missing and nothing moves.
    page.get_by_role("button", name="Escalate to L2").click()
    expect(page.locator("#escalate-error")).to_have_text(
        "Please give a reason for escalating: what was tried, and why the next tier is needed.")
    expect(page.get_by_test_id("tier")).to_have_text("L1")

    page.fill("#escalate-reason", "Reboot loop survives a factory reset; needs hub logs.")
    page.get_by_role("button", name="Escalate to L2").click()
    expect(page.get_by_test_id("tier")).to_have_text("L2")
    expect(page.get_by_test_id("assignee")).to_have_text("Tam Level-Two")
    expect(page.locator(".message.note")).to_contain_text(
        "Escalated from L1 to L2: Reboot loop survives a factory reset")
    expect(page.locator(".audit")).to_contain_text(
        "escalated tier L1 → L2: “Reboot loop survives a factory reset; needs hub logs.”")
    expect(page.get_by_role("button", name="Escalate to L3")).to_be_visible()
    screenshot(page, "tickets-escalated-to-l2")
    assert fresh(ticket.number).tier == 2
