"""The manager dashboard: access, figures agreeing with the definitions, filters, exports."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from portal.accounts.models import Role
from portal.events import EventKind, emit
from portal.extensions import db
from tests.metrics.scenario import insert_scenario

WEEK = {"start": "2025-03-03", "end": "2025-03-09"}


@pytest.fixture
def manager(login_as):
    return login_as(Role.MANAGER)


def test_customers_and_agents_are_refused(client, login_as) -> None:
    assert client.get("/metrics").status_code == 302  # to the sign-in page
    login_as(Role.AGENT)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics/export/kpis.csv").status_code == 403


def test_admin_passes(client, login_as) -> None:
    login_as(Role.ADMIN)
    assert client.get("/metrics").status_code == 200


def test_dashboard_shows_the_scenario_figures(client, manager) -> None:
    insert_scenario()
    page = client.get("/metrics", query_string=WEEK).get_data(as_text=True)
    assert "50.0%" in page  # deflection rate 3 / 6
    assert "confirmed only 33.3%" in page
    assert "7 of 9" in page  # SLA
    assert "2.0 : 1" in page  # self-service score
    assert "warranty claim" in page
    assert 'href="/kb/editor?q=warranty+claim"' in page
    assert 'href="/kb/editor/pairing/edit"' in page
    assert "<svg" in page and "style=" not in page
    # The funnel chart gives hand-offs as a share of the chats before them (2 of 8).
    assert "2 · 25.0% of chats" in page
    # Each tile explains itself.
    assert 'title="(confirmed + assumed) ÷ (confirmed + assumed + escalated)' in page


def test_htmx_request_gets_only_the_panel(client, manager) -> None:
    insert_scenario()
    response = client.get("/metrics", query_string={**WEEK, "category": "billing"},
                          headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and "metrics-filters" not in body
    assert "category “Billing and plans”" in body
    assert "66.7%" in body  # billing deflection 2 / 3


def test_categories_read_as_names_in_the_filter_and_the_table(client, manager) -> None:
    insert_scenario()
    page = client.get("/metrics", query_string=WEEK).get_data(as_text=True)
    assert '<option value="billing" >Billing and plans</option>' in page
    by_category = page.partition('id="t-categories"')[2].partition("</section>")[0]
    assert '<th scope="row">Billing and plans</th>' in by_category
    assert '<th scope="row">billing</th>' not in by_category


def test_empty_period_shows_dashes(client, manager) -> None:
    page = client.get("/metrics", query_string={"start": "2024-01-01", "end": "2024-01-07"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "No activity was recorded in this period" in body
    assert "—" in body


@pytest.mark.parametrize(("query", "message"), [
    ({"start": "yesterday"}, "is not a date"),
    ({"start": "2025-03-09", "end": "2025-03-03"}, "were swapped"),
    ({"start": "2020-01-01", "end": "2025-03-03"}, "limited to 366 days"),
])
def test_bad_filters_get_a_clear_message(client, manager, query, message) -> None:
    response = client.get("/metrics", query_string=query)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_csv_exports_every_table(client, manager) -> None:
    insert_scenario()
    for table in ("kpis", "tickets", "funnel", "series", "categories", "articles",
                  "zero_results", "no_click", "handoff_topics", "unhelpful", "drafts"):
        response = client.get(f"/metrics/export/{table}.csv", query_string=WEEK)
        assert response.status_code == 200, table
        assert response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert len(rows) >= 2, table
    funnel = list(csv.reader(io.StringIO(
        client.get("/metrics/export/funnel.csv", query_string=WEEK).get_data(as_text=True))))
    # A step is never shown as more than 100% of the one before: only hand-offs (a part of
    # chats) get a share; the others say what they count.
    assert [row[:3] for row in funnel[1:]] == [
        ["Searches", "6", ""], ["Article views", "6", ""], ["Chats", "8", ""],
        ["Hand-offs", "2", "0.25"], ["Tickets", "5", ""]]
    assert funnel[0][3] == "counted from" and "web form and email" in funnel[5][3]
    assert client.get("/metrics/export/nope.csv").status_code == 404


def test_csv_export_defuses_formulas(client, manager) -> None:
    emit(EventKind.SEARCH, occurred_at=datetime(2025, 3, 4, 9),
         visitor_id="evil", query='=HYPERLINK("http://x")', results=0, search_id="e1",
         source="kb")
    emit(EventKind.SEARCH, occurred_at=datetime(2025, 3, 4, 9),
         visitor_id="evil", query="@sum(a1)", results=0, search_id="e2", source="kb")
    db.session.commit()
    body = client.get("/metrics/export/zero_results.csv", query_string=WEEK).get_data(
        as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    assert ["'=hyperlink(\"http://x\")", "1"] in rows
    assert ["'@sum(a1)", "1"] in rows


def test_ticket_times_read_as_durations_on_the_page_and_hours_in_the_csv(client,
                                                                            manager) -> None:
    insert_scenario()
    page = client.get("/metrics", query_string=WEEK).get_data(as_text=True)
    assert "First response median" in page
    assert "(hours)" not in page  # the unit is for the CSV; the page shows "13.7 h"
    rows = list(csv.reader(io.StringIO(
        client.get("/metrics/export/tickets.csv", query_string=WEEK).get_data(as_text=True))))
    labels = {row[0]: row for row in rows}
    assert "First response median (hours)" in labels and "Resolution p90 (hours)" in labels
    board_page_median = page.partition("First response median</th>")[2].partition("</td>")[0]
    hours = float(labels["First response median (hours)"][1])
    assert f"{hours:.1f} h" in board_page_median or f"{hours * 60:.0f} min" in board_page_median
    assert labels["Solves"][1].isdigit()  # counts are not converted
    agents = list(csv.reader(io.StringIO(
        client.get("/metrics/export/agents.csv", query_string=WEEK).get_data(as_text=True))))
    assert "resolution median (hours)" in agents[0] and "open load" in agents[0]


def test_only_clearly_worse_tiles_are_marked_and_say_why() -> None:
    from portal.metrics.presentation import _tile, pct

    slightly = _tile("deflection_rate", "Deflection rate", 0.70, 0.72, pct,
                     higher_is_better=True, points=True)
    assert slightly.tone == "bad" and slightly.attention == ""
    clearly = _tile("deflection_rate", "Deflection rate", 0.60, 0.72, pct,
                    higher_is_better=True, points=True)
    assert clearly.attention == "Needs attention: down 12.0 pts on the previous period (72.0%)."
    better = _tile("backlog", "Backlog", 10, 40, pct, higher_is_better=False)
    assert better.tone == "good" and better.attention == ""


def test_days_with_few_chats_are_grey_with_their_counts(client, manager) -> None:
    from portal.metrics.synthetic import generate_events

    first = datetime(2025, 3, 3).date()
    for row in generate_events(first_day=first, days=7, conversations_per_day=2, seed=5):
        emit(**row)
    db.session.commit()
    page = client.get("/metrics", query_string={**WEEK, "grain": "day"}).get_data(as_text=True)
    rates = page.partition("Deflection rate per day")[2].partition("</svg>")[0]
    assert 'class="basis few"' in rates and 'class="dot few"' in rates
    assert "polyline" not in rates  # no line is drawn through days of 0% and 100%
    assert "(too few to read)" in rates and "fewer than 5 chats" in page


def test_a_default_team_without_agents_is_flagged(client, manager) -> None:
    from portal.tickets import services as ticket_services

    ticket_services.create_team("general", "General Support", default=True)
    db.session.commit()
    page = client.get("/metrics", query_string=WEEK).get_data(as_text=True)
    assert "General Support has no agents" in page and 'href="/tickets/teams"' in page
    teams = client.get("/tickets/teams").get_data(as_text=True)
    assert "No agents in the default team" in teams
