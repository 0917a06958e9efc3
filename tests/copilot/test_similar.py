"""Similar solved tickets on the agent's ticket page, indexed when solved (real Meilisearch),
and the copilot computed when the customer writes rather than when the agent opens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.copilot import background, similar
from portal.copilot.models import CopilotDraft
from portal.extensions import db
from portal.kb.engine import SearchEngine, get_engine
from portal.tickets import services as tickets


@pytest.fixture
def app_overrides():
    # The hooks' work in the request, so each test sees it done.
    return {"COPILOT_BACKGROUND": "inline"}


def test_agent_sees_the_solved_ticket_and_its_reply_without_the_customer(
        client, login, agent, solved, asking):
    login(agent)
    html = client.get(f"/tickets/{asking.number}").get_data(as_text=True)
    assert 'data-testid="copilot-similar"' in html
    assert f"#{solved.number} Password reset email never arrives" in html
    assert "Add noreply@hearthly.example to your contacts" in html
    section = html.split('data-testid="copilot-similar"')[1].split("</ol>")[0]
    # Advice, not another customer's letter: no greeting, no name, no address.
    assert "Casey" not in section and solved.requester_email not in section
    assert "[customer], write back" in section
    # Agents who may not write articles get no editor link.
    assert "Make this an article" not in section


def test_make_this_an_article_opens_the_prefilled_editor(client, login, make_user, solved,
                                                         asking):
    admin = make_user(Role.ADMIN)
    login(admin)
    html = client.get(f"/tickets/{asking.number}").get_data(as_text=True)
    link = html.split('data-testid="copilot-similar"')[1].split('href="')[2].split('"')[0]
    link = link.replace("&amp;", "&")
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/kb/editor/new"
    assert query["title"] == ["Password reset email never arrives"]
    assert query["category"] == ["account"]
    editor = client.get(link).get_data(as_text=True)
    assert "Password reset email never arrives" in editor
    assert "Add noreply@hearthly.example to your contacts" in editor


def test_a_reopened_ticket_is_not_offered(client, login, agent, customer, solved, asking):
    tickets.reply(solved.id, "It still does not arrive.", actor=tickets.Actor.of(customer))
    login(agent)
    html = client.get(f"/tickets/{asking.number}").get_data(as_text=True)
    assert f"#{solved.number} " not in html
    assert "No solved ticket like this one yet." in html


def test_unrelated_tickets_are_not_similar(client, login, agent, solved, new_ticket, customer):
    other = new_ticket(customer, subject="Invoice shows the wrong VAT number",
                       description="My company VAT number on last month's invoice is wrong.",
                       category="billing")
    login(agent)
    html = client.get(f"/tickets/{other.number}").get_data(as_text=True)
    assert f"#{solved.number} " not in html


def test_meilisearch_down_shows_no_similar_tickets_and_no_error(app, client, login, agent,
                                                                 solved, make_user,
                                                                 new_ticket):
    real = get_engine()
    app.extensions["portal.search_engine"] = SearchEngine(
        "http://127.0.0.1:9", "", index_prefix=real.index_prefix, timeout=0.5)
    try:
        asking = new_ticket(make_user(Role.CUSTOMER), subject="No reset link email",
                            description="The password reset email did not arrive.")
        login(agent)
        response = client.get(f"/tickets/{asking.number}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert 'data-testid="copilot"' in html and f"#{solved.number} " not in html
        row = db.session.scalar(select(CopilotDraft).where(CopilotDraft.ticket_id == asking.id))
        assert row is not None and row.similar is None
    finally:
        app.extensions["portal.search_engine"] = real
    # Back up: the next open looks again and finds it.
    html = client.get(f"/tickets/{asking.number}").get_data(as_text=True)
    assert f"#{solved.number} Password reset email never arrives" in html


def test_reindex_command_rebuilds_the_index(app, runner, solved, asking):
    similar.clear()
    assert similar.nearest(asking) == []
    result = runner.invoke(args=["copilot", "reindex"])
    assert result.exit_code == 0, result.output
    assert "1 solved tickets indexed" in result.output
    assert [row[0] for row in similar.nearest(asking) or []] == [solved.id]


def test_copilot_is_ready_before_the_agent_opens_the_ticket(app, indexed_kb, kb_articles,
                                                            customer, new_ticket):
    app.config["COPILOT_BACKGROUND"] = "thread"
    ticket = new_ticket(customer, subject="Password reset email never arrives",
                        description="The reset email never arrives.")
    assert background.wait_idle(app, timeout=60)
    db.session.expire_all()
    rows = db.session.scalar(select(func.count()).select_from(CopilotDraft)
                             .where(CopilotDraft.ticket_id == ticket.id))
    assert rows == 1
    # The customer writes again: a second row, for the new message, without anyone opening.
    tickets.reply(ticket.id, "Still nothing, I need it today.", actor=tickets.Actor.of(customer))
    assert background.wait_idle(app, timeout=60)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CopilotDraft)
                             .where(CopilotDraft.ticket_id == ticket.id)) == 2


def test_the_problem_is_embedded_once_for_the_articles_and_the_similar_tickets(
        app, solved, make_user, new_ticket, monkeypatch):
    from portal.kb.embedding import Embedder

    asked: list[str] = []
    real_encode, real_query = Embedder.encode, Embedder.encode_query

    def encode(self, texts):
        asked.extend(texts)
        return real_encode(self, texts)

    def encode_query(self, text):
        asked.append(text)
        return real_query(self, text)

    monkeypatch.setattr(Embedder, "encode", encode)
    monkeypatch.setattr(Embedder, "encode_query", encode_query)
    # Computed when the customer writes (the hook runs inline here).
    ticket = new_ticket(make_user(Role.CUSTOMER, name="Dana Other"),
                        subject="No reset link email",
                        description="I requested a new password but the reset email did not "
                                    "arrive. What can I do?", category="account")
    row = db.session.scalar(select(CopilotDraft).where(CopilotDraft.ticket_id == ticket.id))
    assert row is not None and [s[0] for s in row.similar] == [solved.id]
    assert row.articles[0]["slug"] == "reset-password"
    assert asked.count(similar.problem_text(ticket)) == 1
