"""Escalation to the next tier (by an agent, by the SLA sweep), teams in the queue, team admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.events import Event
from portal.extensions import db
from portal.tickets import services
from portal.tickets.models import TicketAudit
from portal.tickets.services import TicketError

from .conftest import actor, fresh


@pytest.fixture
def technical(app, make_user):
    """A round-robin team with one L1 and one L2 agent."""
    services.create_team("technical", "Technical", assignment="round_robin", default=True)
    first = make_user(Role.AGENT, name="Lou Level-One")
    second = make_user(Role.AGENT, name="Tam Level-Two")
    services.set_membership(first.id, "technical", "L1")
    services.set_membership(second.id, "technical", "L2")
    return first, second


def audit_of(ticket_id: int, action: str) -> list[TicketAudit]:
    return list(db.session.scalars(select(TicketAudit).where(
        TicketAudit.ticket_id == ticket_id, TicketAudit.action == action)))


def test_escalate_moves_to_the_next_tier_with_the_reason_in_the_history(
        technical, new_ticket, customer) -> None:
    level_one, level_two = technical
    ticket = new_ticket(customer)
    assert (ticket.tier, ticket.assignee_id) == (1, level_one.id)
    services.escalate(ticket.id, "Firmware bug, needs logs from the hub.",
                      actor=actor(level_one))
    ticket = fresh(ticket.number)
    # Lou works L1 only, so the team hands the ticket to its next L2 agent.
    assert (ticket.tier, ticket.assignee_id) == (2, level_two.id)
    (entry,) = audit_of(ticket.id, "escalated_tier")
    assert (entry.old_value, entry.new_value, entry.actor_name) == ("L1", "L2", "Lou Level-One")
    assert entry.detail == {"reason": "Firmware bug, needs logs from the hub.", "by": "agent"}
    notes = services.thread(ticket, include_notes=True)
    assert notes[-1].body == "Escalated from L1 to L2: Firmware bug, needs logs from the hub."
    assert services.thread(ticket, include_notes=False) == []  # never shown to the customer
    kinds = [e.kind for e in db.session.scalars(select(Event).order_by(Event.id))]
    assert "ticket_escalated" in kinds and "ticket_assigned" in kinds


def test_escalating_needs_a_reason_an_agent_and_a_higher_tier(technical, new_ticket,
                                                              customer) -> None:
    level_one, _ = technical
    ticket = new_ticket(customer)
    with pytest.raises(TicketError, match="Please give a reason"):
        services.escalate(ticket.id, "   \n ", actor=actor(level_one))
    with pytest.raises(TicketError, match="Only agents"):
        services.escalate(ticket.id, "I want a manager", actor=actor(customer))
    for reason in ("to L2", "to L3"):
        services.escalate(ticket.id, reason, actor=actor(level_one))
    with pytest.raises(TicketError, match="already at L3, the top tier"):
        services.escalate(ticket.id, "even higher", actor=actor(level_one))
    assert fresh(ticket.number).tier == 3
    services.change_status(ticket.id, "solved", actor=actor(level_one))
    with pytest.raises(TicketError, match="solved ticket cannot be escalated"):
        services.escalate(ticket.id, "again", actor=actor(level_one))


# --- the agent page -----------------------------------------------------------------------


def test_the_escalate_form_on_the_agent_page(technical, new_ticket, customer, client, login):
    level_one, _ = technical
    ticket = new_ticket(customer)
    login(level_one)
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert 'data-testid="team">Technical<' in page and 'data-testid="tier">L1<' in page
    assert "Escalate to L2" in page
    response = client.post(f"/tickets/{ticket.number}/escalate",
                           data={"reason": "Needs a specialist", "from_tier": "1"},
                           headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert 'data-testid="tier">L2<' in html and "Escalated to L2" in html
    assert "Escalated from L1 to L2: Needs a specialist" in html  # the history and the note


def test_a_forged_escalation_without_a_reason_is_refused(technical, new_ticket, customer,
                                                         client, login) -> None:
    level_one, _ = technical
    ticket = new_ticket(customer)
    login(level_one)
    response = client.post(f"/tickets/{ticket.number}/escalate", data={"from_tier": "1"})
    assert response.status_code == 422
    assert "Please give a reason for escalating" in response.get_data(as_text=True)
    assert fresh(ticket.number).tier == 1
    # What the agent typed is kept when something else goes wrong (here: a stale tier).
    services.escalate(ticket.id, "someone else first", actor=actor(level_one))
    stale = client.post(f"/tickets/{ticket.number}/escalate",
                        data={"reason": "my careful reason", "from_tier": "1"})
    assert stale.status_code == 409
    text = stale.get_data(as_text=True)
    assert "Someone else moved this ticket to L2" in text and "my careful reason" in text
    assert fresh(ticket.number).tier == 2


def test_customers_and_forged_posts_cannot_escalate(technical, new_ticket, customer, client,
                                                   login, make_user) -> None:
    ticket = new_ticket(customer)
    login(customer)
    refused = client.post(f"/tickets/{ticket.number}/escalate",
                          data={"reason": "Please hurry", "from_tier": "1"})
    assert refused.status_code == 403
    client.post("/logout")
    login(technical[0])
    no_token = client.post(f"/tickets/{ticket.number}/escalate",
                           data={"reason": "r", "from_tier": "1"}, csrf=False)
    assert no_token.status_code == 400
    assert fresh(ticket.number).tier == 1


def test_escalating_past_the_top_tier_shows_a_message(technical, new_ticket, customer, client,
                                                      login) -> None:
    level_one, _ = technical
    ticket = new_ticket(customer)
    for reason in ("one", "two"):
        services.escalate(ticket.id, reason, actor=actor(level_one))
    login(level_one)
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "L3 is the top tier" in page and "Escalate to" not in page
    forged = client.post(f"/tickets/{ticket.number}/escalate",
                         data={"reason": "more", "from_tier": "3"})
    assert forged.status_code == 422
    assert "already at L3, the top tier" in forged.get_data(as_text=True)
    assert fresh(ticket.number).tier == 3


# --- the SLA sweep follows the same path ---------------------------------------------------


def test_sla_breach_escalates_to_the_next_tier(technical, new_ticket, customer) -> None:
    level_one, level_two = technical
    ticket = new_ticket(customer, priority="normal")
    report = services.sweep_slas(now=utcnow() + timedelta(hours=9))
    assert report.escalated == 1
    ticket = fresh(ticket.number)
    assert (ticket.tier, ticket.priority, ticket.assignee_id) == (2, "high", level_two.id)
    (entry,) = audit_of(ticket.id, "escalated_tier")
    assert entry.actor_name == "SLA sweep" and entry.detail["by"] == "sla"
    assert entry.detail["reason"] == "SLA breached (first response target missed)."
    # A second breach (resolution) moves it on to L3; after that only the priority rises.
    services.sweep_slas(now=utcnow() + timedelta(days=4))
    assert fresh(ticket.number).tier == 3


# --- teams in the queue and on the team page ---------------------------------------------


def test_queue_filters_by_team_and_tier(app, technical, new_ticket, customer, client, login):
    billing = services.create_team("billing", "Billing")
    level_one, _ = technical
    ours = new_ticket(customer, subject="Wifi drops")
    theirs = new_ticket(customer, subject="Cannot sign in")
    services.move_team(theirs.id, billing.id, actor=actor(level_one))
    services.escalate(ours.id, "needs L2", actor=actor(level_one))
    login(level_one)
    technical_id = next(t.id for t in services.list_teams() if t.slug == "technical")
    page = client.get(f"/tickets/queue?team={technical_id}").get_data(as_text=True)
    assert "Wifi drops" in page and "Cannot sign in" not in page
    assert "Technical <span class=\"tier\">L2</span>" in page
    page = client.get(f"/tickets/queue?team={billing.id}&tier=1").get_data(as_text=True)
    assert "Cannot sign in" in page and "Wifi drops" not in page
    assert "Wifi drops" not in client.get("/tickets/queue?tier=1").get_data(as_text=True)
    # Nonsense filters are ignored rather than failing.
    assert client.get("/tickets/queue?team=drop%20table&tier=9").status_code == 200


def test_moving_a_ticket_to_another_team(technical, new_ticket, customer, client, login):
    billing = services.create_team("billing", "Billing")
    level_one, _ = technical
    ticket = new_ticket(customer)
    login(level_one)
    response = client.post(f"/tickets/{ticket.number}/team", data={"team_id": str(billing.id)})
    assert response.status_code == 302
    moved = fresh(ticket.number)
    # Lou belongs to Technical: the ticket leaves them for Billing's queue.
    assert (moved.team_id, moved.assignee_id) == (billing.id, None)
    (entry,) = audit_of(ticket.id, "team")
    assert (entry.old_value, entry.new_value) == ("Technical", "Billing")
    bad = client.post(f"/tickets/{ticket.number}/team", data={"team_id": "999"})
    assert bad.status_code == 422 and "Choose a team" in bad.get_data(as_text=True)


def test_the_teams_page_creates_teams_and_places_agents(app, client, login_as, make_user):
    agent = make_user(Role.AGENT, name="Ned New")
    login_as(Role.MANAGER)
    assert client.post("/tickets/teams", data={"slug": "billing", "name": "Billing",
                                               "assignment": "least_loaded"}).status_code == 302
    bad = client.post("/tickets/teams", data={"slug": "Bad Slug!", "name": "X"})
    assert bad.status_code == 422 and "lower-case letters" in bad.get_data(as_text=True)
    duplicate = client.post("/tickets/teams", data={"slug": "billing", "name": "Again"})
    assert "already exists" in duplicate.get_data(as_text=True)
    client.post("/tickets/teams/members", data={"user_id": str(agent.id), "team": "billing",
                                                "tier": "L2"})
    page = client.get("/tickets/teams").get_data(as_text=True)
    assert "Ned New" in page and "default team" in page and "L2" in page
    wrong_tier = client.post("/tickets/teams/members", data={"user_id": str(agent.id),
                                                             "team": "billing", "tier": "L9"})
    assert "Tier must be one of: L1, L2, L3." in wrong_tier.get_data(as_text=True)
    customer = make_user(Role.CUSTOMER)
    not_agent = client.post("/tickets/teams/members", data={"user_id": str(customer.id),
                                                            "team": "billing", "tier": "L1"})
    assert "Only agents" in not_agent.get_data(as_text=True)


def test_agents_cannot_manage_teams(app, client, login_as) -> None:
    login_as(Role.AGENT)
    assert client.get("/tickets/teams").status_code == 403
    assert client.post("/tickets/teams", data={"slug": "x", "name": "X"}).status_code == 403


def test_a_team_slug_with_a_newline_is_refused_by_the_form_and_the_command(
        app, client, login_as, runner) -> None:
    # Python's "$" matches before a final newline, so "billing\n" once passed as a slug.
    login_as(Role.MANAGER)
    for slug in ("billing\n", "bill\ning"):
        response = client.post("/tickets/teams", data={"slug": slug, "name": "Billing"})
        assert response.status_code == 422
        assert "lower-case letters, digits and hyphens" in response.get_data(as_text=True)
        result = runner.invoke(args=["tickets", "teams", "create", slug, "Billing"])
        assert result.exit_code != 0 and "lower-case letters" in result.output
    assert services.list_teams() == []


def test_odd_numbers_in_the_team_forms_get_a_message(app, technical, new_ticket, customer,
                                                     client, login, login_as) -> None:
    ticket = new_ticket(customer)
    login(technical[0])
    for team_id in ("9" * 50, "9" * 20, "²", "-1"):
        moved = client.post(f"/tickets/{ticket.number}/team", data={"team_id": team_id})
        assert moved.status_code == 422, team_id
        assert "Choose a team from the list." in moved.get_data(as_text=True)
    client.post("/logout")
    login_as(Role.MANAGER)
    for user_id in ("9" * 50, "9" * 20, "²", "١٢٣"):
        placed = client.post("/tickets/teams/members",
                             data={"user_id": user_id, "team": "technical", "tier": "L1"})
        assert placed.status_code == 422, user_id
        assert "Choose an agent from the list." in placed.get_data(as_text=True)


def test_team_commands(app, runner, make_user) -> None:
    agent = make_user(Role.AGENT, email="cli-agent@example.com")
    result = runner.invoke(args=["tickets", "teams", "create", "technical", "Technical",
                                 "--assignment", "round-robin"])
    assert result.exit_code == 0 and "(default)" in result.output
    result = runner.invoke(args=["tickets", "teams", "add-agent", agent.email, "technical",
                                 "--tier", "L2"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["tickets", "teams", "list"]).output
    assert "technical: Technical (default), new tickets round_robin" in listing
    assert "L2  cli-agent@example.com" in listing
    bad = runner.invoke(args=["tickets", "teams", "add-agent", agent.email, "nope"])
    assert bad.exit_code != 0 and "There is no team called “nope”" in bad.output


def test_routed_and_escalated_tickets_are_announced_to_their_agent(app, technical, new_ticket,
                                                                   customer, clean_outbox):
    from .conftest import outbox_messages

    level_one, level_two = technical
    ticket = new_ticket(customer, subject="Pairing fails")
    services.escalate(ticket.id, "Needs radio logs", actor=actor(level_one))
    mails = outbox_messages(app)
    assert any(level_one.email in m and "Routing assigned ticket" in m and "(L1)" in m
               for m in mails)
    assert any(level_two.email in m and "Lou Level-One (escalation) assigned" in m
               and "(L2)" in m for m in mails)
