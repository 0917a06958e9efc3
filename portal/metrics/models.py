"""Rollups of the event stream: what the dashboard reads instead of a million events.

They are derived data: `portal metrics rebuild` drops and recomputes them from
the event table at any time.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import Base


class RollupState(Base):
    """How far the rollups have read the event table (its high-water mark)."""

    __tablename__ = "metrics_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class DailyCount(Base):
    """Events counted per day, metric, category and key (a query, a slug, a topic)."""

    __tablename__ = "metrics_daily"
    __table_args__ = (UniqueConstraint("metric", "day", "category", "key",
                                       name="uq_metrics_daily_metric_day_category_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(100), default="")
    key: Mapped[str] = mapped_column(String(200), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)


class ConversationRollup(Base):
    """One conversation's facts and its current outcome (recomputed when a late ticket comes)."""

    __tablename__ = "metrics_conversation"
    __table_args__ = (
        Index("ix_metrics_conversation_person", "person", "anchor"),
        Index("ix_metrics_conversation_visitor", "visitor_id", "anchor"),
    )

    conversation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    day: Mapped[date] = mapped_column(Date)
    anchor: Mapped[datetime] = mapped_column(DateTime)
    category: Mapped[str] = mapped_column(String(100), default="")
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    person: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(20))
    durable: Mapped[bool] = mapped_column(Boolean, default=False)


class CitationRollup(Base):
    """An article the bot cited in a conversation, with that conversation's outcome."""

    __tablename__ = "metrics_citation"

    conversation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(100), default="")
    outcome: Mapped[str] = mapped_column(String(20))


class TicketRollup(Base):
    __tablename__ = "metrics_ticket"
    __table_args__ = (
        Index("ix_metrics_ticket_person", "person", "created_at"),
        Index("ix_metrics_ticket_visitor", "visitor_id", "created_at"),
    )

    ticket_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    category: Mapped[str] = mapped_column(String(100), default="")
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    person: Mapped[str | None] = mapped_column(String(80))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_day: Mapped[date | None] = mapped_column(Date)
    csat_bot: Mapped[bool | None] = mapped_column(Boolean)
    # Who holds the ticket now (for open load), and whom its latest rating was for.
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(40), default="", server_default="")
    csat_agent_id: Mapped[int | None] = mapped_column(Integer)
    csat_team: Mapped[str | None] = mapped_column(String(40))


class TicketSample(Base):
    """One first response or solve: its duration and whether it met its SLA."""

    __tablename__ = "metrics_ticket_sample"
    __table_args__ = (
        Index("ix_metrics_ticket_sample_metric_day", "metric", "day", "category", "sla_met"),
        # Walked in order of duration to read a percentile without sorting.
        Index("ix_metrics_ticket_sample_metric_seconds", "metric", "seconds", "day", "category"),
        # The same walk for one agent's or one team's median.
        Index("ix_metrics_ticket_sample_agent_seconds", "metric", "agent_id", "seconds", "day",
              "category"),
        Index("ix_metrics_ticket_sample_team_seconds", "metric", "team", "seconds", "day",
              "category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(100), default="")
    seconds: Mapped[float] = mapped_column(Float)
    sla_met: Mapped[bool | None] = mapped_column(Boolean)
    # The agent credited (who replied first; who held the ticket when it was solved).
    agent_id: Mapped[int | None] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(40), default="", server_default="")


class SearchRollup(Base):
    """Which searches were clicked, so a click is counted once against its search."""

    __tablename__ = "metrics_search"

    search_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    query: Mapped[str] = mapped_column(String(200))
    had_results: Mapped[bool] = mapped_column(Boolean)
    clicked: Mapped[bool] = mapped_column(Boolean, default=False)


class FormRollup(Base):
    """One opening of the new-ticket form: were suggestions shown, did a ticket follow?"""

    __tablename__ = "metrics_form"
    __table_args__ = (
        Index("ix_metrics_form_day", "day"),
        Index("ix_metrics_form_opened_at", "opened_at"),
        Index("ix_metrics_form_visitor", "visitor_id", "opened_at"),
        Index("ix_metrics_form_person", "person", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[str | None] = mapped_column(String(64), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    day: Mapped[date] = mapped_column(Date)
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    person: Mapped[str | None] = mapped_column(String(80))
    suggested: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_followed: Mapped[bool] = mapped_column(Boolean, default=False)


class ActorDay(Base):
    """Who was active on a day, per role: self-service browsers and ticket customers."""

    __tablename__ = "metrics_actor"
    __table_args__ = (
        UniqueConstraint("role", "category", "day", "actor",
                         name="uq_metrics_actor_role_category_day_actor"),
        # A sign-in re-keys a browser's rows to its account.
        Index("ix_metrics_actor_actor", "actor"),
        # Finds an actor's previous day when prev_day is recomputed.
        Index("ix_metrics_actor_role_category_actor_day", "role", "category", "actor", "day"),
        # Counting distinct actors in a range is a count over this index (see prev_day).
        Index("ix_metrics_actor_role_category_day_prev", "role", "category", "day", "prev_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    # Every activity has a row under "*" (what unfiltered figures count) and, when
    # it has a category, one under that category (what a category filter counts).
    category: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(80))
    # The actor's latest earlier day under the same role and category (None: first day).
    # An actor is active in [a, b] exactly once with a row in [a, b] whose prev_day is
    # None or before a, so a distinct count becomes a plain indexed count instead of a
    # DISTINCT over every row of the range (the dashboard's slowest query before).
    prev_day: Mapped[date | None] = mapped_column(Date)


class IdentityLink(Base):
    """The account a browser first signed in with."""

    __tablename__ = "metrics_identity"

    visitor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)


class AnswerReview(Base):
    """A manager's verdict on one conversation's bot answer (each conversation once).

    Unlike the rollups this is primary data: the ANSWER_REVIEWED event records the same
    verdict in the event stream, and the unique conversation id stops a second review.
    """

    __tablename__ = "answer_review"
    __table_args__ = (Index("ix_answer_review_day_category", "day", "category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer, unique=True)
    # The conversation's day and category, so figures filter reviews like the chats.
    day: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(100), default="")
    # What the sample drew it as: confirmed, assumed or suggested.
    stratum: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    cited: Mapped[list[str]] = mapped_column(JSON, default=list)
    reviewer_id: Mapped[int | None] = mapped_column(Integer)
    reviewed_at: Mapped[datetime] = mapped_column(DateTime)
