"""Opening a ticket: validate, route, save, then tell the requester (and the agent)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email

from portal.accounts import services as accounts
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db
from portal.tickets import articles, limits, moods, notify, sla
from portal.tickets.assigning import notify_assigned
from portal.tickets.common import (
    MAX_NAME,
    MAX_SUBJECT,
    NUMBER_OFFSET,
    Actor,
    TicketRef,
    audit,
    clean_body,
    clean_line,
    customer_url,
    next_due_for,
    parse_enum,
    ref_of,
)
from portal.tickets.dispatch import route
from portal.tickets.errors import TicketError
from portal.tickets.hooks import TicketChange, changed
from portal.tickets.models import Ticket, TicketPriority, TicketSource, TicketStatus

log = logging.getLogger(__name__)
NO_EMAIL = "Please give an email address where we can reach you."


def blank_field_errors(*, subject: str, description: str,
                       requester_email: str | None = None,
                       email_required: bool = False) -> dict[str, str]:
    """Every required field left empty, each with the message create_ticket gives for it:
    a form names them all at once instead of one per attempt."""
    errors: dict[str, str] = {}
    if email_required and not (requester_email or "").strip():
        errors["email"] = NO_EMAIL
    for check in (lambda: _subject(subject), lambda: _description(description)):
        try:
            check()
        except TicketError as exc:
            errors[exc.field] = exc.message
    return errors


def _description(raw: str) -> str:
    return clean_body(raw, "description", "a description of the problem")


def _subject(raw: str) -> str:
    subject = clean_line(raw)
    if not subject:
        raise TicketError("subject", "Please give your ticket a subject.")
    if len(subject) > MAX_SUBJECT:
        raise TicketError("subject", f"Keep the subject under {MAX_SUBJECT} characters.")
    return subject


def create_ticket(*, subject: str, description: str, requester_id: int | None,
                  requester_email: str | None, requester_name: str | None = None,
                  category: str | None = None, priority: str = "normal", source: str = "form",
                  conversation_id: int | None = None, article_slugs: Sequence[str] = (),
                  transcript: str | None = None, visitor_id: str | None = None,
                  form_id: str | None = None, client_ip: str | None = None) -> TicketRef:
    """Open a ticket. `client_ip` is the address of the web request that asks for it: an
    anonymous web request is counted against the per-browser and per-address limits."""
    subject = _subject(subject)
    description = _description(description)
    priority_value = parse_enum(TicketPriority, priority, "priority", "Priority")
    source_value = parse_enum(TicketSource, source, "source", "Source")
    category = clean_line(category) or None
    if category:
        known = {slug for slug, _name in articles.category_choices()}
        if len(category) > 100 or (known and category not in known):
            raise TicketError("category", "Please choose a topic from the list.")

    name = clean_line(requester_name)[:MAX_NAME]
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
            raise TicketError("email", NO_EMAIL) from None
        name = name or email.split("@")[0]

    # Counted only once the form is valid, so correcting a typo costs nothing.
    if requester_id is None and client_ip is not None:
        limits.count_anonymous_ticket(visitor_id, client_ip)

    mood = moods.score(f"{subject}\n{description}")
    # A changed rule file is activated here, saved with the ticket in one transaction.
    routed = route(subject=subject, description=description, category=category,
                   source=str(source_value), requester_email=email, priority=str(priority_value),
                   sentiment=mood.label if mood else None)
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
        sentiment=mood.label if mood else None, sentiment_score=mood.score if mood else None,
        sentiment_why=mood.why if mood else "",
        created_at=now, updated_at=now,
        first_response_due=now + due.first_response, resolution_due=now + due.resolution,
        # Only a signed-in requester has proved the address; anyone else has typed it.
        requester_verified_at=now if requester_id is not None else None,
        version=1,
    )
    ticket.next_due = next_due_for(ticket.status, None, ticket.first_response_due,
                                   ticket.resolution_due)
    db.session.add(ticket)
    db.session.flush()
    ticket.number = NUMBER_OFFSET + ticket.id
    actor = Actor(requester_id, name)
    audit(ticket.id, actor, "created", new=str(ticket.status), source=str(source_value))
    if routed.fired or routed.team_id or routed.notes or routed.loop:
        where = " ".join(part for part in (routed.team_name, routed.tier_label) if part)
        audit(ticket.id, Actor.routing(), "routed", None,
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
    ref = ref_of(ticket)
    values = {"name": name, "number": ticket.number, "subject": subject,
              "reply_target": _human_target(due.first_response),
              "url": customer_url(ticket, external=True), "message": description}
    notify.send_words(email, "acknowledgement", values, ticket_number=ticket.number,
                      answerable=True)
    if routed.assignee_id is not None:
        notify_assigned(ticket, routed.assignee_id, "Routing")
    changed(TicketChange.CUSTOMER_WROTE, ticket.id)
    return ref


def _human_target(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"within {int(delta.total_seconds() // 60)} minutes"
    if hours <= 48:
        return f"within {hours:g} hours"
    return f"within {hours / 24:g} days"
