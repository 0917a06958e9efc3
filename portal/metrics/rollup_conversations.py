"""Conversation outcomes in the rollups: rewritten from their events whenever something
that could change them arrives (see `rollup`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, or_, select

from portal.events import Event
from portal.extensions import db
from portal.metrics import definitions as d
from portal.metrics.figures import RESOLVED, Outcome
from portal.metrics.models import (
    CitationRollup,
    ConversationRollup,
    IdentityLink,
    TicketRollup,
)
from portal.metrics.records import EventRecord, Identities
from portal.metrics.rollup_tables import EVENT_COLUMNS, as_date, chunks, insert_statement

CountKey = tuple[str, date, str, str]


def _outcome_counts(day: date, category: str, outcome: str, durable: bool,
                    cited: Iterable[str], sign: int) -> dict[CountKey, int]:
    counts: dict[CountKey, int] = defaultdict(int)
    counts[("chat_outcome", day, category, outcome)] += sign
    if durable:
        counts[("chat_durable", day, category, "")] += sign
    metric = ("cited_resolved" if outcome in RESOLVED
              else "cited_escalated" if outcome == Outcome.ESCALATED else None)
    if metric:
        for slug in cited:
            counts[(metric, day, category, slug[:200])] += sign
    return counts


def recompute_conversations(
    conversation_ids: Sequence[int], links: dict[str, int]
) -> dict[CountKey, int]:
    """Rewrite the outcome of these conversations from their events and the ticket rollup.

    Returns the changes to the daily counts (old outcomes out, new ones in).
    """
    deltas: dict[CountKey, int] = defaultdict(int)
    old_cited: dict[int, list[str]] = defaultdict(list)
    for conversation_id, slug in db.session.execute(
        select(CitationRollup.conversation_id, CitationRollup.slug)
        .where(CitationRollup.conversation_id.in_(conversation_ids))
    ):
        old_cited[conversation_id].append(slug)
    for old in db.session.execute(
        select(ConversationRollup.conversation_id, ConversationRollup.day,
               ConversationRollup.category, ConversationRollup.outcome,
               ConversationRollup.durable)
        .where(ConversationRollup.conversation_id.in_(conversation_ids))
    ):
        for key, change in _outcome_counts(as_date(old.day), old.category, old.outcome,
                                           bool(old.durable), old_cited[old.conversation_id],
                                           -1).items():
            deltas[key] += change
    grouped: dict[int, list[EventRecord]] = defaultdict(list)
    for row in db.session.execute(
        select(*EVENT_COLUMNS).where(Event.conversation_id.in_(conversation_ids))
    ):
        grouped[row.conversation_id].append(EventRecord.from_row(row))
    facts = [d.conversation_facts(cid, events) for cid, events in grouped.items()
             if any(e.kind in d.CONVERSATION_KINDS for e in events)]
    visitors = sorted({f.visitor_id for f in facts if f.visitor_id and f.visitor_id not in links})
    for part in chunks(visitors):
        for visitor, user in db.session.execute(
            select(IdentityLink.visitor_id, IdentityLink.user_id)
            .where(IdentityLink.visitor_id.in_(part))
        ):
            links[visitor] = user
    who = Identities(links)
    persons = {f.conversation_id: who.person(f.user_id, f.visitor_id) for f in facts}
    wanted_persons = sorted({p for p in persons.values() if p})
    wanted_visitors = sorted({f.visitor_id for f in facts if f.visitor_id})
    tickets: list[Any] = []
    if wanted_persons or wanted_visitors:
        tickets = list(db.session.execute(
            select(TicketRollup.created_at, TicketRollup.person, TicketRollup.visitor_id)
            .where(or_(TicketRollup.person.in_(wanted_persons or [""]),
                       TicketRollup.visitor_id.in_(wanted_visitors or [""])))
        ).all())
    by_person: dict[str, list[datetime]] = defaultdict(list)
    by_visitor: dict[str, list[datetime]] = defaultdict(list)
    for created_at, person, visitor in tickets:
        if person:
            by_person[person].append(created_at)
        if visitor:
            by_visitor[visitor].append(created_at)

    db.session.execute(delete(ConversationRollup)
                       .where(ConversationRollup.conversation_id.in_(conversation_ids)))
    db.session.execute(delete(CitationRollup)
                       .where(CitationRollup.conversation_id.in_(conversation_ids)))
    rows, citations = [], []
    for fact in facts:
        person = persons[fact.conversation_id]
        times = set(by_person.get(person, []) if person else [])
        if fact.visitor_id:
            times.update(by_visitor.get(fact.visitor_id, []))
        outcome, durable = d.classify_conversation(fact, times)
        for key, change in _outcome_counts(fact.started_at.date(), fact.category, str(outcome),
                                           durable, fact.cited, 1).items():
            deltas[key] += change
        rows.append({
            "conversation_id": fact.conversation_id, "started_at": fact.started_at,
            "day": fact.started_at.date(), "anchor": fact.anchor, "category": fact.category,
            "visitor_id": fact.visitor_id, "person": person, "outcome": str(outcome),
            "durable": durable,
        })
        citations += [{"conversation_id": fact.conversation_id, "slug": slug[:200],
                       "day": fact.started_at.date(), "category": fact.category,
                       "outcome": str(outcome)} for slug in fact.cited]
    if rows:
        db.session.execute(insert_statement(ConversationRollup), rows)
    if citations:
        db.session.execute(insert_statement(CitationRollup), citations)
    return deltas
