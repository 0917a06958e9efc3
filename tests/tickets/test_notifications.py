"""Email: .eml files in the outbox without SMTP, a real SMTP server on loopback with it."""

from __future__ import annotations

import pytest

from portal.accounts.models import Role
from portal.tickets import notify, services

from .conftest import actor, outbox_messages


def test_outbox_gets_created_reply_solved_and_assignment(app, clean_outbox, make_user,
                                                         customer, new_ticket):
    agent = make_user(Role.AGENT, email="agent.one@example.com")
    lead = make_user(Role.AGENT)
    ticket = new_ticket(customer)
    services.assign(ticket.id, agent.id, actor=actor(lead))
    services.reply(ticket.id, "Please restart the hub.", actor=actor(agent))
    services.change_status(ticket.id, "solved", actor=actor(agent))
    messages = outbox_messages(app)
    assert len(messages) == 4
    created, assigned, replied, solved = messages
    assert "We received your request" in created and customer.email in created
    assert f"http://localhost/tickets/{ticket.number}" in created
    assert "Assigned to you" in assigned and "agent.one@example.com" in assigned
    assert "Please restart the hub." in replied
    assert "Solved" in solved and f"/tickets/{ticket.number}/rate" in solved


def test_anonymous_requester_gets_signed_link(app, clean_outbox, new_ticket):
    new_ticket(None)
    [created] = outbox_messages(app)
    assert "http://localhost/tickets/track/" in created


def test_notes_and_customer_replies_send_no_email(app, clean_outbox, agent, customer,
                                                  new_ticket):
    ticket = new_ticket(customer)
    services.add_note(ticket.id, "internal", actor=actor(agent))
    services.reply(ticket.id, "me again", actor=actor(customer))
    assert len(outbox_messages(app)) == 1


@pytest.fixture
def app_overrides(request):
    if "smtp_server" in request.fixturenames:
        port, _recorder = request.getfixturevalue("smtp_server")
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port}
    return {}


def test_real_smtp_server_receives_the_mail(app, smtp_server, clean_outbox, agent, customer,
                                            new_ticket):
    _port, recorder = smtp_server
    ticket = new_ticket(customer)
    services.reply(ticket.id, "Answer over SMTP", actor=actor(agent))
    assert [m["to"] for m in recorder.messages] == [[customer.email], [customer.email]]
    assert "Answer over SMTP" in recorder.messages[1]["data"]
    assert outbox_messages(app) == []


def test_smtp_down_keeps_the_ticket(app, make_user):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there
    customer = make_user(Role.CUSTOMER)
    ref = services.create_ticket(subject="Still saved", description="even without mail",
                                 requester_id=customer.id, requester_email=None)
    assert services.get_ticket(ref.number) is not None
    assert notify.send(customer.email, "probe", "body") is False  # reported, not raised
