"""What every ticket change shares: who acts, input checks, the audit row, and the
optimistic write.

Each change reads the ticket, validates, and writes with
`UPDATE ... WHERE id = :id AND version = :read_version`; when another request won
the race the change is re-validated on fresh data and retried, so concurrent
changes are either both kept or the loser is told why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import update

from portal.accounts import services as accounts
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import links, teams
from portal.tickets.errors import ConflictError, TicketError
from portal.tickets.models import ACTIVE_STATUSES, Ticket, TicketAudit, TicketStatus
from portal.tickets.teams import AGENT_ROLES

MAX_SUBJECT = 200
MAX_NAME = 120
NUMBER_OFFSET = 10_000
RETRIES = 5
DEFAULT_MAX_MESSAGE_CHARS = 20_000
DEFAULT_REOPEN_DAYS = 7


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

@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def clean_line(value: str | None) -> str:
    return " ".join((value or "").split())


def max_message_chars() -> int:
    return int(current_app.config.get("TICKET_MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS))


def clean_body(value: str | None, field: str, what: str) -> str:
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


def parse_enum(kind: Any, value: Any, field: str, label: str) -> Any:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        options = ", ".join(member.value for member in kind)
        raise TicketError(field, f"{label} must be one of: {options}.") from None


def reopen_window() -> timedelta:
    return timedelta(days=float(current_app.config.get("TICKET_REOPEN_DAYS", DEFAULT_REOPEN_DAYS)))


def next_due_for(status: TicketStatus, first_responded_at: datetime | None,
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
    return absolute_url(path) if external else path


def staff_url(ticket: Ticket) -> str:
    """The ticket's page for agents, as a full link for a mail."""
    return absolute_url(f"/tickets/{ticket.number}")


def absolute_url(path: str) -> str:
    # BASE_URL, never the request's Host header: mails are also sent from the sweep, with
    # no request, and a forged Host must not reach a mail.
    return current_app.config["BASE_URL"].rstrip("/") + path


def ref_of(ticket: Ticket) -> TicketRef:
    """The new ticket's number and where its requester goes next.

    Right after submitting, an anonymous requester is sent to the page that says to check
    their inbox, never to the tracking link: the address they typed may be someone else's.
    """
    number = ticket.number or NUMBER_OFFSET + ticket.id
    if ticket.requester_id is None:
        return TicketRef(ticket.id, number, f"/tickets/sent/{number}")
    return TicketRef(ticket.id, number, customer_url(ticket))


def audit(ticket_id: int, actor: Actor, action: str, old: Any = None, new: Any = None,
          **detail: Any) -> None:
    db.session.add(TicketAudit(
        ticket_id=ticket_id, actor_id=actor.id, actor_name=actor.name, action=action,
        old_value=None if old is None else str(old)[:200],
        new_value=None if new is None else str(new)[:200], detail=detail,
    ))


def agent_names() -> dict[int, str]:
    return {user.id: user.name for user in accounts.users_with_role(*AGENT_ROLES)}


def team_slug(team_id: int | None) -> str:
    team = teams.team_by_id(team_id)
    return team.slug if team is not None else ""


Change = Callable[[Ticket, datetime], dict[str, Any]]
AfterChange = Callable[[Ticket, dict[str, Any], datetime], None]


def apply_change(ticket_id: int, compute: Change, after: AfterChange) -> Ticket:
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


def run_bulk(ticket_ids: Sequence[int], action: Callable[[int], Any]) -> BulkResult:
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
