"""Routing rules: the language, bad rule files, loops, teams, assignment and the preview."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.extensions import db
from portal.tickets import routing, services
from portal.tickets.models import RoutingRuleSet, Team, TicketAudit

GOOD_RULES = """\
rules:
  - name: Billing words
    when:
      keywords: [invoice, refund]
    then:
      team: billing

  - name: VIP customers
    when:
      requester: "@bigcorp.example"
    then:
      priority: high
      tag: vip

  - name: High priority starts at L2
    when:
      priority: high
    then:
      tier: L2
"""


@pytest.fixture
def rules_file(tmp_path) -> Path:
    return tmp_path / "routing.yml"


@pytest.fixture
def app_overrides(rules_file) -> dict[str, str]:
    return {"ROUTING_FILE": str(rules_file)}


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # A rewrite within the same clock tick must still be noticed.
    stamp = path.stat().st_mtime_ns + 1_000_000_000 * (1 + int(path.stat().st_size % 7))
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def teams(app):
    services.create_team("general", "General Support", default=True)
    services.create_team("billing", "Billing")
    services.create_team("technical", "Technical")


def file_ticket(new_ticket, customer=None, **fields):
    return new_ticket(customer, **fields)


def facts(subject="", description="", category=None, source="form",
          email="someone@example.com", priority="normal") -> routing.TicketFacts:
    return routing.TicketFacts(subject, description, category, source, email, priority)


# --- the language -----------------------------------------------------------------------


def test_rules_apply_in_order_and_conditions_see_earlier_changes() -> None:
    rules = routing.parse_rules(GOOD_RULES).rules
    decision = routing.evaluate(rules, facts("Refund please", email="amy@bigcorp.example"))
    # VIP raised the priority, so the rule after it (testing priority) fired too.
    assert decision.fired == ("Billing words", "VIP customers", "High priority starts at L2")
    assert decision.state == routing.RoutingState(team="billing", tier=2, priority="high",
                                                  tags=("vip",))
    assert routing.evaluate(rules, facts("Hello")).fired == ()


def test_a_later_rule_overrides_an_earlier_one_and_stop_ends_routing() -> None:
    rules = routing.parse_rules("""
rules:
  - name: Everything to general
    then: {team: general}
  - name: Devices
    when: {category: troubleshooting}
    then: {team: technical}
    stop: true
  - name: Never reached for devices
    then: {tag: late}
""").rules
    assert routing.evaluate(rules, facts("x", category="troubleshooting")).state == \
        routing.RoutingState(team="technical")
    assert routing.evaluate(rules, facts("x", category="billing")).state == \
        routing.RoutingState(team="general", tags=("late",))


def test_keywords_match_at_word_starts_and_requesters_by_address_or_domain() -> None:
    rules = routing.parse_rules("""
rules:
  - name: Refunds
    when: {keywords: refund, source: [email, chat]}
    then: {tag: refund}
  - name: One person
    when: {requester: boss@shop.example}
    then: {tag: boss}
  - name: Their domain
    when: {requester: "@shop.example"}
    then: {tag: shop}
""").rules
    assert routing.evaluate(rules, facts("REFUNDED twice", source="email")).state.tags == \
        ("refund",)
    assert routing.evaluate(rules, facts("prefund", source="email")).state.tags == ()
    assert routing.evaluate(rules, facts("refund", source="form")).state.tags == ()
    assert routing.evaluate(rules, facts("x", email="boss@shop.example")).state.tags == \
        ("boss", "shop")
    assert routing.evaluate(rules, facts("x", email="ann@eu.shop.example")).state.tags == \
        ("shop",)
    assert routing.evaluate(rules, facts("x", email="ann@notshop.example")).state.tags == ()


# --- bad rule files -------------------------------------------------------------------------


@pytest.mark.parametrize("text, line, message", [
    ("rules:\n  - name: A\n    then:\n      team: billing\n     tier: L2\n", 5,
     "not valid YAML"),
    ("rules:\n  - name: A\n    when:\n      categroy: billing\n    then: {team: billing}\n", 4,
     "unknown condition “categroy”"),
    ("rules:\n  - name: A\n    then:\n      team: billing\n      notify: boss\n", 5,
     "unknown action “notify”"),
    ("rules:\n  - name: A\n    then:\n      tier: L4\n", 4, "tier “L4” is not one of"),
    ("rules:\n  - name: A\n    when: {source: fax}\n    then: {team: billing}\n", 3,
     "source “fax” is not one of"),
    ("rules:\n  - name: A\n    when: {priority: [low, asap]}\n    then: {team: x}\n", 3,
     "priority “asap”"),
    ("rules:\n  - name: A\n    then: {assign: not-an-email}\n", 3, "not an email address"),
    ("rules:\n  - name: A\n    then: {team: billing}\n    stop: maybe\n", 4,
     "stop must be true or false"),
    ("rules:\n  - name: A\n    when: {category: billing}\n", 2, "has no “then:”"),
    ("rules:\n  - name: A\n    then: {team: a}\n  - name: A\n    then: {team: b}\n", 4,
     "two rules are called “A”"),
    ("rule:\n  - name: A\n", 1, "unknown top-level key “rule”"),
    ("rules:\n  - name: A\n    then:\n      tier: \"²\"\n", 4, "tier “²” is not one of"),
    ("rules:\n  - name: A\n    then: {team: a}\n    then: {team: b}\n", 4, "appears twice"),
])
def test_bad_rule_files_are_refused_with_the_line(text, line, message) -> None:
    with pytest.raises(routing.RuleFileError) as caught:
        routing.parse_rules(text)
    assert caught.value.line == line, str(caught.value)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"line {line}: ")


def test_a_broken_file_keeps_the_previous_rules_active(app, teams, rules_file, new_ticket,
                                                       customer) -> None:
    write(rules_file, GOOD_RULES)
    first = new_ticket(customer, subject="Where is my invoice?")
    assert first.team_id == services.list_teams()[0].id  # billing sorts first by name

    misindented = "      team: billing\n     tier: L2"
    write(rules_file, GOOD_RULES.replace("      team: billing", misindented))
    status = services.routing_status()
    assert status.error is not None and status.error.line == 7
    assert len(status.active.rules) == 3  # still the good ones
    second = new_ticket(customer, subject="Another invoice question")
    assert second.team_id == first.team_id

    # A restarted portal (nothing in memory) falls back to the rules kept in the database.
    app.extensions.pop("portal.routing")
    third = new_ticket(customer, subject="Refund for invoice 7")
    assert third.team_id == first.team_id
    assert db.session.scalar(select(db.func.count()).select_from(RoutingRuleSet)) == 1


def test_activating_a_changed_file_commits_nothing_of_the_callers(app, rules_file) -> None:
    # An email's log row and its ticket must commit together: routing may not commit early.
    write(rules_file, GOOD_RULES)
    db.session.add(Team(slug="half-done", name="Half done"))
    services.route(subject="invoice", description="", category=None, source="email",
                   requester_email="a@example.com", priority="normal", dry_run=True)
    db.session.rollback()
    assert services.list_teams() == []
    # The rolled-back rule set is saved again on the next look at the rules.
    assert len(services.routing_status().active.rules) == 3
    assert db.session.scalar(select(db.func.count()).select_from(RoutingRuleSet)) == 1


def test_the_routing_page_and_command_report_the_refused_file(app, teams, rules_file, client,
                                                              login_as, runner) -> None:
    write(rules_file, GOOD_RULES)
    services.routing_status()
    write(rules_file, "rules:\n  - name: A\n    then:\n      colour: red\n")
    login_as(Role.MANAGER)
    page = client.get("/tickets/routing").get_data(as_text=True)
    assert "line 4: unknown action “colour”" in page
    assert "previous rules stay active" in page and "Billing words" in page
    result = runner.invoke(args=["tickets", "routing"])
    assert result.exit_code == 1
    assert "line 4: unknown action" in result.output and "3 rule(s) active" in result.output


# --- loops ---------------------------------------------------------------------------------

LOOP = """\
rules:
  - name: Escalate high
    when: {priority: high}
    then: {priority: urgent}
  - name: Calm urgent
    when: {priority: urgent, keywords: printer}
    then: {priority: high}
"""


def test_a_rule_loop_is_detected_and_named() -> None:
    rules = routing.parse_rules(LOOP)
    decision = routing.evaluate(rules.rules, facts("printer jam", priority="high"))
    assert decision.loop == ("Escalate high", "Calm urgent")
    assert decision.state == routing.RoutingState(priority="high")  # nothing applied
    assert "“Escalate high” → “Calm urgent”" in decision.loop_message
    # Without the keyword the second rule never fires: no loop.
    calm = routing.evaluate(rules.rules, facts("scanner", priority="high"))
    assert calm.loop == () and calm.state.priority == "urgent"
    # Loading the file already warns that the two rules can feed each other.
    assert any("Possible rule loop" in warning for warning in rules.warnings)


def test_a_ticket_caught_in_a_loop_still_arrives_in_the_default_team(
        app, teams, rules_file, new_ticket, customer, client, login_as) -> None:
    write(rules_file, LOOP)
    ticket = new_ticket(customer, subject="printer on fire", priority="high")
    assert ticket.priority == "high" and "routing-loop" in ticket.tags
    default = next(team for team in services.list_teams() if team.is_default)
    assert ticket.team_id == default.id
    routed = db.session.scalar(select(TicketAudit).where(TicketAudit.action == "routed"))
    assert "Rule loop" in routed.detail["loop"]
    login_as(Role.MANAGER)
    page = client.get("/tickets/routing?preview=1&subject=printer&priority=high&source=form")
    assert "Rule loop" in page.get_data(as_text=True)
    assert "Possible rule loop" in client.get("/tickets/routing").get_data(as_text=True)


# --- teams and assignment ----------------------------------------------------------------


def test_unmatched_and_unknown_team_tickets_go_to_the_default_team(
        app, teams, rules_file, new_ticket, customer) -> None:
    write(rules_file, "rules:\n  - name: Ghost\n    when: {keywords: ghost}\n"
                      "    then: {team: no-such-team}\n")
    default = next(team for team in services.list_teams() if team.is_default)
    plain = new_ticket(customer, subject="Hello there")
    assert plain.team_id == default.id and plain.tier == 1
    ghost = new_ticket(customer, subject="A ghost in the machine")
    assert ghost.team_id == default.id
    routed = db.session.scalar(select(TicketAudit).where(
        TicketAudit.action == "routed", TicketAudit.ticket_id == ghost.id))
    assert "“no-such-team” does not exist" in routed.detail["notes"][0]


def test_every_source_is_routed(app, teams, rules_file, new_ticket) -> None:
    write(rules_file, "rules:\n  - name: Mail\n    when: {source: email}\n"
                      "    then: {team: technical, tag: mail}\n")
    mailed = new_ticket(None, subject="By mail", source="email")
    assert "mail" in mailed.tags
    assert services.get_ticket(mailed.number).team_id == next(
        t.id for t in services.list_teams() if t.slug == "technical")


def test_round_robin_and_least_loaded_assignment(app, teams, rules_file, new_ticket, customer,
                                                 make_user) -> None:
    write(rules_file, "rules:\n  - name: All to technical\n    then: {team: technical}\n")
    one, two, senior = (make_user(Role.AGENT) for _ in range(3))
    services.set_membership(one.id, "technical", "L1")
    services.set_membership(two.id, "technical", "L1")
    services.set_membership(senior.id, "technical", "L2")
    assert new_ticket(customer).assignee_id is None  # manual: the queue keeps it

    services.update_team("technical", assignment="round-robin")
    got = [new_ticket(customer).assignee_id for _ in range(3)]
    assert got == [one.id, two.id, one.id]  # L1 agents in turn; the L2 agent is not asked

    services.update_team("technical", assignment="least_loaded")
    # one holds 2 open tickets, two holds 1: two gets the next, then they are level (lower id).
    assert [new_ticket(customer).assignee_id for _ in range(2)] == [two.id, one.id]


def test_a_rule_can_assign_an_agent_and_an_unknown_agent_is_reported(
        app, teams, rules_file, new_ticket, customer, make_user) -> None:
    agent = make_user(Role.AGENT, email="pat@example.com")
    write(rules_file, "rules:\n  - name: Pat's\n    when: {keywords: pat}\n"
                      "    then: {assign: pat@example.com}\n"
                      "  - name: Nobody's\n    when: {keywords: ghost}\n"
                      "    then: {assign: ghost@example.com}\n")
    assert new_ticket(customer, subject="For pat").assignee_id == agent.id
    ghost = new_ticket(customer, subject="For ghost")
    assert ghost.assignee_id is None
    routed = db.session.scalar(select(TicketAudit).where(
        TicketAudit.action == "routed", TicketAudit.ticket_id == ghost.id))
    assert "ghost@example.com is not an active agent" in routed.detail["notes"][0]


# --- the preview ---------------------------------------------------------------------------


def test_the_preview_shows_the_rule_team_tier_priority_and_assignee(
        app, teams, rules_file, client, login_as, make_user) -> None:
    write(rules_file, GOOD_RULES)
    services.update_team("billing", assignment="round_robin")
    agent = make_user(Role.AGENT, name="Bea Billing")
    services.set_membership(agent.id, "billing", "L2")
    login_as(Role.MANAGER)
    response = client.get("/tickets/routing", query_string={
        "preview": "1", "subject": "Refund my invoice", "requester": "cfo@bigcorp.example",
        "source": "email", "priority": "normal"}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="route-preview"')  # the fragment for htmx
    assert "Billing words, VIP customers, High priority starts at L2" in html
    assert 'data-testid="route-team">Billing<' in html
    assert 'data-testid="route-tier">L2<' in html
    assert 'data-testid="route-priority">high<' in html
    assert "Bea Billing" in html
    # A preview changes nothing: no ticket, and round robin did not move.
    assert services.list_teams()[0].slug == "billing"
    assert db.session.scalar(select(db.func.count()).select_from(TicketAudit)) == 0
    again = client.get("/tickets/routing?preview=1&subject=invoice&priority=normal&source=form")
    assert "Bea Billing" not in again.get_data(as_text=True)  # L1 ticket, Bea works L2


def test_the_preview_refuses_bad_input_and_unauthorised_users(app, teams, rules_file, client,
                                                              login_as) -> None:
    write(rules_file, GOOD_RULES)
    login_as(Role.AGENT)
    assert client.get("/tickets/routing").status_code == 403
    client.post("/logout")
    login_as(Role.MANAGER)
    html = client.get("/tickets/routing?preview=1&source=fax&priority=asap").get_data(
        as_text=True)
    assert "Choose a source from the list." in html
    assert "Choose a priority from the list." in html
    assert "Type a subject or a description" in html


def test_route_preview_command(app, teams, rules_file, runner) -> None:
    write(rules_file, GOOD_RULES)
    result = runner.invoke(args=["tickets", "route-preview", "--subject", "refund",
                                 "--requester", "x@bigcorp.example"])
    assert result.exit_code == 0, result.output
    assert "Rules fired: Billing words, VIP customers, High priority starts at L2" in result.output
    assert "Team: Billing  Tier: L2  Priority: high" in result.output
