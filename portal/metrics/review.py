"""Answer review: a reproducible stratified sample of bot answers, and managers' verdicts.

The sample is the start of a fixed pseudo-random order of each stratum's conversations
(a keyed hash of the conversation id), minus those already reviewed. The first k of a
random permutation is a simple random sample, so walking it review by review keeps the
sample random, and anyone with the same data and key draws the same conversations.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.chat import services as chat
from portal.clock import utcnow
from portal.events import Event, EventKind, emit
from portal.extensions import db
from portal.metrics.definitions import day_start
from portal.metrics.models import AnswerReview, ConversationRollup
from portal.metrics.review_figures import Stratum, Verdict

WINDOW_DAYS = 30
PER_STRATUM = 5
NOTE_LIMIT = 2000
# Why the bot offered articles instead of answering (chat.flow.Reason.UNSURE).
SUGGESTED_REASON = "unsure"


class ReviewError(ValueError):
    """A review that cannot be recorded; the message says why, for the reviewer."""

    # 422: the form cannot be used as sent; 409: another review got there first.
    status = 422


class AlreadyReviewed(ReviewError):
    status = 409


@dataclass(frozen=True)
class Candidate:
    conversation_id: int
    day: date
    category: str
    stratum: Stratum


@dataclass(frozen=True)
class SampleItem:
    candidate: Candidate
    outcome: str
    excerpt: chat.AnswerExcerpt | None


@dataclass(frozen=True)
class StratumCount:
    stratum: Stratum
    population: int
    reviewed: int


@dataclass(frozen=True)
class Sample:
    first: date
    last: date
    items: tuple[SampleItem, ...]
    counts: tuple[StratumCount, ...]


def _key() -> bytes:
    return str(current_app.config.get("METRICS_REVIEW_SAMPLE_KEY", "answer-review")).encode()


def draw_order(conversation_id: int, key: bytes) -> bytes:
    """The conversation's place in the fixed pseudo-random order (smallest first)."""
    return hashlib.blake2b(str(conversation_id).encode(), key=key[:64], digest_size=8).digest()


def _suggested(first: date, last: date) -> dict[int, Candidate]:
    """Conversations where the bot offered its closest articles instead of an answer."""
    start, end = day_start(first), day_start(last + timedelta(days=1))
    rows = db.session.execute(
        select(Event.conversation_id, Event.occurred_at, Event.category, Event.data)
        .where(Event.kind == str(EventKind.HANDOFF), Event.occurred_at >= start,
               Event.occurred_at < end, Event.conversation_id.is_not(None)))
    found: dict[int, Candidate] = {}
    for cid, at, category, data in rows:
        if (data or {}).get("reason") == SUGGESTED_REASON and cid not in found:
            found[cid] = Candidate(cid, at.date(), category or "", Stratum.SUGGESTED)
    return found


def candidates(first: date, last: date) -> dict[int, Candidate]:
    """Every reviewable conversation that started from `first` to `last`, by stratum."""
    pool = _suggested(first, last)
    for cid, day, category, outcome in db.session.execute(
            select(ConversationRollup.conversation_id, ConversationRollup.day,
                   ConversationRollup.category, ConversationRollup.outcome)
            .where(ConversationRollup.day.between(first, last),
                   ConversationRollup.outcome.in_((Stratum.CONFIRMED, Stratum.ASSUMED)))):
        # A conversation that ended resolved is judged as a resolution, even if a
        # suggestion came before its answer.
        pool[cid] = Candidate(cid, day, category, Stratum(outcome))
    return pool


def reviewed_ids(first: date, last: date) -> set[int]:
    """Conversations of the window already reviewed (a week's margin: a suggestion's day is
    its hand-off's, which can be later than the day its chat started)."""
    return set(db.session.scalars(select(AnswerReview.conversation_id).where(
        AnswerReview.day.between(first - timedelta(days=7), last + timedelta(days=7)))))


def _outcomes(ids: Iterable[int]) -> dict[int, str]:
    return dict(db.session.execute(
        select(ConversationRollup.conversation_id, ConversationRollup.outcome)
        .where(ConversationRollup.conversation_id.in_(list(ids)))).all())


def draw_sample(per_stratum: int = PER_STRATUM, today: date | None = None,
                days: int = WINDOW_DAYS) -> Sample:
    """Up to `per_stratum` unreviewed conversations of each stratum from the last `days`."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    pool = candidates(first, last)
    reviewed = reviewed_ids(first, last)
    key = _key()
    chosen: list[Candidate] = []
    counts = []
    for stratum in Stratum:
        members = [c for c in pool.values() if c.stratum == stratum]
        open_ = [c for c in members if c.conversation_id not in reviewed]
        chosen += heapq.nsmallest(per_stratum, open_,
                                  key=lambda c: draw_order(c.conversation_id, key))
        counts.append(StratumCount(stratum, len(members), len(members) - len(open_)))
    excerpts = chat.answer_excerpts(c.conversation_id for c in chosen)
    outcomes = _outcomes(c.conversation_id for c in chosen)
    items = tuple(SampleItem(c, outcomes.get(c.conversation_id, "—"),
                             excerpts.get(c.conversation_id)) for c in chosen)
    return Sample(first, last, items, tuple(counts))


def _candidate(conversation_id: int) -> Candidate:
    row = db.session.execute(
        select(ConversationRollup.day, ConversationRollup.category, ConversationRollup.outcome)
        .where(ConversationRollup.conversation_id == conversation_id)).first()
    if row is not None and row.outcome in (Stratum.CONFIRMED, Stratum.ASSUMED):
        return Candidate(conversation_id, row.day, row.category, Stratum(row.outcome))
    handoff = db.session.execute(
        select(Event.occurred_at, Event.category, Event.data)
        .where(Event.kind == str(EventKind.HANDOFF), Event.conversation_id == conversation_id)
    ).all()
    for at, category, data in handoff:
        if (data or {}).get("reason") == SUGGESTED_REASON:
            return Candidate(conversation_id, at.date(), category or "", Stratum.SUGGESTED)
    raise ReviewError(f"Conversation #{conversation_id} has no bot answer to review "
                      "(or its outcome changed since the sample was drawn).")


def parse_verdict(raw: str | None) -> Verdict:
    try:
        return Verdict((raw or "").strip())
    except ValueError:
        raise ReviewError("Choose right, partly right or wrong.") from None


def record_review(conversation_id: int, verdict: Verdict, note: str,
                  reviewer_id: int | None) -> AnswerReview:
    """Record a verdict once per conversation, with its event, in one transaction."""
    note = (note or "").replace("\r\n", "\n").strip()
    if len(note) > NOTE_LIMIT:
        raise ReviewError(f"The note is {len(note)} characters long; keep it under "
                          f"{NOTE_LIMIT}. Nothing was saved, so shorten it and send again.")
    if db.session.scalar(select(AnswerReview.id)
                         .where(AnswerReview.conversation_id == conversation_id)):
        raise AlreadyReviewed(f"Conversation #{conversation_id} was already reviewed.")
    candidate = _candidate(conversation_id)
    excerpt = chat.answer_excerpts([conversation_id]).get(conversation_id)
    cited = list(dict.fromkeys(c.slug for c in excerpt.citations if c.slug)) if excerpt else []
    review = AnswerReview(conversation_id=conversation_id, day=candidate.day,
                          category=candidate.category, stratum=str(candidate.stratum),
                          verdict=str(verdict), note=note, cited=cited,
                          reviewer_id=reviewer_id, reviewed_at=utcnow())
    db.session.add(review)
    emit(EventKind.ANSWER_REVIEWED, conversation_id=conversation_id, user_id=reviewer_id,
         category=candidate.category or None, article_slug=cited[0] if cited else None,
         verdict=str(verdict), stratum=str(candidate.stratum), cited=cited,
         has_note=bool(note))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyReviewed(f"Conversation #{conversation_id} was already reviewed.") from None
    return review
