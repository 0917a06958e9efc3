"""Ticket rules through the service layer, against the real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.events import Event, EventKind
from portal.extensions import db
from portal.tickets import services
from portal.tickets.models import Ticket, TicketAudit, TicketMessage, TicketStatus
from portal.tickets.services import Actor, ConflictError, TicketError

from .conftest import actor, mailed_tracking_link


def events(kind: EventKind) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.kind == str(kind))))


def test_create_ticket_sets_number_sla_and_emits_event(customer, new_ticket):
    ticket = new_ticket(customer, priority="high", conversation_id=7, visitor_id="v" * 22,
                        article_slugs=["reset-password"], transcript="bot: hi", form_id=None,
                        source="chat")
    assert ticket.number == services.NUMBER_OFFSET + ticket.id
    assert ticket.status == TicketStatus.NEW
    assert ticket.first_response_due - ticket.created_at == timedelta(hours=4)
    assert ticket.next_due == ticket.first_response_due
    assert ticket.transcript == "bot: hi"
    [created] = events(EventKind.TICKET_CREATED)
    assert created.ticket_id == ticket.id and created.conversation_id == 7
    assert created.user_id == customer.id and created.visitor_id == "v" * 22
    assert created.data == {"source": "chat", "priority": "high", "number": ticket.number,
                            "team": "", "tier": 1, "agent_id": None}


def test_anonymous_ticket_mails_its_tracking_link_and_sends_the_browser_elsewhere(app):
    ref = services.create_ticket(subject="Order missing", description="Where is it?",
                                 requester_id=None, requester_email="Someone@Example.com",
                                 requester_name="Sam")
    assert ref.url == f"/tickets/sent/{ref.number}"
    link = mailed_tracking_link(app, "someone@example.com")
    ticket = services.ticket_from_tracking_token(link.rsplit("/", 1)[1])
    assert ticket.id == ref.id and ticket.requester_email == "someone@example.com"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"description": ""}, "description"),
        ({"description": "x" * 1_048_576}, "description"),
        ({"priority": "critical"}, "priority"),
        ({"source": "fax"}, "source"),
        ({"requester_email": "not-an-email"}, "email"),
    ],
)
def test_create_ticket_rejects_bad_input(app, fields, field):
    values = {"subject": "Help", "description": "It broke", "requester_id": None,
              "requester_email": "a@example.com", **fields}
    with pytest.raises(TicketError) as caught:
        services.create_ticket(**values)
    assert caught.value.field == field
    assert db.session.scalar(select(Ticket.id)) is None


def test_reply_of_one_megabyte_is_refused_clearly(customer, new_ticket):
    ticket = new_ticket(customer)
    with pytest.raises(TicketError) as caught:
        services.reply(ticket.id, "a" * 1_048_576, actor=actor(customer))
    assert "at most 20,000 characters" in caught.value.message
    assert "1,048,576" in caught.value.message
    assert services.thread(ticket, include_notes=True) == []


def test_illegal_transition_is_refused(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    services.change_status(ticket.id, "closed", actor=actor(agent))
    with pytest.raises(TicketError) as caught:
        services.change_status(ticket.id, "open", actor=actor(agent))
    assert "closed ticket cannot become open" in caught.value.message
    with pytest.raises(TicketError):
        services.change_status(ticket.id, "new", actor=actor(agent))
    with pytest.raises(TicketError, match="must be one of"):
        services.change_status(ticket.id, "deleted", actor=actor(agent))


def test_customer_cannot_set_agent_statuses(customer, new_ticket):
    ticket = new_ticket(customer)
    with pytest.raises(TicketError, match="Only agents"):
        services.change_status(ticket.id, "solved", actor=actor(customer))


def test_agent_reply_is_first_response_and_opens(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    ticket = services.reply(ticket.id, "We are on it.", actor=actor(agent))
    assert ticket.status == TicketStatus.OPEN
    assert ticket.first_responded_at is not None
    assert ticket.next_due == ticket.resolution_due
    [first] = events(EventKind.TICKET_FIRST_RESPONSE)
    assert first.ticket_id == ticket.id and first.data["seconds"] >= 0
    services.reply(ticket.id, "Another one.", actor=actor(agent))
    assert len(events(EventKind.TICKET_FIRST_RESPONSE)) == 1


def test_solve_reopen_within_window_and_close(agent, customer, new_ticket):
    ticket = new_ticket(customer, category="billing")
    services.reply(ticket.id, "Refunded.", actor=actor(agent), then_status="solved")
    ticket = services.get_ticket(ticket.number)
    assert ticket.status == TicketStatus.SOLVED and ticket.next_due is None
    [solved] = events(EventKind.TICKET_SOLVED)
    assert solved.category == "billing"
    ticket = services.reopen(ticket.id, actor=actor(customer))
    assert ticket.status == TicketStatus.OPEN and ticket.solved_at is None
    assert len(events(EventKind.TICKET_REOPENED)) == 1
    services.change_status(ticket.id, "solved", actor=actor(agent))
    ticket = services.close(ticket.id, actor=actor(customer))
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at is not None
    assert len(events(EventKind.TICKET_CLOSED)) == 1


def test_reopen_after_window_is_refused(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    services.change_status(ticket.id, "solved", actor=actor(agent))
    db.session.execute(update(Ticket).where(Ticket.id == ticket.id)
                       .values(solved_at=utcnow() - timedelta(days=8)))
    db.session.commit()
    with pytest.raises(TicketError, match="too long ago"):
        services.reopen(ticket.id, actor=actor(customer))
    with pytest.raises(TicketError, match="too long ago"):
        services.reply(ticket.id, "still broken", actor=actor(customer))


def test_customer_reply_brings_pending_back_to_open(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    services.reply(ticket.id, "Which model?", actor=actor(agent), then_status="pending")
    ticket = services.reply(ticket.id, "The T3.", actor=actor(customer))
    assert ticket.status == TicketStatus.OPEN


def test_notes_are_internal_and_audited(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    services.add_note(ticket.id, "Customer is on the beta firmware.", actor=actor(agent))
    assert services.thread(ticket, include_notes=False) == []
    assert len(services.thread(ticket, include_notes=True)) == 1
    with pytest.raises(TicketError):
        services.add_note(ticket.id, "sneaky", actor=actor(customer))
    # (The demo routing rules send a thermostat ticket on its way: a "routed" entry.)
    actions = [a.action for a in db.session.scalars(select(TicketAudit)) if a.action != "routed"]
    assert actions == ["created", "note"]


def test_audit_records_who_what_old_and_new(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    services.change_priority(ticket.id, "urgent", actor=actor(agent))
    audit = db.session.scalar(select(TicketAudit).where(TicketAudit.action == "priority"))
    assert (audit.actor_id, audit.old_value, audit.new_value) == (agent.id, "normal", "urgent")
    refreshed = services.get_ticket(ticket.number)
    assert refreshed.first_response_due - refreshed.created_at == timedelta(hours=1)


def test_rating_needs_solve_and_counts_once(agent, customer, new_ticket):
    ticket = new_ticket(customer, category="billing")
    with pytest.raises(TicketError, match="once the ticket is solved"):
        services.rate(ticket.id, 5, "", actor=actor(customer))
    services.change_status(ticket.id, "solved", actor=actor(agent))
    for bad in (0, 6, "five", ""):
        with pytest.raises(TicketError, match="1 to 5"):
            services.rate(ticket.id, bad, "", actor=actor(customer))
    services.rate(ticket.id, "4", "Quick and kind", actor=actor(customer))
    with pytest.raises(TicketError, match="already been rated"):
        services.rate(ticket.id, 1, "", actor=actor(customer))
    [csat] = events(EventKind.CSAT)
    assert csat.data == {"score": 4, "source": "form", "agent_id": None, "team": ""}
    assert csat.category == "billing"


def test_assign_only_to_agents(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    with pytest.raises(TicketError, match="only be assigned to agents"):
        services.assign(ticket.id, customer.id, actor=actor(agent))
    assert services.assign(ticket.id, agent.id, actor=actor(agent)).assignee_id == agent.id


def test_bulk_status_reports_failures_per_ticket(agent, customer, new_ticket):
    first, second = new_ticket(customer), new_ticket(customer)
    services.close(second.id, actor=actor(customer))
    result = services.bulk_status([first.id, second.id], "solved", actor=actor(agent))
    assert result.done == [first.id]
    assert "closed ticket cannot become solved" in result.failed[second.id]


# --- races against the real database --------------------------------------------------


def _in_threads(app, *jobs):
    barrier = threading.Barrier(len(jobs))
    outcomes: list[object] = [None] * len(jobs)

    def run(index, job):
        with app.app_context():
            barrier.wait()
            try:
                outcomes[index] = job()
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcomes[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_two_agents_claiming_at_once_one_wins(app, make_user, customer, new_ticket):
    ticket_id = new_ticket(customer).id  # plain ints: ORM objects stay in this thread
    first = Actor.of(make_user(Role.AGENT, name="First Agent"))
    second = Actor.of(make_user(Role.AGENT, name="Second Agent"))
    for _round in range(3):
        db.session.execute(update(Ticket).where(Ticket.id == ticket_id).values(assignee_id=None))
        db.session.commit()
        outcomes = _in_threads(
            app,
            lambda: services.claim(ticket_id, actor=first).assignee_id,
            lambda: services.claim(ticket_id, actor=second).assignee_id,
        )
        winners = [o for o in outcomes if isinstance(o, int)]
        losers = [o for o in outcomes if isinstance(o, ConflictError)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        winner_name = "First Agent" if winners[0] == first.id else "Second Agent"
        assert f"{winner_name} claimed this ticket first" in losers[0].message
        db.session.expire_all()
        assert db.session.get(Ticket, ticket_id).assignee_id == winners[0]


def test_reply_racing_status_change_keeps_both(app, agent, make_user, customer, new_ticket):
    other, requester, replier = actor(make_user(Role.AGENT)), actor(customer), actor(agent)
    for _round in range(3):
        ticket_id = new_ticket(customer).id
        services.reply(ticket_id, "First answer.", actor=replier)
        outcomes = _in_threads(
            app,
            lambda t=ticket_id: services.reply(t, "Customer detail.", actor=requester).id,
            lambda t=ticket_id: services.change_status(t, "pending", actor=other).id,
        )
        assert outcomes == [ticket_id, ticket_id], outcomes
        db.session.expire_all()
        bodies = [m.body for m in db.session.scalars(
            select(TicketMessage).where(TicketMessage.ticket_id == ticket_id))]
        assert bodies == ["First answer.", "Customer detail."]
        audit = [a.new_value for a in db.session.scalars(
            select(TicketAudit).where(TicketAudit.ticket_id == ticket_id,
                                      TicketAudit.action == "status"))]
        assert "pending" in audit


def test_stale_status_form_is_told_not_overwritten(agent, make_user, customer, new_ticket):
    ticket = new_ticket(customer)
    other = make_user(Role.AGENT)
    services.change_status(ticket.id, "pending", actor=actor(other))
    with pytest.raises(ConflictError, match="changed this ticket to pending"):
        services.change_status(ticket.id, "solved", actor=actor(agent), expected_status="new")
    assert services.get_ticket(ticket.number).status == TicketStatus.PENDING


# --- SLA sweep -----------------------------------------------------------------------------


def test_sweep_records_breach_escalates_and_notifies(app, agent, customer, new_ticket,
                                                     clean_outbox):
    from .conftest import outbox_messages

    ticket = new_ticket(customer, priority="normal")
    services.assign(ticket.id, agent.id, actor=actor(agent))
    report = services.sweep_slas(now=utcnow() + timedelta(hours=9))
    assert (report.breaches, report.escalated) == (1, 1)
    ticket = services.get_ticket(ticket.number)
    assert ticket.priority == "high" and ticket.first_response_breached_at is not None
    actions = [a.action for a in db.session.scalars(select(TicketAudit))]
    assert "sla_breach" in actions and "escalated" in actions
    assert any("SLA breached" in m and agent.email in m for m in outbox_messages(app))
    again = services.sweep_slas(now=utcnow() + timedelta(hours=9))
    assert again.breaches == 0


def test_sweep_closes_long_solved_tickets(agent, customer, new_ticket):
    ticket = new_ticket(customer)
    services.change_status(ticket.id, "solved", actor=actor(agent))
    report = services.sweep_slas(now=utcnow() + timedelta(days=8))
    assert report.closed == 1
    assert services.get_ticket(ticket.number).status == TicketStatus.CLOSED


def test_sweep_command(runner, customer, new_ticket):
    new_ticket(customer)
    result = runner.invoke(args=["tickets", "sweep"])
    assert result.exit_code == 0
    assert "SLA sweep: 0 new breach(es)" in result.output
