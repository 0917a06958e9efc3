"""Agent and team figures: hand-computed week, rollups agreeing, and the real services."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from portal.accounts.models import Role
from portal.events import Event, emit
from portal.extensions import db
from portal.metrics import queries, rollup
from portal.metrics.people_definitions import NOBODY, PeopleFigures, PeopleRow, compute_people
from portal.metrics.records import Period
from portal.metrics.synthetic import generate_events
from portal.tickets import services as tickets
from tests.metrics.people_scenario import at, expected_people, insert_people_scenario
from tests.metrics.scenario import EMPTY, PERIOD, PREVIOUS, all_records

A1, A2, A3 = 201, 202, 203
LONG = Period.of_days(date(2025, 2, 20), date(2025, 3, 15))


def test_the_definitions_give_the_hand_computed_figures(app) -> None:
    insert_people_scenario(A1, A2, A3)
    assert compute_people(all_records(), PERIOD) == expected_people(A1, A2, A3)


def test_rates_of_the_hand_computed_week(app) -> None:
    insert_people_scenario(A1, A2, A3)
    figures = compute_people(all_records(), PERIOD)
    agents = {row.key: row for row in figures.agents}
    assert agents[str(A1)].sla_attainment == pytest.approx(1 / 3)
    assert agents[str(A2)].sla_attainment == 1.0
    assert agents[NOBODY].sla_attainment is None  # nothing measured: shown as "—"
    teams = {row.key: row for row in figures.teams}
    assert teams["billing"].csat.average == pytest.approx(4.5)
    assert teams["technical"].csat.satisfied_rate == 0.0


def test_the_week_before_and_an_empty_week(app) -> None:
    insert_people_scenario(A1, A2, A3)
    before = compute_people(all_records(), PREVIOUS)
    agents = {row.key: row for row in before.agents}
    # Only ticket 54 existed: created for A2, given to A1 the same day, A1 replied in 2 h.
    assert agents[str(A1)] == PeopleRow(str(A1), open_load=1, responses=1,
                                          response_median=7200, sla_measured=1, sla_met=1)
    assert agents[str(A2)] == PeopleRow(str(A2), reassigned=1)
    assert compute_people(all_records(), EMPTY) == PeopleFigures()


@pytest.mark.parametrize("category", [None, "billing", "devices"])
def test_the_rollups_agree_with_the_definitions(app, category) -> None:
    insert_people_scenario(A1, A2, A3)
    rollup.refresh()
    events = all_records()
    for period in (PERIOD, PREVIOUS, EMPTY, LONG):
        assert queries.people(period, category) == compute_people(events, period, category), (
            period, category)
    if category is None:
        assert queries.people(PERIOD) == expected_people(A1, A2, A3)


def test_rollups_folded_in_two_batches_agree(app) -> None:
    # Half the week first: the later assignments must move load already counted.
    insert_people_scenario(A1, A2, A3)
    cut = at(5, 12)
    later = [e for e in db.session.scalars(db.select(Event)) if e.occurred_at >= cut]
    saved = [(e.kind, e.occurred_at, e.ticket_id, e.category, dict(e.data)) for e in later]
    for event in later:
        db.session.delete(event)
    db.session.commit()
    rollup.refresh()
    for kind, moment, ticket_id, category, data in saved:
        emit(kind, occurred_at=moment, ticket_id=ticket_id, category=category, **data)
    db.session.commit()
    rollup.refresh()
    assert queries.people(PERIOD) == expected_people(A1, A2, A3)


def test_the_dashboard_shows_the_agent_and_team_tables(app, client, make_user, login) -> None:
    manager = make_user(Role.MANAGER)
    people = [make_user(Role.AGENT, name=name) for name in ("Ann Able", "Bo Brisk", "Cy Calm")]
    tickets.create_team("billing", "Billing")
    tickets.create_team("technical", "Technical")
    insert_people_scenario(*(person.id for person in people))
    login(manager)
    page = client.get("/metrics?start=2025-03-03&end=2025-03-09").get_data(as_text=True)
    assert "By agent" in page and "By team" in page
    agents_table = page.split('id="t-agents"')[1].split("</table>")[0]
    # Cy Calm (A3) first: open load 2, solved 1, 24.0 h median, SLA 50.0%, CSAT 2.00 / 5.
    rows = agents_table.split("<tr>")[2:]
    assert "Cy Calm" in rows[0] and ">2<" in rows[0] and "50.0%" in rows[0]
    assert "2.00 / 5" in rows[0]
    assert "Ann Able" in rows[1] and "33.3%" in rows[1]
    assert "(unassigned)" in rows[2]
    teams_table = page.split('id="t-teams"')[1].split("</table>")[0]
    assert teams_table.index("Technical") < teams_table.index("Billing")
    assert "60.0%" in teams_table  # billing's SLA attainment: 3 of 5
    csv = client.get("/metrics/export/agents.csv?start=2025-03-03&end=2025-03-09")
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("agent,open load,solved,resolution median (hours)")
    assert lines[1].startswith("Cy Calm,2,1,24.0,")  # a day, in hours


def test_real_ticket_work_feeds_agent_figures_and_the_sla_tile(app, make_user) -> None:
    """Through the services: events carry team, agent and sla_met, so the figures fill in."""
    lead = make_user(Role.AGENT, name="Lee Lead")
    expert = make_user(Role.AGENT, name="Eve Expert")
    customer = make_user(Role.CUSTOMER)
    tickets.create_team("technical", "Technical", assignment="round_robin")
    tickets.set_membership(lead.id, "technical", "L1")
    tickets.set_membership(expert.id, "technical", "L2")
    first = tickets.create_ticket(subject="Thermostat offline", description="It lost wifi.",
                                  requester_id=customer.id, requester_email=None,
                                  category="troubleshooting")
    second = tickets.create_ticket(subject="Firmware stuck", description="Update hangs.",
                                   requester_id=customer.id, requester_email=None)
    one, two = tickets.get_ticket(first.number), tickets.get_ticket(second.number)
    assert one.assignee_id == lead.id and two.assignee_id == lead.id  # the only L1 agent
    tickets.reply(one.id, "Please restart the hub.", actor=tickets.Actor.of(lead))
    tickets.change_status(one.id, "solved", actor=tickets.Actor.of(lead))
    tickets.rate(one.id, 5, "", actor=tickets.Actor(customer.id, customer.name))
    tickets.escalate(two.id, "Needs firmware logs", actor=tickets.Actor.of(lead))
    # The services stamp events "now": move them into yesterday so the period is whole days.
    yesterday = datetime.combine(date.today() - timedelta(days=1), datetime.min.time())
    for event in db.session.scalars(db.select(Event)):
        event.occurred_at = yesterday + (event.occurred_at - event.occurred_at.replace(
            hour=0, minute=0, second=0, microsecond=0)) / 2
    db.session.commit()
    rollup.refresh()
    period = Period.of_days(yesterday.date(), yesterday.date())
    figures = queries.people(period)
    assert figures == compute_people(all_records(), period)
    agents = {row.key: row for row in figures.agents}
    assert agents[str(lead.id)].solved == 1 and agents[str(lead.id)].responses == 1
    assert agents[str(lead.id)].sla_attainment == 1.0
    assert agents[str(lead.id)].csat.average == 5.0
    assert agents[str(lead.id)].reassigned == 1  # the escalation took ticket two away
    assert agents[str(expert.id)].open_load == 1
    assert {row.key for row in figures.teams} == {"technical"}
    report = queries.report(period)
    assert report.tickets.sla_measured == 2 and report.tickets.sla_attainment == 1.0


def test_rollups_agree_on_generated_activity(app) -> None:
    first = date(2025, 1, 1)
    for row in generate_events(first_day=first, days=21, conversations_per_day=12, seed=7,
                               extra_tickets_per_day=3):
        emit(**row)
    db.session.commit()
    rollup.refresh()
    events = all_records()
    assert any(e.kind == "ticket_assigned" for e in events)
    for period in (Period.of_days(first, first + timedelta(days=20)),
                   Period.of_days(first + timedelta(days=7), first + timedelta(days=13))):
        for category in (None, "billing", "devices"):
            expected = compute_people(events, period, category)
            assert expected.agents, (period, category)
            assert queries.people(period, category) == expected, (period, category)
