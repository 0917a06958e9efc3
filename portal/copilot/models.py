"""What the copilot showed an agent for one state of a ticket, and what the agent did with it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import Base


class DraftOutcome(StrEnum):
    USED = "used"  # sent as drafted
    EDITED = "edited"  # sent after the agent changed it
    DISCARDED = "discarded"  # thrown away, or the agent replied without it


class CopilotDraft(Base):
    """One row per ticket and latest customer message: the cache the ticket page reads
    (computed when first opened) and the record of the draft's fate."""

    __tablename__ = "copilot_draft"
    __table_args__ = (UniqueConstraint("ticket_id", "basis"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id"))
    # Which customer message it was computed for ("m<id>" or "d" for the description) and a
    # digest of the text, so an edited KB or message never serves a stale draft.
    basis: Mapped[str] = mapped_column(String(80))
    summary: Mapped[str] = mapped_column(Text)
    articles: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    draft: Mapped[str] = mapped_column(Text)
    # Per customer message: [label, score, why], in thread order.
    moods: Mapped[list[list[Any]]] = mapped_column(JSON)
    # [ticket id, cosine] of the closest solved tickets when it was computed; None when the
    # search was down then (the next open looks again).
    similar: Mapped[list[list[Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    # How much of the draft the agent rewrote (0 = sent as is, 1 = nothing kept).
    changed_share: Mapped[float | None] = mapped_column(Float)
