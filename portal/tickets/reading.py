"""Reading tickets: one ticket, its thread and history, a requester's list, the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from portal.clock import utcnow
from portal.extensions import db
from portal.inputs import parse_int, parse_row_id
from portal.tickets import sla, teams
from portal.tickets.common import agent_names, parse_enum, reopen_window
from portal.tickets.models import (
    ACTIVE_STATUSES,
    TIERS,
    MessageKind,
    Ticket,
    TicketAudit,
    TicketMessage,
    TicketPriority,
    TicketRating,
    TicketStatus,
    tier_label,
)
from portal.tickets.moods import NEGATIVE


@dataclass(frozen=True)
class TicketSummary:
    id: int
    number: int
    subject: str
    status: str
    priority: str
    category: str | None
    requester_name: str
    requester_email: str
    assignee_id: int | None
    assignee_name: str
    created_at: datetime
    updated_at: datetime
    next_due: datetime | None
    breached: bool
    due_soon: bool
    countdown: str
    team_name: str = ""
    tier: str = "L1"
    # False while an anonymous requester's address is only what they typed.
    requester_verified: bool = True
    # The customer's latest message reads frustrated or urgent; `mood_why` says which words.
    upset: bool = False
    mood_why: str = ""


@dataclass(frozen=True)
class QueueFilters:
    status: str = "active"  # "active", "all" or a status
    priority: str = ""
    category: str = ""
    assignee: str = ""  # "", "me", "none" or a user id
    due: str = ""  # "", "breached", "soon"
    team: str = ""  # "", "none" or a team id
    tier: str = ""  # "" or 1..3
    q: str = ""
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class QueuePage:
    tickets: list[TicketSummary]
    page: int
    has_next: bool
    breached_count: int
    due_soon_count: int


def get_ticket(number: int) -> Ticket | None:
    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def thread(ticket: Ticket, *, include_notes: bool) -> list[TicketMessage]:
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    if not include_notes:
        query = query.where(TicketMessage.kind == MessageKind.REPLY)
    return list(db.session.scalars(query.order_by(TicketMessage.id)))


def audit_trail(ticket: Ticket, limit: int = 50) -> list[TicketAudit]:
    return list(db.session.scalars(
        select(TicketAudit).where(TicketAudit.ticket_id == ticket.id)
        .order_by(TicketAudit.id.desc()).limit(limit)
    ))


def rating_for(ticket: Ticket) -> TicketRating | None:
    return db.session.scalar(select(TicketRating).where(TicketRating.ticket_id == ticket.id))


def can_reopen(ticket: Ticket, now: datetime | None = None) -> bool:
    if ticket.status != TicketStatus.SOLVED or ticket.solved_at is None:
        return False
    return (now or utcnow()) - ticket.solved_at <= reopen_window()


def agent_choices() -> list[tuple[int, str]]:
    return sorted(agent_names().items(), key=lambda item: item[1].lower())


def _summaries(tickets: Sequence[Any], now: datetime) -> list[TicketSummary]:
    names = agent_names() if any(t.assignee_id for t in tickets) else {}
    team_of = dict(teams.team_choices()) if any(t.team_id for t in tickets) else {}
    soon = now + sla.due_soon_window()
    return [
        TicketSummary(
            id=t.id, number=t.number, subject=t.subject, status=str(t.status),
            priority=str(t.priority), category=t.category, requester_name=t.requester_name,
            requester_email=t.requester_email, assignee_id=t.assignee_id,
            assignee_name=names.get(t.assignee_id, "") if t.assignee_id else "",
            created_at=t.created_at, updated_at=t.updated_at, next_due=t.next_due,
            breached=t.next_due is not None and t.next_due < now,
            due_soon=t.next_due is not None and now <= t.next_due <= soon,
            countdown=sla.countdown(t.next_due, now),
            team_name=team_of.get(t.team_id, "") if t.team_id else "",
            tier=tier_label(t.tier),
            requester_verified=t.requester_verified_at is not None,
            upset=t.sentiment == NEGATIVE, mood_why=t.sentiment_why or "",
        )
        for t in tickets
    ]


_SUMMARY_COLUMNS = (
    Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.priority, Ticket.category,
    Ticket.requester_name, Ticket.requester_email, Ticket.assignee_id, Ticket.created_at,
    Ticket.updated_at, Ticket.next_due, Ticket.team_id, Ticket.tier, Ticket.requester_verified_at,
    Ticket.sentiment, Ticket.sentiment_why,
)


def requester_tickets(user_id: int, limit: int = 100) -> list[TicketSummary]:
    rows = db.session.execute(
        select(*_SUMMARY_COLUMNS).where(Ticket.requester_id == user_id)
        .order_by(Ticket.updated_at.desc()).limit(limit)
    ).all()
    return _summaries(rows, utcnow())


def queue(filters: QueueFilters, *, viewer_id: int | None = None) -> QueuePage:
    now = utcnow()
    query = select(*_SUMMARY_COLUMNS)
    ordered_by_due = True
    if filters.status == "active":
        query = query.where(Ticket.next_due.is_not(None))
    elif filters.status and filters.status != "all":
        status = parse_enum(TicketStatus, filters.status, "status", "Status")
        query = query.where(Ticket.status == status)
        ordered_by_due = status in ACTIVE_STATUSES
    else:
        ordered_by_due = False
    if filters.priority:
        query = query.where(Ticket.priority == parse_enum(
            TicketPriority, filters.priority, "priority", "Priority"))
    if filters.category:
        query = query.where(Ticket.category == filters.category)
    if filters.assignee == "me" and viewer_id is not None:
        query = query.where(Ticket.assignee_id == viewer_id)
    elif filters.assignee == "none":
        query = query.where(Ticket.assignee_id.is_(None))
    elif (assignee_id := parse_row_id(filters.assignee)) is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if filters.team == "none":
        query = query.where(Ticket.team_id.is_(None))
    elif (team_id := parse_row_id(filters.team)) is not None:
        query = query.where(Ticket.team_id == team_id)
    if (tier := parse_int(filters.tier, minimum=1, maximum=len(TIERS))) is not None:
        query = query.where(Ticket.tier == tier)
    if filters.due == "breached":
        query = query.where(Ticket.next_due < now)
    elif filters.due == "soon":
        query = query.where(Ticket.next_due >= now, Ticket.next_due <= now + sla.due_soon_window())
    text = filters.q.strip()
    if text:
        number = text.lstrip("#")
        pattern = f"%{text.lower()}%"
        conditions: list[Any] = [func.lower(Ticket.subject).like(pattern),
                      func.lower(Ticket.requester_email).like(pattern)]
        # Ticket numbers are 32-bit integers: a longer number would overflow the column.
        if (wanted := parse_row_id(number)) is not None:
            conditions.append(Ticket.number == wanted)
        query = query.where(or_(*conditions))
    if ordered_by_due:
        # Due times ascending: breached tickets (deadline passed) come first by construction.
        query = query.order_by(Ticket.next_due, Ticket.id)
    else:
        query = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    page = max(1, filters.page)
    rows = db.session.execute(
        query.limit(filters.per_page + 1).offset((page - 1) * filters.per_page)
    ).all()
    breached = db.session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.next_due < now)) or 0
    soon = db.session.scalar(
        select(func.count()).select_from(Ticket)
        .where(Ticket.next_due >= now, Ticket.next_due <= now + sla.due_soon_window())) or 0
    return QueuePage(_summaries(rows[: filters.per_page], now), page,
                     len(rows) > filters.per_page, breached, soon)


# --- solved tickets, for reusing their fixes (the copilot's similar tickets) ---------------

SOLVED_STATUSES = (TicketStatus.SOLVED, TicketStatus.CLOSED)


def ticket_by_id(ticket_id: int) -> Ticket | None:
    return db.session.get(Ticket, ticket_id)


def tickets_by_ids(ticket_ids: Sequence[int]) -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).where(Ticket.id.in_(list(ticket_ids)))))


def solved_ticket_ids() -> list[int]:
    """Every solved or closed ticket an agent replied to, oldest first."""
    replied = select(TicketMessage.ticket_id).where(
        TicketMessage.kind == MessageKind.REPLY, TicketMessage.from_staff.is_(True))
    return list(db.session.scalars(select(Ticket.id).where(
        Ticket.status.in_(SOLVED_STATUSES), Ticket.id.in_(replied)).order_by(Ticket.id)))


def solved_with_replies(ticket_ids: Sequence[int]) -> list[tuple[Ticket, str]]:
    """Those of the tickets still solved or closed, each with the last reply an agent sent:
    the one that solved it (a ticket no agent replied to has none, and is left out)."""
    if not ticket_ids:
        return []
    solved = {t.id: t for t in db.session.scalars(select(Ticket).where(
        Ticket.id.in_(list(ticket_ids)), Ticket.status.in_(SOLVED_STATUSES)))}
    if not solved:
        return []
    replies: dict[int, str] = {}
    for ticket_id, body in db.session.execute(
            select(TicketMessage.ticket_id, TicketMessage.body)
            .where(TicketMessage.ticket_id.in_(list(solved)),
                   TicketMessage.kind == MessageKind.REPLY, TicketMessage.from_staff.is_(True))
            .order_by(TicketMessage.ticket_id, TicketMessage.id)):
        replies[int(ticket_id)] = str(body)
    return [(solved[i], replies[i]) for i in solved if i in replies]
