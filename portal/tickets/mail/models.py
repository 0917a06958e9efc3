"""What arrived by email: one row per message (for idempotency and counts), and attachments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, DateTime, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import Base


class MailOutcome(StrEnum):
    PENDING = "pending"  # claimed by a fetch or the listener, not finished yet
    CREATED = "created"  # became a new ticket
    REPLIED = "replied"  # added to the ticket its reply token names
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LOOP = "loop"
    REJECTED = "rejected"  # no usable sender, or the ticket service refused it



def _enum(kind: type[StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, length=20,
                values_callable=lambda members: [m.value for m in members])


class InboundMail(Base):
    __tablename__ = "ticket_inbound_mail"
    __table_args__ = (Index("ix_ticket_inbound_mail_outcome_received", "outcome", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The sender's Message-ID (or a digest of the message when it has none): the same
    # message fetched twice, or delivered by IMAP and SMTP both, is processed once.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    transport: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[MailOutcome] = mapped_column(_enum(MailOutcome, "ticket_mail_outcome"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_ticket.id"), index=True)
    # HTML bodies are kept only after sanitising; the ticket shows the text made from it.
    html_body: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TicketAttachment(Base):
    __tablename__ = "ticket_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id"), index=True)
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_inbound_mail.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    # Relative to the instance folder; NULL when the file was listed but not kept.
    stored_path: Mapped[str | None] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def kept(self) -> bool:
        return self.stored_path is not None
