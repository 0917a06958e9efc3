"""Who asked: an anonymous requester's address is a claim until the link mailed to it is used.

The web form, the chat hand-off and a mail's From header all take an address on trust,
so a ticket starts unverified and belongs to no account. Opening the tracking link proves
the opener reads that mailbox: the ticket is then verified and, when an account has proved
the same address, it becomes that account's ticket.
"""

from __future__ import annotations

from sqlalchemy import select, update

from portal.accounts import services as accounts
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import links
from portal.tickets.common import Actor, audit
from portal.tickets.models import Ticket


def ticket_from_tracking_token(token: str) -> Ticket:
    """The ticket a signed link opens; raises links.TrackingLinkError with a clear message."""
    ticket_id, email = links.read_token(token)
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.requester_email.lower() != email:
        raise links.TrackingLinkError("This tracking link is not valid.", expired=False)
    return ticket


def open_tracking_link(token: str) -> Ticket:
    """The ticket a signed link opens, its requester verified by this first use."""
    ticket = ticket_from_tracking_token(token)
    if ticket.requester_verified_at is None:
        _verify(ticket)
    return ticket


def _verify(ticket: Ticket) -> None:
    owner = _account_owning(ticket.requester_email) if ticket.requester_id is None else None
    values: dict[str, object] = {"requester_verified_at": utcnow(),
                                 "version": Ticket.version + 1}
    if owner is not None:
        values["requester_id"] = owner
    # Two first opens at once (a mail scanner and the person) verify it once.
    done = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.requester_verified_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False))
    if done.rowcount == 1:  # type: ignore[attr-defined]
        audit(ticket.id, Actor(None, ticket.requester_name), "requester_verified", None,
              ticket.requester_email, account_id=owner)
    db.session.commit()
    db.session.refresh(ticket)


def _account_owning(email: str) -> int | None:
    """The account whose holder proved this address; one that never did gets nothing, or
    registering someone else's address would collect their tickets."""
    user = accounts.find_user_by_email(email)
    if user is None or user.email_verified_at is None:
        return None
    return user.id


def submitted_ticket(number: int, visitor_id: str) -> Ticket | None:
    """The anonymous ticket this visitor (browser) sent, for the page that says to check the
    inbox; None for anyone else, so the page tells a stranger nothing."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None or ticket.requester_id is not None or ticket.visitor_id != visitor_id:
        return None
    return ticket
