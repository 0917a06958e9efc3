"""The SLA sweep: record breached deadlines, escalate them, close long-solved tickets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import notify
from portal.tickets.assigning import escalation_values, record_escalation
from portal.tickets.changes import close
from portal.tickets.common import Actor, apply_change, audit, reopen_window, staff_url
from portal.tickets.errors import TicketError
from portal.tickets.models import (
    ACTIVE_STATUSES,
    PRIORITY_ORDER,
    TIERS,
    Ticket,
    TicketPriority,
    TicketStatus,
)


@dataclass(frozen=True)
class SweepReport:
    breaches: int
    escalated: int
    closed: int

def sweep_slas(now: datetime | None = None) -> SweepReport:
    """Record newly breached deadlines, escalate them, and close long-solved tickets."""
    now = now or utcnow()
    rule = {"bump_priority": True, "notify": True, "next_tier": True,
            **(current_app.config.get("TICKET_ESCALATION") or {})}
    actor = Actor.system()
    breaches = escalated = 0
    candidates = list(db.session.scalars(
        select(Ticket.id).where(Ticket.next_due < now).order_by(Ticket.next_due)
    ))
    for ticket_id in candidates:
        kinds: list[str] = []

        def compute(ticket: Ticket, when: datetime, kinds: list[str] = kinds) -> dict[str, Any]:
            kinds.clear()
            values: dict[str, Any] = {"updated_at": ticket.updated_at}
            if ticket.status not in ACTIVE_STATUSES:
                return values
            if ticket.first_responded_at is None and ticket.first_response_due < now \
                    and ticket.first_response_breached_at is None:
                values["first_response_breached_at"] = now
                kinds.append("first_response")
            if ticket.resolution_due < now and ticket.resolution_breached_at is None:
                values["resolution_breached_at"] = now
                kinds.append("resolution")
            if kinds and rule["bump_priority"] and ticket.priority != TicketPriority.URGENT:
                values["priority"] = PRIORITY_ORDER[PRIORITY_ORDER.index(ticket.priority) + 1]
            if kinds and rule["next_tier"] and ticket.tier < len(TIERS):
                # The same path as an agent's "Escalate": next tier, history, events.
                values.update(escalation_values(ticket))
            return values

        def after(ticket: Ticket, values: dict[str, Any], when: datetime,
                  kinds: list[str] = kinds) -> None:
            for kind in kinds:
                audit(ticket.id, actor, "sla_breach", None, kind)
            if "priority" in values:
                audit(ticket.id, actor, "escalated", ticket.priority, values["priority"])
            if "tier" in values:
                missed = " and ".join(kind.replace("_", " ") for kind in kinds)
                record_escalation(ticket, values, when, actor,
                                  f"SLA breached ({missed} target missed).", "sla")

        ticket = apply_change(ticket_id, compute, after)
        if kinds:
            breaches += len(kinds)
            escalated += 1
            if rule["notify"]:
                _notify_breach(ticket, kinds)
    closed = _close_long_solved(now)
    return SweepReport(breaches, escalated, closed)


def _notify_breach(ticket: Ticket, kinds: list[str]) -> None:
    if ticket.assignee_id is not None:
        agent = accounts.get_user(ticket.assignee_id)
        recipients = [agent] if agent is not None else []
    else:
        recipients = accounts.users_with_role(Role.AGENT)
    what = " and ".join(kind.replace("_", " ") for kind in kinds)
    for agent in recipients:
        values = {"name": agent.name, "number": ticket.number, "target": what,
                  "priority": ticket.priority, "subject": ticket.subject,
                  "url": staff_url(ticket)}
        notify.send_words(agent.email, "breach", values, ticket_number=ticket.number)


def _close_long_solved(now: datetime) -> int:
    cutoff = now - reopen_window()
    stale = list(db.session.scalars(select(Ticket.id).where(
        Ticket.status == TicketStatus.SOLVED, Ticket.solved_at < cutoff)))
    closed = 0
    for ticket_id in stale:
        try:
            close(ticket_id, actor=Actor.system())
        except TicketError:
            db.session.rollback()
            continue
        closed += 1
    return closed
