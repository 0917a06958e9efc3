"""The append-only event stream every service writes to and the metrics read.

It lives outside `portal.metrics` because everything emits events while nothing
may import the metrics package.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import datetime
from enum import StrEnum
from typing import Any

from flask import Flask, current_app
from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, insert
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


def event_row(
    kind: EventKind,
    *,
    occurred_at: datetime | None = None,
    visitor_id: str | None = None,
    user_id: int | None = None,
    conversation_id: int | None = None,
    ticket_id: int | None = None,
    article_slug: str | None = None,
    category: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """An event's columns: the named ones, and everything else in `data`."""
    return {
        "kind": str(kind), "occurred_at": occurred_at or utcnow(), "visitor_id": visitor_id,
        "user_id": user_id, "conversation_id": conversation_id, "ticket_id": ticket_id,
        "article_slug": article_slug, "category": category, "data": data,
    }


def emit(kind: EventKind, *, commit: bool = False, **fields: Any) -> None:
    """Record an event (`event_row`) in the caller's transaction (or its own, with
    commit=True).

    An event that cannot be written is logged and dropped: analytics must never
    cost a customer their request.
    """
    event = Event(**event_row(kind, **fields))
    if not commit:
        db.session.add(event)
        return
    try:
        db.session.add(event)
        db.session.commit()
    except Exception:  # noqa: BLE001 - see docstring
        db.session.rollback()
        log.warning("could not record %s event", kind, exc_info=True)


def emit_batched(kind: EventKind, **fields: Any) -> None:
    """Record an event no one waits for (`event_row`), with the process's other such events
    in one transaction at most `SEARCH_EVENT_BATCH_SECONDS` later (at once when that is 0).

    A process killed outright loses the events of that last moment; one that exits
    normally writes them first. Like `emit`, an event that cannot be written is dropped.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    interval = float(app.config.get("SEARCH_EVENT_BATCH_SECONDS", 0) or 0)
    if interval <= 0:
        emit(kind, commit=True, **fields)
        return
    writer = app.extensions.get("portal.event_batches")
    if writer is None:
        writer = app.extensions.setdefault("portal.event_batches", EventBatches(app, interval))
    writer.add(event_row(kind, **fields))


def flush_batched_events(app: Flask) -> int:
    """Write the events waiting in this process now; returns how many were written."""
    writer: EventBatches | None = app.extensions.get("portal.event_batches")
    return writer.flush() if writer is not None else 0


class EventBatches:
    """Events queued in this process, written by one thread every `interval` seconds in a
    single INSERT.

    Each search's event used to be written after its response in its own transaction: in
    a web worker that unit of work (0.6 ms of CPU) and disk sync ran beside the next
    search; 70 events in one batch cost 1.4 ms in all (docs/kb.md, "Performance of
    questions in the search box").
    """

    # Events waiting for the writer, beyond which the oldest are dropped (a stalled writer
    # must not grow a web worker without bound).
    MAX_WAITING = 10_000

    def __init__(self, app: Flask, interval: float) -> None:
        self.app, self.interval = app, interval
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        atexit.register(self.flush)

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits the queue but not the thread that writes it.
                self._pid, self._thread, self._rows = os.getpid(), None, []
            self._rows.append(row)
            if len(self._rows) > self.MAX_WAITING:
                del self._rows[: len(self._rows) - self.MAX_WAITING]
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_periodically,
                                                name="event-batches", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        with self.app.app_context():
            try:
                db.session.execute(insert(Event), rows)
                db.session.commit()
            except Exception:  # noqa: BLE001 - analytics never fail a request (see emit)
                db.session.rollback()
                log.warning("could not record %d batched events", len(rows), exc_info=True)
                return 0
        return len(rows)

    def _write_periodically(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()
