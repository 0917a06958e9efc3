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
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.chat import services as chat
from portal.clock import utcnow
from portal.events import Event, EventKind, emit
from portal.extensions import db
from portal.metrics.models import AnswerReview, ConversationRollup
from portal.metrics.records import day_start
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


MASK64 = (1 << 64) - 1


def _seed() -> int:
    """The sample key as a 64-bit number (a setting: change it to draw another sample)."""
    key = str(current_app.config.get("METRICS_REVIEW_SAMPLE_KEY", "answer-review")).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def draw_order(conversation_id: int, seed: int) -> int:
    """The conversation's place in the fixed pseudo-random order (smallest first).

    SplitMix64's finaliser over the id mixed with the key: a well-tested 64-bit mixer,
    and ten times cheaper than a cryptographic hash over the window's tens of thousands.
    """
    z = ((conversation_id ^ seed) + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _unsure_handoffs() -> Any:
    """Hand-offs where the bot offered its closest articles instead of an answer."""
    return select(Event.conversation_id).where(
        Event.kind == str(EventKind.HANDOFF), Event.conversation_id.is_not(None),
        Event.data["reason"].as_string() == SUGGESTED_REASON)


def strata(first: date, last: date) -> dict[int, Stratum]:
    """Every reviewable conversation from `first` to `last` (both included), by stratum.

    Ids only: the sample needs details of the few it draws, not of the whole window.
    """
    pool: dict[int, Stratum] = {}
    start, end = day_start(first), day_start(last + timedelta(days=1))
    for cid in db.session.scalars(_unsure_handoffs().where(
            Event.occurred_at >= start, Event.occurred_at < end)):
        pool[cid] = Stratum.SUGGESTED
    resolved = {str(s): s for s in (Stratum.CONFIRMED, Stratum.ASSUMED)}
    for cid, outcome in db.session.execute(
            select(ConversationRollup.conversation_id, ConversationRollup.outcome)
            .where(ConversationRollup.day.between(first, last),
                   ConversationRollup.outcome.in_(tuple(resolved)))):
        # A conversation that ended resolved is judged as a resolution, even if a
        # suggestion came before its answer.
        pool[cid] = resolved[outcome]
    return pool


def reviewed_ids(first: date, last: date) -> set[int]:
    """Conversations of the window already reviewed (a week's margin: a suggestion's day is
    its hand-off's, which can be later than the day its chat started)."""
    return set(db.session.scalars(select(AnswerReview.conversation_id).where(
        AnswerReview.day.between(first - timedelta(days=7), last + timedelta(days=7)))))


def _rollup_rows(ids: Iterable[int]) -> dict[int, Any]:
    return {row.conversation_id: row for row in db.session.execute(
        select(ConversationRollup.conversation_id, ConversationRollup.day,
               ConversationRollup.category, ConversationRollup.outcome)
        .where(ConversationRollup.conversation_id.in_(list(ids))))}


def draw_sample(per_stratum: int = PER_STRATUM, today: date | None = None,
                days: int = WINDOW_DAYS) -> Sample:
    """Up to `per_stratum` unreviewed conversations of each stratum from the last `days`."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    pool = strata(first, last)
    reviewed = reviewed_ids(first, last)
    seed = _seed()
    members: dict[Stratum, list[int]] = {s: [] for s in Stratum}
    for cid, stratum in pool.items():
        members[stratum].append(cid)
    drawn: list[tuple[int, Stratum]] = []
    counts = []
    for stratum, ids in members.items():
        open_ids = [cid for cid in ids if cid not in reviewed]
        first_in_order = heapq.nsmallest(per_stratum,
                                         ((draw_order(cid, seed), cid) for cid in open_ids))
        drawn += [(cid, stratum) for _, cid in first_in_order]
        counts.append(StratumCount(stratum, len(ids), len(ids) - len(open_ids)))
    excerpts = chat.answer_excerpts(cid for cid, _ in drawn)
    rows = _rollup_rows(cid for cid, _ in drawn)
    items = []
    for cid, stratum in drawn:
        row = rows.get(cid)
        candidate = Candidate(cid, row.day if row else last, row.category if row else "",
                              stratum)
        items.append(SampleItem(candidate, row.outcome if row else "—", excerpts.get(cid)))
    return Sample(first, last, tuple(items), tuple(counts))


def _candidate(conversation_id: int) -> Candidate:
    row = _rollup_rows([conversation_id]).get(conversation_id)
    if row is not None and row.outcome in (Stratum.CONFIRMED, Stratum.ASSUMED):
        return Candidate(conversation_id, row.day, row.category, Stratum(row.outcome))
    handoff = db.session.execute(
        _unsure_handoffs().with_only_columns(Event.occurred_at, Event.category)
        .where(Event.conversation_id == conversation_id).limit(1)).first()
    if handoff is not None:
        if row is not None:
            return Candidate(conversation_id, row.day, row.category, Stratum.SUGGESTED)
        return Candidate(conversation_id, handoff.occurred_at.date(), handoff.category or "",
                         Stratum.SUGGESTED)
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
