"""The copilot on the agent's ticket page: summary, articles, a draft the agent reviews."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.copilot import services as copilot
from portal.copilot.models import CopilotDraft
from portal.events import Event
from portal.extensions import db
from portal.tickets import services as tickets


def draft_rows(ticket_id: int) -> list[CopilotDraft]:
    db.session.expire_all()
    return list(db.session.scalars(select(CopilotDraft).where(
        CopilotDraft.ticket_id == ticket_id).order_by(CopilotDraft.id)))


def test_agent_sees_summary_articles_and_a_cited_draft(client, login, agent, chat_ticket):
    login(agent)
    page = client.get(f"/tickets/{chat_ticket.number}").get_data(as_text=True)
    assert 'data-testid="copilot"' in page
    assert "Needs:" in page and "How do I get back into my account?" in page
    assert "Already tried: I tried that twice already" in page
    assert "The bot already offered: Reset your password" in page
    assert "reset-password" in page and "Insert link" in page
    [row] = draft_rows(chat_ticket.id)
    assert row.draft.startswith("Hi Casey,")
    assert "[1]" in row.draft and "/kb/reset-password" in row.draft
    assert len(row.articles) == copilot.SUGGESTED_ARTICLES
    assert row.articles[0]["slug"] == "reset-password"
    # Opened again with nothing new from the customer: read from the cache, not recomputed.
    client.get(f"/tickets/{chat_ticket.number}")
    assert len(draft_rows(chat_ticket.id)) == 1


def test_internal_articles_are_suggested_to_staff_only(app, indexed_kb, kb_articles):
    found = copilot.suggest("customer wants their account deleted, what is the procedure")
    assert any(a.internal for a in found.articles)
    public = copilot.suggest("customer wants their account deleted, what is the procedure",
                             audiences=("public",))
    assert not any(a.internal for a in public.articles)


def test_customers_never_see_the_copilot(client, login, customer, chat_ticket):
    login(customer)
    page = client.get(f"/tickets/{chat_ticket.number}").get_data(as_text=True)
    assert "copilot" not in page.lower()
    assert draft_rows(chat_ticket.id) == []


def test_edited_draft_is_sent_and_recorded(client, login, agent, customer, chat_ticket):
    login(agent)
    client.get(f"/tickets/{chat_ticket.number}")
    [row] = draft_rows(chat_ticket.id)
    edited = row.draft.replace("Hi Casey,", "Hi Casey, sorry for the wait.")
    response = client.post(f"/tickets/{chat_ticket.number}/copilot/send",
                           data={"draft_id": row.id, "body": edited})
    assert response.status_code == 302
    [row] = draft_rows(chat_ticket.id)
    assert row.outcome == "edited" and 0 < row.changed_share < 0.5
    thread = tickets.thread(chat_ticket, include_notes=False)
    assert thread[-1].body.startswith("Hi Casey, sorry for the wait.")
    assert thread[-1].from_staff
    event = db.session.scalar(select(Event).where(Event.kind == "copilot_draft"))
    assert event is not None and event.data["outcome"] == "edited"
    # Sent once: posting the same draft again adds the reply but not a second decision.
    assert copilot.draft_usage() == {"pending": 0, "edited": 1}


def test_unchanged_draft_counts_as_used_and_a_new_message_gets_a_new_draft(
        client, login, agent, customer, chat_ticket):
    login(agent)
    client.get(f"/tickets/{chat_ticket.number}")
    [row] = draft_rows(chat_ticket.id)
    client.post(f"/tickets/{chat_ticket.number}/copilot/send",
                data={"draft_id": row.id, "body": row.draft})
    tickets.reply(chat_ticket.id, "Still nothing, this is ridiculous. I need it today!",
                  actor=tickets.Actor.of(customer))
    client.get(f"/tickets/{chat_ticket.number}")
    first, second = draft_rows(chat_ticket.id)
    assert first.outcome == "used" and second.outcome is None
    assert second.moods[-1][1] == "negative" and "ridiculous" in second.moods[-1][3]
    assert second.moods[0][1] == "neutral"
    # The short reply is read with the subject: still about the reset email.
    assert second.articles[0]["slug"] == "reset-password"
    assert "Summary" in client.get(f"/tickets/{chat_ticket.number}").get_data(as_text=True)


def test_a_reply_sent_without_the_draft_discards_it(client, login, agent, customer,
                                                  chat_ticket):
    login(agent)
    client.get(f"/tickets/{chat_ticket.number}")
    client.post(f"/tickets/{chat_ticket.number}/reply", data={"body": "Looking into it."})
    tickets.reply(chat_ticket.id, "Any news?", actor=tickets.Actor.of(customer))
    client.get(f"/tickets/{chat_ticket.number}")
    assert [r.outcome for r in draft_rows(chat_ticket.id)] == ["discarded", None]


def test_discard_and_a_failed_send_keeps_the_text(client, login, agent, chat_ticket):
    login(agent)
    client.get(f"/tickets/{chat_ticket.number}")
    [row] = draft_rows(chat_ticket.id)
    response = client.post(f"/tickets/{chat_ticket.number}/copilot/send",
                           data={"draft_id": row.id, "body": "   "}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Your text is in the draft box" in page
    assert draft_rows(chat_ticket.id)[0].outcome is None
    client.post(f"/tickets/{chat_ticket.number}/copilot/discard", data={"draft_id": row.id})
    assert draft_rows(chat_ticket.id)[0].outcome == "discarded"


def test_only_agents_send_drafts(app, client, login, customer, chat_ticket, make_user):
    login(customer)
    response = client.post(f"/tickets/{chat_ticket.number}/copilot/send",
                           data={"draft_id": 1, "body": "hi"})
    assert response.status_code == 403
    # An agent posting a draft of no ticket of theirs sends nothing.
    agent_client = login(make_user(Role.AGENT), the_client=app.test_client())
    response = agent_client.post(f"/tickets/{chat_ticket.number}/copilot/send",
                                 data={"draft_id": 999, "body": "hi"}, follow_redirects=True)
    assert "does not belong to this ticket" in response.get_data(as_text=True)
    assert tickets.thread(chat_ticket, include_notes=True) == []
    assert db.session.scalar(select(func.count()).select_from(CopilotDraft)) == 1


def test_upset_ticket_is_marked_in_the_queue_with_its_words(client, login, agent, app,
                                                              customer, new_ticket):
    upset = new_ticket(customer, subject="Heating off again",
                       description="Third time I write about this. Unacceptable, fix it today!")
    calm = new_ticket(customer, subject="Invoice address",
                      description="Where can I change the address on my invoices?")
    assert upset.sentiment == "negative" and "unacceptable" in upset.sentiment_why
    assert calm.sentiment == "neutral"
    login(agent)
    page = client.get("/tickets/queue").get_data(as_text=True)
    assert page.count('data-testid="mood-flag"') == 1
    assert "Frustrated or urgent: third time, unacceptable" in page


def test_a_ticket_opened_before_its_copilot_shows_at_once_and_the_card_follows(
        app, client, login, agent, chat_ticket):
    app.config["COPILOT_ON_OPEN"] = "deferred"
    login(agent)
    page = client.get(f"/tickets/{chat_ticket.number}").get_data(as_text=True)
    # The page does not wait for the copilot: a placeholder loads the card.
    assert 'data-testid="copilot-loading"' in page
    assert f'hx-get="/tickets/{chat_ticket.number}/copilot"' in page
    assert 'data-testid="copilot"' not in page and draft_rows(chat_ticket.id) == []
    card = client.get(f"/tickets/{chat_ticket.number}/copilot").get_data(as_text=True)
    assert 'data-testid="copilot"' in card and "/kb/reset-password" in card
    assert "Send reviewed reply" in card
    [row] = draft_rows(chat_ticket.id)
    # Opened again: the card is in the page, read from the cache.
    page = client.get(f"/tickets/{chat_ticket.number}").get_data(as_text=True)
    assert 'data-testid="copilot"' in page and 'data-testid="copilot-loading"' not in page
    assert [r.id for r in draft_rows(chat_ticket.id)] == [row.id]
