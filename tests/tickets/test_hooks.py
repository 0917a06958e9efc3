"""What a registered listener hears after a ticket change is committed (the copilot's way in)."""

from __future__ import annotations

import pytest

from portal.tickets import services
from portal.tickets.services import TicketChange

from .conftest import actor


@pytest.fixture
def heard(app):
    calls: list[tuple[str, int]] = []
    services.register_listener(app, lambda change, ticket_id: calls.append((change, ticket_id)))
    return calls


def test_customer_messages_and_solving_are_heard(heard, customer, agent, new_ticket):
    ticket = new_ticket(customer)
    assert heard == [(TicketChange.CUSTOMER_WROTE, ticket.id)]
    services.reply(ticket.id, "Any news?", actor=actor(customer))
    services.add_note(ticket.id, "Checking the logs", actor=actor(agent))
    services.reply(ticket.id, "Try a restart.", actor=actor(agent))
    assert heard[1:] == [(TicketChange.CUSTOMER_WROTE, ticket.id)]
    services.change_status(ticket.id, "solved", actor=actor(agent))
    assert heard[-1] == (TicketChange.SOLVED, ticket.id)


def test_a_reply_that_solves_is_heard_as_solved(heard, customer, agent, new_ticket):
    ticket = new_ticket(customer)
    services.reply(ticket.id, "Fixed on our side.", actor=actor(agent), then_status="solved")
    assert heard[-1] == (TicketChange.SOLVED, ticket.id)


def test_a_failing_listener_never_fails_the_change(app, heard, customer, new_ticket):
    def broken(change, ticket_id):
        raise RuntimeError("listener down")

    services.register_listener(app, broken)
    ticket = new_ticket(customer)
    reply = services.reply(ticket.id, "Still broken", actor=actor(customer))
    assert reply.id == ticket.id
    assert len(heard) == 2
