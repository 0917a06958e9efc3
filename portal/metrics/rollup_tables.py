"""The rollup tables, and what every writer of them uses: inserts that upsert on both
backends, chunked IN lists, and the actor-day chain the distinct counts read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, select, update

from portal.events import Event
from portal.extensions import db
from portal.metrics.models import (
    ActorDay,
    CitationRollup,
    ConversationRollup,
    DailyCount,
    FormRollup,
    IdentityLink,
    RollupState,
    SearchRollup,
    TicketRollup,
    TicketSample,
)

CHUNK = 400
# The actor rows every unfiltered count reads; a category filter reads its own rows.
ALL_CATEGORIES = "*"
ROLLUP_TABLES = (
    DailyCount, ConversationRollup, CitationRollup, TicketRollup, TicketSample, SearchRollup,
    FormRollup, ActorDay, IdentityLink, RollupState,
)
EVENT_COLUMNS = (
    Event.id, Event.kind, Event.occurred_at, Event.visitor_id, Event.user_id,
    Event.conversation_id, Event.ticket_id, Event.article_slug, Event.category, Event.data,
)


def insert_statement(model: Any) -> Any:
    """An INSERT that understands ON CONFLICT on both backends."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table_of(model))


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def link_actor_days(actors: Sequence[str]) -> None:
    """Recompute `ActorDay.prev_day` for every row of these actors.

    A late event can add a day between two known ones, so every row of a touched
    actor is recomputed rather than only the new one.
    """
    table = table_of(ActorDay)
    earlier = table.alias("earlier")
    previous = (
        select(earlier.c.day).where(
            earlier.c.role == table.c.role, earlier.c.category == table.c.category,
            earlier.c.actor == table.c.actor, earlier.c.day < table.c.day)
        .order_by(earlier.c.day.desc()).limit(1).scalar_subquery()
    )
    for part in chunks(actors):
        db.session.execute(update(table).where(table.c.actor.in_(part))
                           .values(prev_day=previous))



def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def parse_agent_id(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
