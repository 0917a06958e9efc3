"""Changing a ticket's thread and state: replies, notes, status, priority, links, rating."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from portal import site
from portal.events import EventKind, emit
from portal.extensions import db
from portal.inputs import parse_int
from portal.tickets import articles, moods, notify, sla
from portal.tickets.common import (
    Actor,
    BulkResult,
    apply_change,
    audit,
    clean_body,
    customer_url,
    next_due_for,
    parse_enum,
    reopen_window,
    run_bulk,
    team_slug,
)
from portal.tickets.errors import ConflictError, TicketError
from portal.tickets.hooks import TicketChange, changed
from portal.tickets.models import (
    ACTIVE_STATUSES,
    TRANSITIONS,
    MessageKind,
    Ticket,
    TicketMessage,
    TicketPriority,
    TicketRating,
    TicketStatus,
)
from portal.tickets.reading import can_reopen


def _status_values(ticket: Ticket, new: TicketStatus, now: datetime,
                   first_responded_at: datetime | None = None) -> dict[str, Any]:
    responded = first_responded_at or ticket.first_responded_at
    values: dict[str, Any] = {
        "status": new,
        "next_due": next_due_for(new, responded, ticket.first_response_due, ticket.resolution_due),
    }
    if new == TicketStatus.SOLVED:
        values["solved_at"] = now
    elif new == TicketStatus.CLOSED:
        values["closed_at"] = now
    elif ticket.status == TicketStatus.SOLVED:
        values["solved_at"] = None
    return values


def _status_events(ticket: Ticket, old: TicketStatus, new: TicketStatus, now: datetime,
                   actor: Actor | None = None) -> None:
    if new == TicketStatus.SOLVED:
        # Credited to whoever holds the ticket; an unassigned ticket to the agent solving it.
        credited = ticket.assignee_id or (actor.id if actor is not None and actor.staff else None)
        emit(EventKind.TICKET_SOLVED, ticket_id=ticket.id, category=ticket.category,
             seconds=int((now - ticket.created_at).total_seconds()),
             sla_met=now <= ticket.resolution_due, agent_id=credited,
             team=team_slug(ticket.team_id))
    if new == TicketStatus.CLOSED:
        emit(EventKind.TICKET_CLOSED, ticket_id=ticket.id)
    if old == TicketStatus.SOLVED and new in ACTIVE_STATUSES:
        emit(EventKind.TICKET_REOPENED, ticket_id=ticket.id)


def _check_transition(old: TicketStatus, new: TicketStatus) -> None:
    if new == old:
        raise TicketError("status", f"The ticket is already {old}.")
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old])) or "none (it is final)"
        raise TicketError(
            "status", f"A {old} ticket cannot become {new}. Allowed next: {allowed}."
        )


def reply(ticket_id: int, body: str, *, actor: Actor,
          then_status: str | None = None) -> Ticket:
    """A public message. An agent's first reply is the first response; a customer's reply
    brings a pending or recently solved ticket back to open."""
    text = clean_body(body, "body", "a reply")
    target = parse_enum(TicketStatus, then_status, "status", "Status") if then_status else None
    solved_before: dict[str, Any] = {}
    # The queue's marker follows the customer's latest message (agents' replies leave it).
    mood = None if actor.staff else moods.score(text)

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if mood is not None:
            values.update(sentiment=mood.label, sentiment_score=mood.score,
                          sentiment_why=mood.why)
        new_status = ticket.status
        first = ticket.first_responded_at
        if ticket.status == TicketStatus.CLOSED:
            raise TicketError("body", "This ticket is closed. Please open a new ticket instead; "
                                      "you can mention this one's number.")
        if actor.staff:
            if first is None:
                first = values["first_responded_at"] = now
            if ticket.status == TicketStatus.NEW:
                new_status = TicketStatus.OPEN
            if target is not None and target != new_status:
                _check_transition(new_status, target)
                new_status = target
        elif ticket.status == TicketStatus.SOLVED:
            if not can_reopen(ticket, now):
                raise TicketError("body", "This ticket was solved too long ago to reopen. "
                                          "Please open a new ticket and mention its number.")
            new_status = TicketStatus.OPEN
        elif ticket.status == TicketStatus.PENDING:
            new_status = TicketStatus.OPEN
        if new_status != ticket.status:
            values.update(_status_values(ticket, new_status, now, first))
        else:
            values["next_due"] = next_due_for(ticket.status, first, ticket.first_response_due,
                                              ticket.resolution_due)
        solved_before["value"] = ticket.solved_at
        return values

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        db.session.add(TicketMessage(
            ticket_id=ticket.id, kind=MessageKind.REPLY, author_id=actor.id,
            author_name=actor.name, from_staff=actor.staff, body=text, created_at=now,
        ))
        audit(ticket.id, actor, "reply", chars=len(text))
        if "first_responded_at" in values:
            emit(EventKind.TICKET_FIRST_RESPONSE, ticket_id=ticket.id,
                 seconds=int((now - ticket.created_at).total_seconds()),
                 sla_met=now <= ticket.first_response_due, agent_id=actor.id,
                 team=team_slug(ticket.team_id))
        if "status" in values:
            audit(ticket.id, actor, "status", ticket.status, values["status"])
            _status_events(ticket, ticket.status, values["status"], now, actor)

    ticket = apply_change(ticket_id, compute, after)
    if actor.staff:
        values = {"name": ticket.requester_name, "agent": actor.name, "reply": text,
                  "url": customer_url(ticket, external=True), "number": ticket.number,
                  "subject": ticket.subject}
        notify.send_words(ticket.requester_email, "reply", values,
                          ticket_number=ticket.number, answerable=True)
        if ticket.status == TicketStatus.SOLVED and solved_before.get("value") is None:
            _solved(ticket)
    else:
        changed(TicketChange.CUSTOMER_WROTE, ticket.id)
    return ticket


def add_note(ticket_id: int, body: str, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("body", "Only agents can add internal notes.")
    text = clean_body(body, "body", "a note")

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        db.session.add(TicketMessage(
            ticket_id=ticket.id, kind=MessageKind.NOTE, author_id=actor.id,
            author_name=actor.name, from_staff=True, body=text, created_at=now,
        ))
        audit(ticket.id, actor, "note", chars=len(text))

    return apply_change(ticket_id, lambda ticket, now: {}, after)


def change_status(ticket_id: int, status: str, *, actor: Actor,
                  expected_status: str | None = None) -> Ticket:
    new = parse_enum(TicketStatus, status, "status", "Status")
    if not actor.staff and new not in (TicketStatus.CLOSED, TicketStatus.OPEN):
        raise TicketError("status", "Only agents can set that status.")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if expected_status and str(ticket.status) != expected_status:
            raise ConflictError(
                "status", f"Someone else changed this ticket to {ticket.status} a moment ago. "
                          "Check the latest state and try again.")
        _check_transition(ticket.status, new)
        if not actor.staff and ticket.status == TicketStatus.SOLVED and new == TicketStatus.OPEN \
                and not can_reopen(ticket, now):
            raise TicketError("status", "This ticket was solved too long ago to reopen. "
                                        "Please open a new ticket and mention its number.")
        return _status_values(ticket, new, now)

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        audit(ticket.id, actor, "status", ticket.status, new)
        _status_events(ticket, ticket.status, new, now, actor)

    ticket = apply_change(ticket_id, compute, after)
    if new == TicketStatus.SOLVED:
        _solved(ticket)
    return ticket


def reopen(ticket_id: int, *, actor: Actor) -> Ticket:
    return change_status(ticket_id, TicketStatus.OPEN, actor=actor)


def close(ticket_id: int, *, actor: Actor) -> Ticket:
    return change_status(ticket_id, TicketStatus.CLOSED, actor=actor)


def _solved(ticket: Ticket) -> None:
    """What every way of solving a ticket does once it is saved: mail the customer (with the
    rating link), then tell the listeners (the copilot's similar-tickets index)."""
    url = customer_url(ticket, external=True)
    values = {"name": ticket.requester_name, "days": reopen_window().days, "url": url,
              "number": ticket.number, "subject": ticket.subject,
              "csat": site.current().text("mail.csat.body", rate_url=f"{url}/rate")}
    notify.send_words(ticket.requester_email, "solved", values, ticket_number=ticket.number,
                      answerable=True)
    changed(TicketChange.SOLVED, ticket.id)


def change_priority(ticket_id: int, priority: str, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("priority", "Only agents can change the priority.")
    new = parse_enum(TicketPriority, priority, "priority", "Priority")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if ticket.priority == new:
            raise TicketError("priority", f"The priority is already {new}.")
        # Deadlines follow the new priority, measured from when the ticket arrived.
        due = sla.targets(new)
        first_due = ticket.created_at + due.first_response
        resolution_due = ticket.created_at + due.resolution
        return {
            "priority": new, "first_response_due": first_due, "resolution_due": resolution_due,
            "next_due": next_due_for(ticket.status, ticket.first_responded_at, first_due,
                                     resolution_due),
        }

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        audit(ticket.id, actor, "priority", ticket.priority, new)

    return apply_change(ticket_id, compute, after)


def bulk_status(ticket_ids: Sequence[int], status: str, *, actor: Actor) -> BulkResult:
    return run_bulk(ticket_ids, lambda ticket_id: change_status(ticket_id, status, actor=actor))


def link_article(ticket_id: int, slug: str, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("article", "Only agents can link articles.")
    found = articles.refs([slug])
    if not found or not found[0].url:
        raise TicketError("article", "That article does not exist.")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if slug in ticket.linked_article_slugs:
            raise TicketError("article", "That article is already linked.")
        return {"linked_article_slugs": [*ticket.linked_article_slugs, slug]}

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        audit(ticket.id, actor, "article_linked", None, slug)

    return apply_change(ticket_id, compute, after)


def rate(ticket_id: int, score: Any, comment: str | None, *, actor: Actor) -> TicketRating:
    value = parse_int(str(score).strip(), minimum=1, maximum=5)
    if value is None:
        raise TicketError("score", "Please choose a rating from 1 to 5.")
    text = (comment or "").strip()
    if len(text) > 2000:
        raise TicketError("comment", "Keep the comment under 2,000 characters.")
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError("ticket", "That ticket does not exist.")
    if ticket.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED):
        raise TicketError("score", "You can rate the support once the ticket is solved.")
    rating = TicketRating(ticket_id=ticket.id, score=value, comment=text)
    db.session.add(rating)
    audit(ticket.id, actor, "rated", None, value)
    emit(EventKind.CSAT, ticket_id=ticket.id, category=ticket.category, score=value,
         source=str(ticket.source), agent_id=ticket.assignee_id, team=team_slug(ticket.team_id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TicketError("score", "This ticket has already been rated. Thank you!") from None
    return rating
