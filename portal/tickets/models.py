"""Tickets, their thread, their audit trail and their satisfaction rating."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Base


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketSource(StrEnum):
    CHAT = "chat"
    FORM = "form"
    EMAIL = "email"


class Assignment(StrEnum):
    """How a team hands out its new tickets."""

    MANUAL = "manual"  # agents claim them from the queue
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


# What a team's short name may look like (routing rules and the CLI use it).
# \Z, not $: "$" also matches before a final newline.
TEAM_SLUG = re.compile(r"\A[a-z0-9][a-z0-9-]{0,39}\Z")

# Support tiers, lowest first; a ticket's `tier` is an index into this (1-based).
TIERS = ("L1", "L2", "L3")


def tier_label(tier: int | None) -> str:
    return TIERS[(tier or 1) - 1] if 1 <= (tier or 1) <= len(TIERS) else f"L{tier}"


class MessageKind(StrEnum):
    REPLY = "reply"  # public: the requester sees it
    NOTE = "note"  # internal: agents only


# Which status may follow which. Reopening (solved -> open) is further limited
# by the reopen window for customers; closed is final.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset(
        {TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.CLOSED}
    ),
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.CLOSED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.SOLVED, TicketStatus.CLOSED}),
    TicketStatus.SOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}
ACTIVE_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
PRIORITY_ORDER = (
    TicketPriority.LOW, TicketPriority.NORMAL, TicketPriority.HIGH, TicketPriority.URGENT
)


def _enum(kind: type[StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, length=20,
                values_callable=lambda members: [m.value for m in members])


class Ticket(Base):
    __tablename__ = "ticket_ticket"
    __table_args__ = (
        # The queue's default view: active tickets by their next deadline.
        Index("ix_ticket_ticket_next_due_id", "next_due", "id"),
        Index("ix_ticket_ticket_assignee_next_due", "assignee_id", "next_due"),
        Index("ix_ticket_ticket_status_updated", "status", "updated_at"),
        Index("ix_ticket_ticket_requester_updated", "requester_id", "updated_at"),
        Index("ix_ticket_ticket_team_next_due", "team_id", "next_due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Human-facing; set from the id right after insert so it is unique without a sequence.
    number: Mapped[int | None] = mapped_column(Integer, unique=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requester_email: Mapped[str] = mapped_column(String(254), index=True)
    requester_name: Mapped[str] = mapped_column(String(120), default="")
    # An anonymous requester's address is a claim until the tracking link mailed to it is
    # opened; signed-in requesters are verified when the ticket is made.
    requester_verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    priority: Mapped[TicketPriority] = mapped_column(
        _enum(TicketPriority, "ticket_priority"), default=TicketPriority.NORMAL
    )
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), default=TicketStatus.NEW
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    source: Mapped[TicketSource] = mapped_column(
        _enum(TicketSource, "ticket_source"), default=TicketSource.FORM
    )
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    form_id: Mapped[str | None] = mapped_column(String(64))
    # Articles the bot offered before the hand-off, and those agents linked later.
    bot_article_slugs: Mapped[list[str]] = mapped_column(JSON, default=list)
    linked_article_slugs: Mapped[list[str]] = mapped_column(JSON, default=list)
    transcript: Mapped[str | None] = mapped_column(Text)
    # Routing: the team that owns the ticket, its support tier (1 = L1) and free tags.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_team.id"))
    tier: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The latest customer message's tone (tickets/moods.py): "negative" marks the queue row
    # and routing rules can test it; `sentiment_why` holds the words that triggered it.
    sentiment: Mapped[str | None] = mapped_column(String(20))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    sentiment_why: Mapped[str] = mapped_column(String(300), default="", server_default="")

    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    first_response_due: Mapped[datetime] = mapped_column(DateTime)
    resolution_due: Mapped[datetime] = mapped_column(DateTime)
    # The deadline that matters now (first response, then resolution); NULL once solved.
    # Sorting by it puts breached tickets first without computing anything per row.
    next_due: Mapped[datetime | None] = mapped_column(DateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(DateTime)
    solved_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Every update is `... WHERE version = <read>`; a lost race is retried on fresh data.
    version: Mapped[int] = mapped_column(Integer, default=1)

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", lazy="raise_on_sql"
    )

    @property
    def is_anonymous(self) -> bool:
        return self.requester_id is None

    @property
    def requester_verified(self) -> bool:
        return self.requester_verified_at is not None


class TicketMessage(Base):
    __tablename__ = "ticket_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id"), index=True)
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind, "ticket_message_kind"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    author_name: Mapped[str] = mapped_column(String(120))
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")


class TicketAudit(Base):
    __tablename__ = "ticket_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TicketRating(Base):
    __tablename__ = "ticket_rating"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id"), unique=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Team(Base):
    __tablename__ = "ticket_team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What routing rules and the CLI name the team by; the name is for people.
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    # Unmatched tickets go to the default team (at most one).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    assignment: Mapped[Assignment] = mapped_column(
        _enum(Assignment, "ticket_team_assignment"), default=Assignment.MANUAL
    )
    # Round-robin's position: the agent who got the team's last ticket.
    last_assigned_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AgentMembership(Base):
    """The team and tier of one agent (an agent belongs to one team at a time)."""

    __tablename__ = "ticket_agent"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id"), primary_key=True, autoincrement=False
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("ticket_team.id"), index=True)
    tier: Mapped[int] = mapped_column(SmallInteger, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RoutingRuleSet(Base):
    """Every rule file that passed validation; the newest row is the active one.

    Kept in the database so a broken file never leaves a restarted portal without
    the rules that last worked.
    """

    __tablename__ = "ticket_routing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(300), default="")
    activated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
