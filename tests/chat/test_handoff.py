"""Hand-off: the prefilled form, drafts that survive, the ticket."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.chat.models import Conversation, Message
from portal.events import Event, EventKind
from portal.extensions import db
from tests.chat.test_chat import ask


@pytest.fixture(autouse=True)
def _kb(indexed_kb: list[str]) -> None:
    pass


def _conversation() -> Conversation:
    db.session.expire_all()  # the views committed through the same session
    return db.session.scalars(select(Conversation)).one()


def test_talk_to_a_person_prefills_and_the_draft_survives_leaving(client: Any) -> None:
    ask(client, "My thermostat shows the wrong temperature, please help asap")
    conversation = _conversation()
    response = client.post("/chat/person", data={"conversation_id": conversation.id})
    url = response.headers["Location"]
    form = client.get(url).get_data(as_text=True)
    assert "My thermostat shows the wrong temperature, please help asap" in form
    assert '<option value="high" selected>' in form
    assert "Conversation attached to the ticket" in form
    client.post(url, data={"action": "save", "subject": "Wrong temperature",
                           "description": "It reads 5 degrees too high.", "email": "a@b.example"},
                headers={"HX-Request": "true"})
    client.get("/kb")
    again = client.get(url).get_data(as_text=True)
    assert 'value="Wrong temperature"' in again and "It reads 5 degrees too high." in again
    assert 'value="a@b.example"' in again
    reasons = [e.data["reason"] for e in db.session.scalars(
        select(Event).where(Event.kind == str(EventKind.HANDOFF)))]
    assert reasons == ["user_action"]


def test_anonymous_visitors_must_give_an_email(client: Any) -> None:
    ask(client, "I want to talk to a person")
    conversation = _conversation()
    url = f"/chat/{conversation.id}/handoff"
    response = client.post(url, data={"subject": "Help", "description": "Please call me",
                                      "email": ""})
    assert response.status_code == 422
    assert "email address" in response.get_data(as_text=True)
    assert _conversation().draft["description"] == "Please call me"


def test_confirming_creates_the_ticket_with_transcript_and_articles(
    client: Any, login_as: Any
) -> None:
    from portal.tickets.models import Ticket

    login_as(Role.CUSTOMER)
    ask(client, "How do I reset my password?")
    conversation = _conversation()
    client.post("/chat/person", data={"conversation_id": conversation.id})
    response = client.post(f"/chat/{conversation.id}/handoff",
                           data={"subject": "Password reset email never arrives",
                                 "description": "I tried the steps, no email.",
                                 "priority": "normal", "category": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.subject == "Password reset email never arrives"
    assert "How do I reset my password?" in (ticket.transcript or "")
    conversation = _conversation()
    assert conversation.state == "escalated" and conversation.ticket_id == ticket.id
    created = db.session.scalars(select(Event).where(
        Event.kind == str(EventKind.TICKET_CREATED))).one()
    assert created.conversation_id == conversation.id
    # The stored text reads back as the chat was: it is all an agent has once the
    # conversation's rows are gone.
    from portal.chat import transcripts

    def read(transcript: transcripts.Transcript | None) -> list[Any]:
        assert transcript is not None
        return [(turn.who, turn.text, [(s.number, s.url) for s in turn.sources])
                for turn in transcript.turns]

    from_text = read(transcripts.for_ticket(None, ticket.transcript))
    # The rows go on after the hand-off (the bot says the ticket was created).
    assert read(transcripts.for_ticket(conversation.id, None))[:len(from_text)] == from_text
    assert [who for who, _, _ in from_text] == ["Customer", "Bot"]
    assert any(sources for _, _, sources in from_text)


def _say_no(client: Any) -> dict[str, Any]:
    answer = db.session.scalars(select(Message).where(Message.kind == "answer")
                                .order_by(Message.id.desc())).first()
    assert answer is not None
    client.post(f"/chat/{answer.conversation_id}/messages/{answer.id}/feedback",
                data={"helpful": "no"})
    draft = _conversation().draft
    assert draft is not None
    return draft


def test_the_ticket_is_about_the_question_that_was_not_solved(client: Any) -> None:
    ask(client, "My thermostat shows the wrong temperature")
    ask(client, "How do I pair the hub?", _conversation().id)
    draft = _say_no(client)
    assert draft["subject"] == "How do I pair the hub?"
    assert "wrong temperature" not in draft["description"]


def test_a_follow_up_keeps_the_question_it_follows(client: Any) -> None:
    ask(client, "How do I pair the hub with my router?")
    ask(client, "and on Android?", _conversation().id)
    draft = _say_no(client)
    assert draft["subject"] == "How do I pair the hub with my router?"
    assert draft["description"] == "How do I pair the hub with my router?\n\nand on Android?"


def test_an_anonymous_hand_off_does_not_open_the_thread_in_the_browser(client: Any,
                                                                      app: Any) -> None:
    # The address typed into the form may be anyone's: the thread is only reachable
    # through the link mailed to it.
    ask(client, "I want to talk to a person")
    conversation = _conversation()
    response = client.post(f"/chat/{conversation.id}/handoff",
                           data={"subject": "Refund to a new card", "description": "Please.",
                                 "email": "casey@example.com", "name": "Casey"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert "/tickets/track/" not in response.location
    landing = client.get(response.location).get_data(as_text=True)
    assert "casey@example.com" in landing and "/tickets/track/" not in landing
    assert app.test_client().get(response.location).status_code == 404
