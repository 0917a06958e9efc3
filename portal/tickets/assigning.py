"""Who holds a ticket: claiming, assigning, moving between teams, escalating tiers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from portal.accounts import services as accounts
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db
from portal.tickets import notify, sla, teams
from portal.tickets.common import (
    Actor,
    BulkResult,
    agent_names,
    apply_change,
    audit,
    run_bulk,
    staff_url,
    team_slug,
)
from portal.tickets.errors import ConflictError, TicketError
from portal.tickets.models import (
    ACTIVE_STATUSES,
    TIERS,
    MessageKind,
    Ticket,
    TicketMessage,
    tier_label,
)


def claim(ticket_id: int, *, actor: Actor) -> Ticket:
    """Take an unassigned ticket. Exactly one of several simultaneous claims wins."""
    if not actor.staff or actor.id is None:
        raise TicketError("assignee", "Only agents can claim tickets.")
    now = utcnow()
    result = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.assignee_id.is_(None))
        .values(assignee_id=actor.id, updated_at=now, version=Ticket.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        ticket = db.session.get(Ticket, ticket_id, populate_existing=True)
        if ticket is None:
            raise TicketError("ticket", "That ticket does not exist.")
        holder = agent_names().get(ticket.assignee_id or 0, "another agent")
        if ticket.assignee_id == actor.id:
            raise ConflictError("assignee", "You already have this ticket.")
        raise ConflictError("assignee", f"{holder} claimed this ticket first; it is theirs now.")
    audit(ticket_id, actor, "claimed", None, actor.name)
    taken = db.session.execute(
        select(Ticket.category, Ticket.team_id).where(Ticket.id == ticket_id)).one()
    assigned_event(ticket_id, taken.category, None, actor.id, taken.team_id, taken.team_id)
    db.session.commit()
    claimed = db.session.get(Ticket, ticket_id, populate_existing=True)
    if claimed is None:
        raise TicketError("ticket", "That ticket does not exist.")
    return claimed


def assign(ticket_id: int, assignee_id: int | None, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("assignee", "Only agents can assign tickets.")
    names = agent_names()
    if assignee_id is not None and assignee_id not in names:
        raise TicketError("assignee", "Tickets can only be assigned to agents.")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if ticket.assignee_id == assignee_id:
            raise TicketError("assignee", "The ticket is already assigned that way.")
        return {"assignee_id": assignee_id}

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        audit(ticket.id, actor, "assigned", names.get(ticket.assignee_id or 0),
              names.get(assignee_id or 0, "nobody"))
        assigned_event(ticket.id, ticket.category, ticket.assignee_id, assignee_id,
                       ticket.team_id, ticket.team_id)

    ticket = apply_change(ticket_id, compute, after)
    if assignee_id is not None and assignee_id != actor.id:
        notify_assigned(ticket, assignee_id, actor.name)
    return ticket


def notify_assigned(ticket: Ticket, agent_id: int, by: str) -> None:
    agent = accounts.get_user(agent_id)
    if agent is None:
        return
    values = {"name": agent.name, "by": by, "number": ticket.number,
              "tier": tier_label(ticket.tier), "priority": ticket.priority,
              "due": sla.countdown(ticket.next_due, utcnow()), "subject": ticket.subject,
              "url": staff_url(ticket)}
    notify.send_words(agent.email, "assigned", values, ticket_number=ticket.number)


def assigned_event(ticket_id: int, category: str | None, previous_agent: int | None,
                   agent: int | None, previous_team: int | None, team: int | None) -> None:
    """Who holds the ticket now; the metrics count open load and reassignments from it."""
    emit(EventKind.TICKET_ASSIGNED, ticket_id=ticket_id, category=category, agent_id=agent,
         previous_agent_id=previous_agent, team=team_slug(team),
         previous_team=team_slug(previous_team))


def move_team(ticket_id: int, team_id: int | None, *, actor: Actor) -> Ticket:
    """Hand the ticket to another team (at the same tier)."""
    if not actor.staff:
        raise TicketError("team", "Only agents can move tickets between teams.")
    team = teams.team_by_id(team_id)
    if team_id is not None and team is None:
        raise TicketError("team", "Choose a team from the list.")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if ticket.team_id == team_id:
            raise TicketError("team", "The ticket is already with that team.")
        values: dict[str, Any] = {"team_id": team_id}
        holder = teams.membership(ticket.assignee_id) if ticket.assignee_id else None
        assignee = ticket.assignee_id
        if holder is not None and holder.team_id != team_id:
            assignee = None  # the agent stays in their team; the ticket goes to the new one
        if assignee is None and team is not None:
            assignee = teams.pick_assignee(team, ticket.tier)
        if assignee != ticket.assignee_id:
            values["assignee_id"] = assignee
        return values

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        names = dict(teams.team_choices())
        audit(ticket.id, actor, "team", names.get(ticket.team_id or 0, "no team"),
              names.get(team_id or 0, "no team"))
        assigned_event(ticket.id, ticket.category, ticket.assignee_id,
                       values.get("assignee_id", ticket.assignee_id), ticket.team_id, team_id)

    return apply_change(ticket_id, compute, after)


MAX_REASON = 1000


def escalation_values(ticket: Ticket) -> dict[str, Any]:
    """The next tier; the assignee stays only if they work at that tier or above."""
    if ticket.tier >= len(TIERS):
        raise TicketError(
            "reason", f"This ticket is already at {tier_label(ticket.tier)}, the top tier: it "
                      "cannot be escalated further. Add a note or ask a lead instead.")
    new_tier = ticket.tier + 1
    values: dict[str, Any] = {"tier": new_tier}
    assignee = ticket.assignee_id
    held = teams.agent_tier(assignee)
    if assignee is not None and held is not None and held < new_tier:
        assignee = None
    team = teams.team_by_id(ticket.team_id)
    if assignee is None and team is not None:
        assignee = teams.pick_assignee(team, new_tier)
    if assignee != ticket.assignee_id:
        values["assignee_id"] = assignee
    return values


def record_escalation(ticket: Ticket, values: dict[str, Any], now: datetime, actor: Actor,
                      reason: str, by: str) -> None:
    old, new = tier_label(ticket.tier), tier_label(values["tier"])
    audit(ticket.id, actor, "escalated_tier", old, new, reason=reason, by=by)
    # The reason also goes into the thread, where the next tier starts reading.
    db.session.add(TicketMessage(
        ticket_id=ticket.id, kind=MessageKind.NOTE, author_id=actor.id, author_name=actor.name,
        from_staff=True, body=f"Escalated from {old} to {new}: {reason}", created_at=now,
    ))
    emit(EventKind.TICKET_ESCALATED, ticket_id=ticket.id, category=ticket.category,
         team=team_slug(ticket.team_id), from_tier=ticket.tier, to_tier=values["tier"], by=by)
    if "assignee_id" in values:
        names = agent_names()
        audit(ticket.id, actor, "assigned", names.get(ticket.assignee_id or 0),
              names.get(values["assignee_id"] or 0, "nobody"))
        assigned_event(ticket.id, ticket.category, ticket.assignee_id, values["assignee_id"],
                       ticket.team_id, ticket.team_id)


def escalate(ticket_id: int, reason: str | None, *, actor: Actor,
             expected_tier: int | None = None) -> Ticket:
    """Move the ticket to the next tier; the reason is required and kept in its history."""
    if not actor.staff:
        raise TicketError("reason", "Only agents can escalate tickets.")
    text = (reason or "").replace("\r\n", "\n").strip()
    if not text:
        raise TicketError("reason", "Please give a reason for escalating: what was tried, and "
                                    "why the next tier is needed.")
    if len(text) > MAX_REASON:
        raise TicketError("reason", f"Keep the reason under {MAX_REASON:,} characters; put "
                                    "details in a note.")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if ticket.status not in ACTIVE_STATUSES:
            raise TicketError("reason", f"A {ticket.status} ticket cannot be escalated; reopen "
                                        "it first.")
        if expected_tier is not None and ticket.tier != expected_tier:
            raise ConflictError("reason", f"Someone else moved this ticket to "
                                          f"{tier_label(ticket.tier)} a moment ago. Check the "
                                          "latest state and try again.")
        return escalation_values(ticket)

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        record_escalation(ticket, values, now, actor, text, "agent")

    before = db.session.get(Ticket, ticket_id)
    previous = before.assignee_id if before is not None else None
    ticket = apply_change(ticket_id, compute, after)
    if ticket.assignee_id is not None and ticket.assignee_id not in (previous, actor.id):
        notify_assigned(ticket, ticket.assignee_id, f"{actor.name} (escalation)")
    return ticket


def bulk_assign(ticket_ids: Sequence[int], assignee_id: int | None, *,
                actor: Actor) -> BulkResult:
    return run_bulk(ticket_ids, lambda ticket_id: assign(ticket_id, assignee_id, actor=actor))
