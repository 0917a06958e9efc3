"""What reviews say about a period: corrected deflection, per category, where answers go wrong.

Reviews count for the period and category of their conversation, like the chat outcomes,
and are judged by the conversation's outcome now: an "assumed" resolution that a late
ticket turned into an escalation no longer counts towards the precision of assumed ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from portal.extensions import db
from portal.metrics.figures import Outcome, Report
from portal.metrics.models import AnswerReview, ConversationRollup
from portal.metrics.records import Period
from portal.metrics.review_figures import Corrected, Stratum, Tally, Verdict


@dataclass(frozen=True)
class ReviewRow:
    conversation_id: int
    day: date
    category: str
    stratum: str
    outcome: str
    verdict: str
    cited: tuple[str, ...]
    note: str
    reviewer_id: int | None
    reviewed_at: datetime


@dataclass(frozen=True)
class CategoryCorrection:
    category: str
    corrected: Corrected


@dataclass(frozen=True)
class WrongGroup:
    key: str
    wrong: int
    partly: int
    reviewed: int


@dataclass(frozen=True)
class WrongAnswers:
    wrong_by_article: tuple[WrongGroup, ...]
    wrong_by_category: tuple[WrongGroup, ...]


@dataclass(frozen=True)
class ReviewFigures:
    reviews: int
    overall: Corrected
    # Tallies per stratum as drawn (confirmed and suggested ones are reviewed too).
    by_stratum: dict[str, Tally]
    by_category: tuple[CategoryCorrection, ...]
    wrong_by_article: tuple[WrongGroup, ...]
    wrong_by_category: tuple[WrongGroup, ...]


def review_rows(period: Period, category: str | None = None) -> list[ReviewRow]:
    r = AnswerReview
    # Plain columns, not ORM objects: the dashboard reads every review of its period.
    statement = (
        select(r.conversation_id, r.day, r.category, r.stratum, ConversationRollup.outcome,
               r.verdict, r.cited, r.note, r.reviewer_id, r.reviewed_at)
        .outerjoin(ConversationRollup,
                   ConversationRollup.conversation_id == r.conversation_id)
        .where(r.day.between(period.first_day, period.last_day))
        .order_by(r.reviewed_at, r.id))
    if category is not None:
        statement = statement.where(r.category == category)
    return [ReviewRow(cid, day, name, stratum, outcome or stratum, verdict, tuple(cited or ()),
                      note, reviewer, at)
            for cid, day, name, stratum, outcome, verdict, cited, note, reviewer, at
            in db.session.execute(statement)]


def _groups(rows: list[ReviewRow], keys_of: object) -> tuple[WrongGroup, ...]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        for key in keys_of(row):  # type: ignore[operator]
            tally = counts[key]
            tally[0] += row.verdict == Verdict.WRONG
            tally[1] += row.verdict == Verdict.PARTLY
            tally[2] += 1
    groups = [WrongGroup(key, *c) for key, c in counts.items() if c[0] or c[1]]
    return tuple(sorted(groups, key=lambda g: (-g.wrong, -g.partly, g.key)))


def wrong_answers(rows: list[ReviewRow]) -> WrongAnswers:
    """Reviews marked wrong or partly right, by cited article and by category."""
    return WrongAnswers(_groups(rows, lambda r: r.cited or ("(no article cited)",)),
                        _groups(rows, lambda r: (r.category or "(none)",)))


def figures(report: Report, rows: list[ReviewRow]) -> ReviewFigures:
    """The report's outcomes corrected by the reviews of its conversations."""
    assumed_by_category: dict[str, list[str]] = defaultdict(list)
    by_stratum: dict[str, Tally] = {str(s): Tally() for s in Stratum}
    for row in rows:
        by_stratum[row.stratum] = by_stratum.get(row.stratum, Tally()).plus(row.verdict)
        if row.outcome == Outcome.ASSUMED:
            assumed_by_category[row.category].append(row.verdict)
    o = report.outcomes
    overall = Corrected(o.confirmed, o.assumed, o.escalated,
                        Tally.of(v for vs in assumed_by_category.values() for v in vs))
    per_category = tuple(
        CategoryCorrection(row.category, Corrected(
            row.outcomes.confirmed, row.outcomes.assumed, row.outcomes.escalated,
            Tally.of(assumed_by_category.get(row.category, ()))))
        for row in report.by_category
        if row.outcomes.confirmed + row.outcomes.assumed + row.outcomes.escalated)
    wrong = wrong_answers(rows)
    return ReviewFigures(len(rows), overall, by_stratum, per_category,
                         wrong.wrong_by_article, wrong.wrong_by_category)
