"""The append-only event stream every service writes to and the metrics read.

It lives outside `portal.metrics` because everything emits events while nothing
may import the metrics package.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import Base, db

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    USER_REGISTERED = "user_registered"
    USER_SIGNED_IN = "user_signed_in"
    SEARCH = "search"
    SEARCH_CLICK = "search_click"
    ARTICLE_VIEW = "article_view"
    ARTICLE_VOTE = "article_vote"
    CHAT_STARTED = "chat_started"
    ANSWER_GIVEN = "answer_given"
    CHAT_FEEDBACK = "chat_feedback"
    RESOLUTION_CONFIRMED = "resolution_confirmed"
    HANDOFF = "handoff"
    TICKET_FORM_OPENED = "ticket_form_opened"
    TICKET_FORM_SUGGESTIONS = "ticket_form_suggestions"
    TICKET_CREATED = "ticket_created"
    TICKET_FIRST_RESPONSE = "ticket_first_response"
    TICKET_SOLVED = "ticket_solved"
    TICKET_REOPENED = "ticket_reopened"
    TICKET_CLOSED = "ticket_closed"
    TICKET_ASSIGNED = "ticket_assigned"
    TICKET_ESCALATED = "ticket_escalated"
    CSAT = "csat"
    COPILOT_DRAFT_SHOWN = "copilot_draft_shown"  # a drafted reply was put on a ticket page
    COPILOT_DRAFT = "copilot_draft"  # an agent used, edited or discarded a drafted reply
    ANSWER_REVIEWED = "answer_reviewed"


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_kind_occurred_at", "kind", "occurred_at"),
        Index("ix_event_visitor_occurred_at", "visitor_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    article_slug: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def emit(
    kind: EventKind,
    *,
    commit: bool = False,
    occurred_at: datetime | None = None,
    visitor_id: str | None = None,
    user_id: int | None = None,
    conversation_id: int | None = None,
    ticket_id: int | None = None,
    article_slug: str | None = None,
    category: str | None = None,
    **data: Any,
) -> None:
    """Record an event in the caller's transaction (or its own, with commit=True).

    An event that cannot be written is logged and dropped: analytics must never
    cost a customer their request.
    """
    event = Event(
        kind=str(kind),
        occurred_at=occurred_at or utcnow(),
        visitor_id=visitor_id,
        user_id=user_id,
        conversation_id=conversation_id,
        ticket_id=ticket_id,
        article_slug=article_slug,
        category=category,
        data=data,
    )
    if not commit:
        db.session.add(event)
        return
    try:
        db.session.add(event)
        db.session.commit()
    except Exception:  # noqa: BLE001 - see docstring
        db.session.rollback()
        log.warning("could not record %s event", kind, exc_info=True)
