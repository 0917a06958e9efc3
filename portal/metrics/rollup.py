"""Keeps the rollup tables in step with the event table.

`refresh()` reads the events above the high-water mark in id order and folds
them in. Conversation outcomes are recomputed (with `definitions`) whenever an
event could change them: the conversation's own events, a later ticket from the
same customer inside the 7-day window, or a sign-in that ties a browser to an
account. Two refreshes at once are safe: each claims its range of events by
moving the high-water mark in the same transaction, and the loser rolls back.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from portal.clock import utcnow
from portal.events import Event
from portal.extensions import db
from portal.metrics.models import (
    RollupState,
)
from portal.metrics.records import EventRecord
from portal.metrics.rollup_batch import Batch
from portal.metrics.rollup_tables import EVENT_COLUMNS, ROLLUP_TABLES, table_of

log = logging.getLogger(__name__)

BATCH_SIZE = 5000


def refresh(*, max_events: int | None = None) -> int:
    """Fold new events into the rollups; returns how many were read."""
    settle = float(current_app.config.get("METRICS_SETTLE_SECONDS", 5))
    total = 0
    while max_events is None or total < max_events:
        done = _refresh_batch(settle)
        if done <= 0:
            break
        total += done
    return total


def _refresh_batch(settle_seconds: float) -> int:
    state = db.session.get(RollupState, 1)
    if state is None:
        try:
            db.session.add(RollupState(id=1, last_event_id=0))
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
        state = db.session.get(RollupState, 1)
    last_seen = state.last_event_id if state is not None else 0
    db.session.commit()

    now = utcnow()
    cutoff = now - timedelta(seconds=settle_seconds)
    rows = db.session.execute(
        select(*EVENT_COLUMNS).where(Event.id > last_seen).order_by(Event.id).limit(BATCH_SIZE)
    ).all()
    events: list[EventRecord] = []
    for row in rows:
        # Events younger than the settle time wait: a transaction that took an
        # earlier id may still be about to commit. Future-dated events do not block.
        if cutoff < row.occurred_at <= now:
            break
        events.append(EventRecord.from_row(row))
    if not events:
        db.session.rollback()
        return 0

    claimed = cast(Any, db.session.execute(
        update(RollupState)
        .where(RollupState.id == 1, RollupState.last_event_id == last_seen)
        .values(last_event_id=events[-1].id, updated_at=now)
    )).rowcount
    if claimed != 1:
        db.session.rollback()
        return 0
    try:
        Batch(events).apply()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return len(events)


def rebuild() -> int:
    """Forget every rollup and read the whole event table again."""
    for model in ROLLUP_TABLES:
        db.session.execute(delete(model))
    db.session.commit()
    count = refresh()
    analyze()
    return count


def analyze() -> None:
    """Refresh the planner's statistics after a bulk change to the rollups.

    On PostgreSQL a VACUUM also marks the pages all-visible, which the dashboard's
    index-only scans need; autovacuum gets there too, only later.
    """
    names = [table_of(model).name for model in ROLLUP_TABLES]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) " + ", ".join(names))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
