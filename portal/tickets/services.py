"""Tickets as the rest of the portal sees them: every change goes through here.

Each change reads the ticket, validates, and writes with
`UPDATE ... WHERE id = :id AND version = :read_version`; when another request won
the race the change is re-validated on fresh data and retried, so concurrent
changes are either both kept or the loser is told why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db
from portal.inputs import parse_int, parse_row_id
from portal.tickets import articles, links, notify, routing, sla, teams
from portal.tickets.errors import ConflictError, TicketError
from portal.tickets.models import (
    ACTIVE_STATUSES,
    PRIORITY_ORDER,
    TIERS,
    TRANSITIONS,
    MessageKind,
    Ticket,
    TicketAudit,
    TicketMessage,
    TicketPriority,
    TicketRating,
    TicketSource,
    TicketStatus,
    tier_label,
)
from portal.tickets.teams import (
    TeamInfo,
    create_team,
    list_teams,
    remove_membership,
    set_membership,
    team_choices,
    team_names,
    update_team,
)

log = logging.getLogger(__name__)

__all__ = [
    "Actor", "BulkResult", "ConflictError", "QueueFilters", "QueuePage", "SweepReport",
    "TicketError", "TicketRef", "TicketSummary", "add_note", "agent_choices", "assign",
    "bulk_assign", "bulk_status", "can_reopen", "change_priority", "change_status", "claim",
    "close", "create_ticket", "customer_url", "get_ticket", "link_article", "queue",
    "rate", "rating_for", "reopen", "reply", "requester_tickets", "sweep_slas", "thread",
    "ticket_from_tracking_token", "audit_trail",
    # teams, routing and escalation
    "RouteResult", "TeamInfo", "TIERS", "create_team", "escalate", "list_teams",
    "move_team", "remove_membership", "route", "routing_status", "set_membership",
    "team_choices", "team_names", "tier_label", "update_team",
]

MAX_SUBJECT = 200
MAX_NAME = 120
NUMBER_OFFSET = 10_000
RETRIES = 5
DEFAULT_MAX_MESSAGE_CHARS = 20_000
DEFAULT_REOPEN_DAYS = 7
AGENT_ROLES = (Role.AGENT, Role.ADMIN)


@dataclass(frozen=True)
class TicketRef:
    id: int
    number: int
    url: str


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in user, or an anonymous requester via their link."""

    id: int | None
    name: str
    staff: bool = False

    @classmethod
    def of(cls, user: Any) -> Actor:
        return cls(user.id, user.name, user.role in AGENT_ROLES)

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "SLA sweep", True)

    @classmethod
    def routing(cls) -> Actor:
        return cls(None, "Routing rules", True)


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


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepReport:
    breaches: int
    escalated: int
    closed: int


# --- validation helpers -----------------------------------------------------------


def _clean_line(value: str | None) -> str:
    return " ".join((value or "").split())


def max_message_chars() -> int:
    return int(current_app.config.get("TICKET_MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS))


def _clean_body(value: str | None, field: str, what: str) -> str:
    body = (value or "").replace("\r\n", "\n").strip()
    if not body:
        raise TicketError(field, f"Please write {what}.")
    limit = max_message_chars()
    if len(body) > limit:
        raise TicketError(
            field,
            f"That is too long: {what} can be at most {limit:,} characters and yours has "
            f"{len(body):,}. Please shorten it (long logs are best summarised).",
        )
    return body


def _parse_enum(kind: Any, value: Any, field: str, label: str) -> Any:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        options = ", ".join(member.value for member in kind)
        raise TicketError(field, f"{label} must be one of: {options}.") from None


def _reopen_window() -> timedelta:
    return timedelta(days=float(current_app.config.get("TICKET_REOPEN_DAYS", DEFAULT_REOPEN_DAYS)))


def _next_due(status: TicketStatus, first_responded_at: datetime | None,
              first_response_due: datetime, resolution_due: datetime) -> datetime | None:
    if status not in ACTIVE_STATUSES:
        return None
    if first_responded_at is None:
        return min(first_response_due, resolution_due)
    return resolution_due


def customer_url(ticket: Ticket, *, external: bool = False) -> str:
    """Where the requester follows the ticket: their page, or a signed link when anonymous."""
    if ticket.requester_id is None:
        path = f"/tickets/track/{links.make_token(ticket.id, ticket.requester_email)}"
    else:
        path = f"/tickets/{ticket.number}"
    if external:
        return current_app.config["BASE_URL"].rstrip("/") + path
    return path


def _ref(ticket: Ticket) -> TicketRef:
    return TicketRef(ticket.id, ticket.number or NUMBER_OFFSET + ticket.id, customer_url(ticket))


def _audit(ticket_id: int, actor: Actor, action: str, old: Any = None, new: Any = None,
           **detail: Any) -> None:
    db.session.add(TicketAudit(
        ticket_id=ticket_id, actor_id=actor.id, actor_name=actor.name, action=action,
        old_value=None if old is None else str(old)[:200],
        new_value=None if new is None else str(new)[:200], detail=detail,
    ))


# --- routing ----------------------------------------------------------------------


@dataclass(frozen=True)
class RouteResult:
    """Where a ticket goes: what the rules decided, and what became of it here."""

    team_id: int | None
    team_slug: str
    team_name: str
    tier: int
    priority: str
    assignee_id: int | None
    assignee_name: str
    tags: tuple[str, ...]
    fired: tuple[str, ...]
    # Why part of a decision could not be carried out (an unknown team or agent).
    notes: tuple[str, ...]
    loop: str
    auto_assigned: bool

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)


def routing_status(*, force: bool = False) -> routing.Status:
    """The rule file's state; a changed valid file becomes the active rules."""
    current = routing.status(force=force)
    db.session.commit()
    return current


def route(*, subject: str, description: str, category: str | None, source: str,
          requester_email: str, priority: str, dry_run: bool = False) -> RouteResult:
    """Apply the active routing rules to a ticket's facts (dry_run: change nothing)."""
    facts = routing.TicketFacts(subject, description, category, str(source),
                                requester_email.lower(), str(priority))
    decision = routing.evaluate(routing.active_rules(), facts)
    state = decision.state
    notes: list[str] = []
    team = None
    if state.team:
        team = teams.get_team(state.team)
        if team is None:
            notes.append(f"Team “{state.team}” does not exist: the default team takes it.")
    if team is None:
        team = teams.default_team()
    tier = state.tier or 1
    assignee_id: int | None = None
    if state.assignee:
        agent = accounts.find_user_by_email(state.assignee)
        if agent is None or agent.role not in AGENT_ROLES or not agent.active:
            notes.append(f"{state.assignee} is not an active agent: the ticket is not assigned.")
        else:
            assignee_id = agent.id
    auto = False
    if assignee_id is None and team is not None:
        assignee_id = teams.pick_assignee(team, tier, dry_run=dry_run)
        auto = assignee_id is not None
    tags = state.tags + (("routing-loop",) if decision.loop else ())
    return RouteResult(
        team_id=team.id if team else None, team_slug=team.slug if team else "",
        team_name=team.name if team else "", tier=tier, priority=state.priority,
        assignee_id=assignee_id,
        assignee_name=_agent_names().get(assignee_id, "") if assignee_id else "",
        tags=tags, fired=decision.fired, notes=tuple(notes), loop=decision.loop_message,
        auto_assigned=auto,
    )


def _team_slug(team_id: int | None) -> str:
    team = teams.team_by_id(team_id)
    return team.slug if team is not None else ""


# --- creating ---------------------------------------------------------------------


def create_ticket(*, subject: str, description: str, requester_id: int | None,
                  requester_email: str | None, requester_name: str | None = None,
                  category: str | None = None, priority: str = "normal", source: str = "form",
                  conversation_id: int | None = None, article_slugs: Sequence[str] = (),
                  transcript: str | None = None, visitor_id: str | None = None,
                  form_id: str | None = None) -> TicketRef:
    subject = _clean_line(subject)
    if not subject:
        raise TicketError("subject", "Please give your ticket a subject.")
    if len(subject) > MAX_SUBJECT:
        raise TicketError("subject", f"Keep the subject under {MAX_SUBJECT} characters.")
    description = _clean_body(description, "description", "a description of the problem")
    priority_value = _parse_enum(TicketPriority, priority, "priority", "Priority")
    source_value = _parse_enum(TicketSource, source, "source", "Source")
    category = _clean_line(category) or None
    if category:
        known = {slug for slug, _name in articles.category_choices()}
        if len(category) > 100 or (known and category not in known):
            raise TicketError("category", "Please choose a topic from the list.")

    name = _clean_line(requester_name)[:MAX_NAME]
    if requester_id is not None:
        user = accounts.get_user(requester_id)
        if user is None:
            raise TicketError("requester", "That account no longer exists.")
        email, name = user.email, name or user.name
    else:
        try:
            email = validate_email((requester_email or "").strip(),
                                   check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            raise TicketError(
                "email", "Please give an email address where we can reach you."
            ) from None
        name = name or email.split("@")[0]

    # A changed rule file is activated here, saved with the ticket in one transaction.
    routed = route(subject=subject, description=description, category=category,
                   source=str(source_value), requester_email=email, priority=str(priority_value))
    priority_value = TicketPriority(routed.priority)
    now = utcnow()
    due = sla.targets(priority_value)
    ticket = Ticket(
        requester_id=requester_id, requester_email=email, requester_name=name,
        subject=subject, description=description, category=category,
        priority=priority_value, status=TicketStatus.NEW, source=source_value,
        conversation_id=conversation_id, visitor_id=visitor_id, form_id=form_id,
        bot_article_slugs=[str(slug) for slug in dict.fromkeys(article_slugs) if slug][:20],
        linked_article_slugs=[], transcript=transcript or None,
        team_id=routed.team_id, tier=routed.tier, tags=list(routed.tags),
        assignee_id=routed.assignee_id,
        created_at=now, updated_at=now,
        first_response_due=now + due.first_response, resolution_due=now + due.resolution,
        version=1,
    )
    ticket.next_due = _next_due(ticket.status, None, ticket.first_response_due,
                                ticket.resolution_due)
    db.session.add(ticket)
    db.session.flush()
    ticket.number = NUMBER_OFFSET + ticket.id
    actor = Actor(requester_id, name)
    _audit(ticket.id, actor, "created", new=str(ticket.status), source=str(source_value))
    if routed.fired or routed.team_id or routed.notes or routed.loop:
        where = " ".join(part for part in (routed.team_name, routed.tier_label) if part)
        _audit(ticket.id, Actor.routing(), "routed", None,
               where + (f", {routed.assignee_name}" if routed.assignee_name else ""),
               rules=list(routed.fired), notes=list(routed.notes), loop=routed.loop,
               tags=list(routed.tags))
    if routed.loop:
        log.warning("ticket %s: %s", ticket.number, routed.loop)
    details: dict[str, Any] = {"source": str(source_value), "priority": str(priority_value),
                               "number": ticket.number, "team": routed.team_slug,
                               "tier": routed.tier, "agent_id": routed.assignee_id}
    if form_id:
        details["form_id"] = form_id
    emit(EventKind.TICKET_CREATED, ticket_id=ticket.id, conversation_id=conversation_id,
         visitor_id=visitor_id, user_id=requester_id, category=category, **details)
    db.session.commit()
    ref = _ref(ticket)
    notify.send(
        email, f"[#{ticket.number}] We received your request: {subject}",
        f"Hi {name},\n\nThanks for contacting Hearthly Support. Your ticket number is "
        f"#{ticket.number}; we aim to reply {_human_target(due.first_response)}.\n\n"
        f"Follow your ticket and reply here:\n{customer_url(ticket, external=True)}\n\n"
        f"Your message:\n{description}\n",
        ticket_number=ticket.number,
    )
    if routed.assignee_id is not None:
        _notify_assigned(ticket, routed.assignee_id, "Routing")
    return ref


def _human_target(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"within {int(delta.total_seconds() // 60)} minutes"
    if hours <= 48:
        return f"within {hours:g} hours"
    return f"within {hours / 24:g} days"


# --- reading ----------------------------------------------------------------------


def get_ticket(number: int) -> Ticket | None:
    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def ticket_from_tracking_token(token: str) -> Ticket:
    """The ticket a signed link opens; raises links.TrackingLinkError with a clear message."""
    ticket_id, email = links.read_token(token)
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.requester_email.lower() != email:
        raise links.TrackingLinkError("This tracking link is not valid.", expired=False)
    return ticket


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
    return (now or utcnow()) - ticket.solved_at <= _reopen_window()


def _agent_names() -> dict[int, str]:
    return {user.id: user.name for user in accounts.users_with_role(*AGENT_ROLES)}


def agent_choices() -> list[tuple[int, str]]:
    return sorted(_agent_names().items(), key=lambda item: item[1].lower())


def _summaries(tickets: Sequence[Any], now: datetime) -> list[TicketSummary]:
    names = _agent_names() if any(t.assignee_id for t in tickets) else {}
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
        )
        for t in tickets
    ]


_SUMMARY_COLUMNS = (
    Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.priority, Ticket.category,
    Ticket.requester_name, Ticket.requester_email, Ticket.assignee_id, Ticket.created_at,
    Ticket.updated_at, Ticket.next_due, Ticket.team_id, Ticket.tier,
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
        status = _parse_enum(TicketStatus, filters.status, "status", "Status")
        query = query.where(Ticket.status == status)
        ordered_by_due = status in ACTIVE_STATUSES
    else:
        ordered_by_due = False
    if filters.priority:
        query = query.where(Ticket.priority == _parse_enum(
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


# --- changing ---------------------------------------------------------------------

Change = Callable[[Ticket, datetime], dict[str, Any]]
AfterChange = Callable[[Ticket, dict[str, Any], datetime], None]


def _change(ticket_id: int, compute: Change, after: AfterChange) -> Ticket:
    """Apply `compute`'s column values if nobody changed the ticket since it was read."""
    for _attempt in range(RETRIES):
        ticket = db.session.get(Ticket, ticket_id, populate_existing=True)
        if ticket is None:
            raise TicketError("ticket", "That ticket does not exist.")
        now = utcnow()
        values = compute(ticket, now)
        values.setdefault("updated_at", now)
        values["version"] = ticket.version + 1
        result = db.session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.version == ticket.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            after(ticket, values, now)
            db.session.commit()
            db.session.refresh(ticket)
            return ticket
        db.session.rollback()
    raise ConflictError("ticket", "The ticket is being changed by someone else right now. "
                                  "Please try again.")


def _status_values(ticket: Ticket, new: TicketStatus, now: datetime,
                   first_responded_at: datetime | None = None) -> dict[str, Any]:
    responded = first_responded_at or ticket.first_responded_at
    values: dict[str, Any] = {
        "status": new,
        "next_due": _next_due(new, responded, ticket.first_response_due, ticket.resolution_due),
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
             team=_team_slug(ticket.team_id))
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
    text = _clean_body(body, "body", "a reply")
    target = _parse_enum(TicketStatus, then_status, "status", "Status") if then_status else None
    solved_before: dict[str, Any] = {}

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {}
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
            values["next_due"] = _next_due(ticket.status, first, ticket.first_response_due,
                                           ticket.resolution_due)
        solved_before["value"] = ticket.solved_at
        return values

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        db.session.add(TicketMessage(
            ticket_id=ticket.id, kind=MessageKind.REPLY, author_id=actor.id,
            author_name=actor.name, from_staff=actor.staff, body=text, created_at=now,
        ))
        _audit(ticket.id, actor, "reply", chars=len(text))
        if "first_responded_at" in values:
            emit(EventKind.TICKET_FIRST_RESPONSE, ticket_id=ticket.id,
                 seconds=int((now - ticket.created_at).total_seconds()),
                 sla_met=now <= ticket.first_response_due, agent_id=actor.id,
                 team=_team_slug(ticket.team_id))
        if "status" in values:
            _audit(ticket.id, actor, "status", ticket.status, values["status"])
            _status_events(ticket, ticket.status, values["status"], now, actor)

    ticket = _change(ticket_id, compute, after)
    if actor.staff:
        notify.send(
            ticket.requester_email, f"[#{ticket.number}] New reply: {ticket.subject}",
            f"Hi {ticket.requester_name},\n\n{actor.name} replied to your ticket:\n\n{text}\n\n"
            f"Reply or follow the ticket here:\n{customer_url(ticket, external=True)}\n",
            ticket_number=ticket.number,
        )
        if ticket.status == TicketStatus.SOLVED and solved_before.get("value") is None:
            _notify_solved(ticket)
    return ticket


def add_note(ticket_id: int, body: str, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("body", "Only agents can add internal notes.")
    text = _clean_body(body, "body", "a note")

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        db.session.add(TicketMessage(
            ticket_id=ticket.id, kind=MessageKind.NOTE, author_id=actor.id,
            author_name=actor.name, from_staff=True, body=text, created_at=now,
        ))
        _audit(ticket.id, actor, "note", chars=len(text))

    return _change(ticket_id, lambda ticket, now: {}, after)


def change_status(ticket_id: int, status: str, *, actor: Actor,
                  expected_status: str | None = None) -> Ticket:
    new = _parse_enum(TicketStatus, status, "status", "Status")
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
        _audit(ticket.id, actor, "status", ticket.status, new)
        _status_events(ticket, ticket.status, new, now, actor)

    ticket = _change(ticket_id, compute, after)
    if new == TicketStatus.SOLVED:
        _notify_solved(ticket)
    return ticket


def reopen(ticket_id: int, *, actor: Actor) -> Ticket:
    return change_status(ticket_id, TicketStatus.OPEN, actor=actor)


def close(ticket_id: int, *, actor: Actor) -> Ticket:
    return change_status(ticket_id, TicketStatus.CLOSED, actor=actor)


def _notify_solved(ticket: Ticket) -> None:
    url = customer_url(ticket, external=True)
    days = _reopen_window().days
    notify.send(
        ticket.requester_email, f"[#{ticket.number}] Solved: {ticket.subject}",
        f"Hi {ticket.requester_name},\n\nWe have marked your ticket as solved. If it is not, "
        f"reply within {days} days and it opens again.\n\nHow did we do? Rate us here "
        f"(the link opens a form; nothing is recorded until you press the button):\n"
        f"{url}/rate\n",
        ticket_number=ticket.number,
    )


def change_priority(ticket_id: int, priority: str, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("priority", "Only agents can change the priority.")
    new = _parse_enum(TicketPriority, priority, "priority", "Priority")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if ticket.priority == new:
            raise TicketError("priority", f"The priority is already {new}.")
        # Deadlines follow the new priority, measured from when the ticket arrived.
        due = sla.targets(new)
        first_due = ticket.created_at + due.first_response
        resolution_due = ticket.created_at + due.resolution
        return {
            "priority": new, "first_response_due": first_due, "resolution_due": resolution_due,
            "next_due": _next_due(ticket.status, ticket.first_responded_at, first_due,
                                  resolution_due),
        }

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        _audit(ticket.id, actor, "priority", ticket.priority, new)

    return _change(ticket_id, compute, after)


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
        holder = _agent_names().get(ticket.assignee_id or 0, "another agent")
        if ticket.assignee_id == actor.id:
            raise ConflictError("assignee", "You already have this ticket.")
        raise ConflictError("assignee", f"{holder} claimed this ticket first; it is theirs now.")
    _audit(ticket_id, actor, "claimed", None, actor.name)
    taken = db.session.execute(
        select(Ticket.category, Ticket.team_id).where(Ticket.id == ticket_id)).one()
    _assigned_event(ticket_id, taken.category, None, actor.id, taken.team_id, taken.team_id)
    db.session.commit()
    claimed = db.session.get(Ticket, ticket_id, populate_existing=True)
    if claimed is None:
        raise TicketError("ticket", "That ticket does not exist.")
    return claimed


def assign(ticket_id: int, assignee_id: int | None, *, actor: Actor) -> Ticket:
    if not actor.staff:
        raise TicketError("assignee", "Only agents can assign tickets.")
    names = _agent_names()
    if assignee_id is not None and assignee_id not in names:
        raise TicketError("assignee", "Tickets can only be assigned to agents.")

    def compute(ticket: Ticket, now: datetime) -> dict[str, Any]:
        if ticket.assignee_id == assignee_id:
            raise TicketError("assignee", "The ticket is already assigned that way.")
        return {"assignee_id": assignee_id}

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        _audit(ticket.id, actor, "assigned", names.get(ticket.assignee_id or 0),
               names.get(assignee_id or 0, "nobody"))
        _assigned_event(ticket.id, ticket.category, ticket.assignee_id, assignee_id,
                        ticket.team_id, ticket.team_id)

    ticket = _change(ticket_id, compute, after)
    if assignee_id is not None and assignee_id != actor.id:
        _notify_assigned(ticket, assignee_id, actor.name)
    return ticket


def _notify_assigned(ticket: Ticket, agent_id: int, by: str) -> None:
    agent = accounts.get_user(agent_id)
    if agent is None:
        return
    notify.send(
        agent.email, f"[#{ticket.number}] Assigned to you: {ticket.subject}",
        f"Hi {agent.name},\n\n{by} assigned ticket #{ticket.number} to you "
        f"({tier_label(ticket.tier)}).\n"
        f"Priority: {ticket.priority}; {sla.countdown(ticket.next_due, utcnow())}.\n\n"
        f"{current_app.config['BASE_URL'].rstrip('/')}/tickets/{ticket.number}\n",
    )


def _assigned_event(ticket_id: int, category: str | None, previous_agent: int | None,
                    agent: int | None, previous_team: int | None, team: int | None) -> None:
    """Who holds the ticket now; the metrics count open load and reassignments from it."""
    emit(EventKind.TICKET_ASSIGNED, ticket_id=ticket_id, category=category, agent_id=agent,
         previous_agent_id=previous_agent, team=_team_slug(team),
         previous_team=_team_slug(previous_team))


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
        _audit(ticket.id, actor, "team", names.get(ticket.team_id or 0, "no team"),
               names.get(team_id or 0, "no team"))
        _assigned_event(ticket.id, ticket.category, ticket.assignee_id,
                        values.get("assignee_id", ticket.assignee_id), ticket.team_id, team_id)

    return _change(ticket_id, compute, after)


MAX_REASON = 1000


def _escalation_values(ticket: Ticket) -> dict[str, Any]:
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


def _record_escalation(ticket: Ticket, values: dict[str, Any], now: datetime, actor: Actor,
                       reason: str, by: str) -> None:
    old, new = tier_label(ticket.tier), tier_label(values["tier"])
    _audit(ticket.id, actor, "escalated_tier", old, new, reason=reason, by=by)
    # The reason also goes into the thread, where the next tier starts reading.
    db.session.add(TicketMessage(
        ticket_id=ticket.id, kind=MessageKind.NOTE, author_id=actor.id, author_name=actor.name,
        from_staff=True, body=f"Escalated from {old} to {new}: {reason}", created_at=now,
    ))
    emit(EventKind.TICKET_ESCALATED, ticket_id=ticket.id, category=ticket.category,
         team=_team_slug(ticket.team_id), from_tier=ticket.tier, to_tier=values["tier"], by=by)
    if "assignee_id" in values:
        names = _agent_names()
        _audit(ticket.id, actor, "assigned", names.get(ticket.assignee_id or 0),
               names.get(values["assignee_id"] or 0, "nobody"))
        _assigned_event(ticket.id, ticket.category, ticket.assignee_id, values["assignee_id"],
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
        return _escalation_values(ticket)

    def after(ticket: Ticket, values: dict[str, Any], now: datetime) -> None:
        _record_escalation(ticket, values, now, actor, text, "agent")

    before = db.session.get(Ticket, ticket_id)
    previous = before.assignee_id if before is not None else None
    ticket = _change(ticket_id, compute, after)
    if ticket.assignee_id is not None and ticket.assignee_id not in (previous, actor.id):
        _notify_assigned(ticket, ticket.assignee_id, f"{actor.name} (escalation)")
    return ticket


def _bulk(ticket_ids: Sequence[int], action: Callable[[int], Any]) -> BulkResult:
    result = BulkResult()
    for ticket_id in dict.fromkeys(ticket_ids):
        try:
            action(ticket_id)
        except TicketError as exc:
            db.session.rollback()
            result.failed[ticket_id] = exc.message
        else:
            result.done.append(ticket_id)
    return result


def bulk_assign(ticket_ids: Sequence[int], assignee_id: int | None, *,
                actor: Actor) -> BulkResult:
    return _bulk(ticket_ids, lambda ticket_id: assign(ticket_id, assignee_id, actor=actor))


def bulk_status(ticket_ids: Sequence[int], status: str, *, actor: Actor) -> BulkResult:
    return _bulk(ticket_ids, lambda ticket_id: change_status(ticket_id, status, actor=actor))


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
        _audit(ticket.id, actor, "article_linked", None, slug)

    return _change(ticket_id, compute, after)


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
    _audit(ticket.id, actor, "rated", None, value)
    emit(EventKind.CSAT, ticket_id=ticket.id, category=ticket.category, score=value,
         source=str(ticket.source), agent_id=ticket.assignee_id, team=_team_slug(ticket.team_id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TicketError("score", "This ticket has already been rated. Thank you!") from None
    return rating


# --- SLA sweep --------------------------------------------------------------------


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
                values.update(_escalation_values(ticket))
            return values

        def after(ticket: Ticket, values: dict[str, Any], when: datetime,
                  kinds: list[str] = kinds) -> None:
            for kind in kinds:
                _audit(ticket.id, actor, "sla_breach", None, kind)
            if "priority" in values:
                _audit(ticket.id, actor, "escalated", ticket.priority, values["priority"])
            if "tier" in values:
                missed = " and ".join(kind.replace("_", " ") for kind in kinds)
                _record_escalation(ticket, values, when, actor,
                                   f"SLA breached ({missed} target missed).", "sla")

        ticket = _change(ticket_id, compute, after)
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
        notify.send(
            agent.email, f"[#{ticket.number}] SLA breached: {ticket.subject}",
            f"Hi {agent.name},\n\nTicket #{ticket.number} missed its {what} target and is now "
            f"{ticket.priority} priority.\n\n{current_app.config['BASE_URL'].rstrip('/')}"
            f"/tickets/{ticket.number}\n",
        )


def _close_long_solved(now: datetime) -> int:
    cutoff = now - _reopen_window()
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
