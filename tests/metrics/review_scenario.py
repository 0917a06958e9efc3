"""Bot answers to review, stored as the chat stores them (messages) and as it reports them (events).

Per category, by outcome:
- billing: 2 confirmed, 6 assumed (all citing "refunds"), 2 escalated;
- devices: 4 assumed (citing "pairing"), 2 escalated;
- 2 suggestions (devices, citing "pairing" and "password-reset"), no ticket: abandoned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.chat.models import Conversation, Message
from portal.events import EventKind, emit
from portal.extensions import db
from portal.metrics import rollup


@dataclass(frozen=True)
class Seeded:
    confirmed: list[int]
    assumed: dict[str, list[int]]
    escalated: list[int]
    suggested: list[int]


def _citation(slug: str, category: str) -> dict[str, object]:
    return {"n": 1, "slug": slug, "title": slug.replace("-", " ").title(),
            "heading": "Steps", "url": f"/kb/{slug}#steps", "category": category}


def _conversation(start: datetime, number: int, question: str, answer: str, kind: str,
                  citations: list[dict[str, object]]) -> int:
    conversation = Conversation(visitor_id=f"review-v{number}", state="answered",
                                created_at=start)
    db.session.add(conversation)
    db.session.flush()
    db.session.add_all([
        Message(conversation_id=conversation.id, role="user", text=question, kind="question"),
        Message(conversation_id=conversation.id, role="bot", text=answer, kind=kind,
                citations=citations),
    ])
    emit(EventKind.CHAT_STARTED, occurred_at=start, conversation_id=conversation.id,
         visitor_id=conversation.visitor_id)
    return conversation.id


def seed_answers(first: datetime) -> Seeded:
    """The conversations above, started an hour apart from `first`, folded into the rollups."""
    moments = (first + timedelta(hours=n) for n in range(100))
    seeded = Seeded([], {"billing": [], "devices": []}, [], [])
    number = 0

    def answered(category: str, slug: str, then: str) -> int:
        nonlocal number
        number += 1
        start = next(moments)
        cid = _conversation(start, number, f"How do I sort out {slug}? ({number})",
                            f"Follow the steps in {slug} [1].", "answer",
                            [_citation(slug, category)])
        emit(EventKind.ANSWER_GIVEN, occurred_at=start + timedelta(minutes=1),
             conversation_id=cid, visitor_id=f"review-v{number}", category=category,
             article_slugs=[slug], confidence=0.8, mode="local")
        later = start + timedelta(minutes=2)
        if then == "confirmed":
            emit(EventKind.CHAT_FEEDBACK, occurred_at=later, conversation_id=cid, helpful=True)
            emit(EventKind.RESOLUTION_CONFIRMED, occurred_at=later, conversation_id=cid)
        elif then == "escalated":
            emit(EventKind.HANDOFF, occurred_at=later, conversation_id=cid, category=category,
                 reason="not_helpful")
            emit(EventKind.TICKET_CREATED, occurred_at=later, conversation_id=cid,
                 ticket_id=9000 + number, category=category, source="chat", priority="normal",
                 number=9000 + number)
        return cid

    for _ in range(2):
        seeded.confirmed.append(answered("billing", "refunds", "confirmed"))
    for _ in range(6):
        seeded.assumed["billing"].append(answered("billing", "refunds", "assumed"))
    for _ in range(2):
        seeded.escalated.append(answered("billing", "refunds", "escalated"))
    for _ in range(4):
        seeded.assumed["devices"].append(answered("devices", "pairing", "assumed"))
    for _ in range(2):
        seeded.escalated.append(answered("devices", "pairing", "escalated"))
    for _ in range(2):
        number += 1
        start = next(moments)
        cid = _conversation(start, number, "my thermostat blinks red", "I'm not sure these "
                            "answer your question.", "suggest",
                            [_citation("pairing", "devices"),
                             _citation("password-reset", "account")])
        emit(EventKind.HANDOFF, occurred_at=start + timedelta(minutes=1), conversation_id=cid,
             category="devices", reason="unsure")
        seeded.suggested.append(cid)
    db.session.commit()
    rollup.refresh()
    return seeded
