"""What agents did with the copilot's drafts, on the manager's dashboard."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from sqlalchemy import select

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.copilot import services as copilot
from portal.copilot.models import CopilotDraft
from portal.extensions import db
from portal.metrics import queries
from portal.metrics.draft_definitions import compute_draft_usage
from portal.metrics.figures import DraftUsage
from portal.metrics.records import Period
from tests.chat.conftest import indexed_kb  # noqa: F401 - the demo KB's chunks, once
from tests.metrics.scenario import insert_generated
from tests.tickets.conftest import (  # noqa: F401 - tickets, people, the KB's articles
    agent,
    customer,
    kb_articles,
    new_ticket,
)

PASSWORD_TROUBLE = ("I forgot my password and the reset email never arrives. How do I get back "
                    "into my account?")


def draft_of(ticket_id: int) -> CopilotDraft:
    db.session.expire_all()
    row = db.session.scalar(select(CopilotDraft).where(CopilotDraft.ticket_id == ticket_id))
    assert row is not None and row.draft
    return row


def drafts_table(page: str) -> dict[str, list[str]]:
    """The dashboard's drafts table as {row label: [cells]}."""
    section = page.partition('id="t-drafts"')[2].partition("</section>")[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                    row, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_dashboard_shows_what_agents_did_with_drafts(
        app, client, login, make_user, indexed_kb, kb_articles, customer, agent,  # noqa: F811
        new_ticket):  # noqa: F811
    login(agent)
    numbers = []
    for n in range(3):
        ticket = new_ticket(customer, subject=f"Password reset email never arrives ({n})",
                            description=PASSWORD_TROUBLE, category="account")
        client.get(f"/tickets/{ticket.number}")  # the agent opens it: the draft is shown
        numbers.append((ticket.number, draft_of(ticket.id)))
    (sent, as_is), (edited, to_edit), (thrown, to_discard) = numbers
    client.post(f"/tickets/{sent}/copilot/send", data={"draft_id": as_is.id, "body": as_is.draft})
    changed = to_edit.draft.replace("Hi Casey,", "Hi Casey, sorry for the wait.")
    client.post(f"/tickets/{edited}/copilot/send", data={"draft_id": to_edit.id, "body": changed})
    client.post(f"/tickets/{thrown}/copilot/discard", data={"draft_id": to_discard.id})

    manager = login(make_user(Role.MANAGER), the_client=app.test_client())
    today = utcnow().date()
    page = manager.get("/metrics", query_string={"start": (today - timedelta(days=6)).isoformat(),
                                                 "end": today.isoformat()})
    table = drafts_table(page.get_data(as_text=True))
    rewritten = copilot.changed_share(to_edit.draft, changed)
    assert 0 < rewritten < 0.5
    assert table["Shown"] == ["3", "—", "0"]
    assert table["Used as drafted"] == ["1", "33.3%", "0"]
    assert table["Edited"] == ["1", "33.3%", "0"]
    assert table["Discarded"] == ["1", "33.3%", "0"]
    assert table["Pending (no decision yet)"] == ["0", "—", "0"]
    assert table["Share rewritten when edited (median)"] == [f"{rewritten * 100:.1f}%", "—", "—"]
    exported = manager.get("/metrics/export/drafts.csv", query_string={
        "start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat()})
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["drafts", "this period", "share of decided", "previous period"]
    assert rows[2] == ["Used as drafted", "1", "0.3333", "0"]

    # Drafts shown outside the range, or on tickets of another category, are not counted.
    before = manager.get("/metrics", query_string={
        "start": (today - timedelta(days=7)).isoformat(),
        "end": (today - timedelta(days=1)).isoformat()}).get_data(as_text=True)
    assert drafts_table(before)["Shown"] == ["0", "—", "0"]
    assert drafts_table(before)["Used as drafted"] == ["0", "—", "0"]
    other = manager.get("/metrics", query_string={"start": today.isoformat(),
                                                  "end": today.isoformat(),
                                                  "category": "billing"}).get_data(as_text=True)
    assert drafts_table(other)["Shown"][0] == "0"
    account = manager.get("/metrics", query_string={"start": today.isoformat(),
                                                    "end": today.isoformat(),
                                                    "category": "account"}).get_data(as_text=True)
    assert drafts_table(account)["Shown"][0] == "3"


def test_a_pending_draft_is_shown_but_left_out_of_the_shares(
        app, client, login, make_user, indexed_kb, kb_articles, customer, agent,  # noqa: F811
        new_ticket):  # noqa: F811
    login(agent)
    tickets = [new_ticket(customer, subject=f"Reset email missing ({n})",
                          description=PASSWORD_TROUBLE, category="account") for n in range(2)]
    for ticket in tickets:
        client.get(f"/tickets/{ticket.number}")
    row = draft_of(tickets[0].id)
    client.post(f"/tickets/{tickets[0].number}/copilot/send",
                data={"draft_id": row.id, "body": row.draft})
    manager = login(make_user(Role.MANAGER), the_client=app.test_client())
    table = drafts_table(manager.get("/metrics").get_data(as_text=True))
    assert table["Shown"][0] == "2"
    assert table["Used as drafted"][:2] == ["1", "100.0%"]
    assert table["Pending (no decision yet)"][0] == "1"


def test_the_rollups_agree_with_the_definition(app) -> None:
    first = date(2025, 3, 1)
    events = insert_generated(first, days=20, conversations_per_day=30, seed=5)
    usage = compute_draft_usage(events, Period.of_days(first, first + timedelta(days=19)))
    assert usage.shown > 50 and usage.used and usage.edited and usage.discarded and usage.pending
    assert usage.edited_rewritten_median is not None
    for category in (None, "billing", "nothing-here"):
        for start, end in ((0, 19), (3, 9), (10, 10), (25, 30)):
            period = Period.of_days(first + timedelta(days=start), first + timedelta(days=end))
            assert queries.draft_usage(period, category) == compute_draft_usage(
                events, period, category), (start, end, category)
    empty = Period.of_days(date(2024, 1, 1), date(2024, 1, 7))
    assert queries.draft_usage(empty) == DraftUsage()
