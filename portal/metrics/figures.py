"""The figures the dashboard shows, as values: outcome tallies, ticket KPIs, tables, series.

`definitions` computes them from events, `queries` from the rollups; both fill these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from portal.metrics.records import Period, nearest_rank, ratio

TOP = 10
TOP_ARTICLES = 25
SATISFIED_SCORE = 4


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    ASSUMED = "assumed"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


RESOLVED = (Outcome.CONFIRMED, Outcome.ASSUMED)


@dataclass(frozen=True)
class Outcomes:
    confirmed: int = 0
    assumed: int = 0
    escalated: int = 0
    abandoned: int = 0
    durable: int = 0

    @property
    def total(self) -> int:
        return self.confirmed + self.assumed + self.escalated + self.abandoned

    @property
    def resolved(self) -> int:
        return self.confirmed + self.assumed

    @property
    def deflection_rate(self) -> float | None:
        return ratio(self.resolved, self.resolved + self.escalated)

    @property
    def confirmed_rate(self) -> float | None:
        return ratio(self.confirmed, self.resolved + self.escalated)

    @property
    def durable_rate(self) -> float | None:
        return ratio(self.durable, self.resolved)

    def plus(self, outcome: str, durable: bool, count: int = 1) -> Outcomes:
        values = {name: getattr(self, name) for name in
                  ("confirmed", "assumed", "escalated", "abandoned", "durable")}
        values[str(outcome)] += count
        if durable:
            values["durable"] += count
        return Outcomes(**values)


@dataclass(frozen=True)
class FormDeflection:
    opened: int = 0
    with_suggestions: int = 0
    deflected: int = 0

    @property
    def rate(self) -> float | None:
        return ratio(self.deflected, self.with_suggestions)


@dataclass(frozen=True)
class SelfService:
    visitors: int = 0
    ticket_customers: int = 0

    @property
    def score(self) -> float | None:
        return ratio(self.visitors, self.ticket_customers)


@dataclass(frozen=True)
class Distribution:
    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        return cls(len(values), nearest_rank(values, 0.5), nearest_rank(values, 0.9))


@dataclass(frozen=True)
class Satisfaction:
    responses: int = 0
    total_score: int = 0
    satisfied: int = 0

    @property
    def average(self) -> float | None:
        return ratio(self.total_score, self.responses)

    def add(self, score: int, responses: int = 1, satisfied: int | None = None) -> Satisfaction:
        if satisfied is None:
            satisfied = int(score >= SATISFIED_SCORE)
        return Satisfaction(self.responses + responses, self.total_score + score,
                            self.satisfied + satisfied)

    @property
    def satisfied_rate(self) -> float | None:
        return ratio(self.satisfied, self.responses)


@dataclass(frozen=True)
class TicketKpis:
    created: int = 0
    backlog: int = 0
    first_response: Distribution = Distribution()
    resolution: Distribution = Distribution()
    sla_measured: int = 0
    sla_met: int = 0
    csat_bot: Satisfaction = Satisfaction()
    csat_human: Satisfaction = Satisfaction()

    @property
    def sla_attainment(self) -> float | None:
        return ratio(self.sla_met, self.sla_measured)


@dataclass(frozen=True)
class Funnel:
    searches: int = 0
    article_views: int = 0
    chats: int = 0
    handoffs: int = 0
    tickets: int = 0

    def steps(self) -> list[tuple[str, int]]:
        """(field name, count) from the first step to the last."""
        return [(name, getattr(self, name))
                for name in ("searches", "article_views", "chats", "handoffs", "tickets")]


@dataclass(frozen=True)
class CategoryRow:
    category: str
    outcomes: Outcomes
    handoffs: int
    tickets: int


@dataclass(frozen=True)
class ArticleRow:
    slug: str
    views: int = 0
    helpful: int = 0
    unhelpful: int = 0
    cited_resolved: int = 0
    cited_escalated: int = 0
    read_before_ticket: int = 0

    @property
    def deflection_rate(self) -> float | None:
        return ratio(self.cited_resolved, self.cited_resolved + self.cited_escalated)


@dataclass(frozen=True)
class Count:
    label: str
    count: int


@dataclass(frozen=True)
class ContentGaps:
    zero_results: tuple[Count, ...] = ()
    no_clicks: tuple[Count, ...] = ()
    handoff_topics: tuple[Count, ...] = ()
    unhelpful: tuple[ArticleRow, ...] = ()


@dataclass(frozen=True)
class DayPoint:
    day: date
    outcomes: Outcomes
    tickets: int
    searches: int


@dataclass(frozen=True)
class Report:
    period: Period
    category: str | None
    outcomes: Outcomes
    form: FormDeflection
    self_service: SelfService
    tickets: TicketKpis
    funnel: Funnel
    by_category: tuple[CategoryRow, ...]
    by_article: tuple[ArticleRow, ...]
    gaps: ContentGaps
    series: tuple[DayPoint, ...]


def top_counts(counts: Mapping[str, int], limit: int = TOP) -> tuple[Count, ...]:
    ranked = sorted(((label, n) for label, n in counts.items() if n > 0),
                    key=lambda item: (-item[1], item[0]))
    return tuple(Count(label, n) for label, n in ranked[:limit])


def rank_articles(rows: Iterable[ArticleRow], limit: int = TOP_ARTICLES) -> tuple[ArticleRow, ...]:
    def weight(row: ArticleRow) -> tuple[int, str]:
        activity = row.views + row.cited_resolved + row.cited_escalated + row.read_before_ticket
        return (-activity, row.slug)

    return tuple(sorted(rows, key=weight)[:limit])


def rank_unhelpful(rows: Iterable[ArticleRow], limit: int = TOP) -> tuple[ArticleRow, ...]:
    chosen = [row for row in rows if row.unhelpful > 0]
    return tuple(sorted(chosen, key=lambda r: (-r.unhelpful, r.helpful, r.slug))[:limit])


def order_categories(rows: Iterable[CategoryRow]) -> tuple[CategoryRow, ...]:
    return tuple(sorted(rows, key=lambda r: (-(r.outcomes.total + r.tickets), r.category)))


def bucket_series(points: Sequence[DayPoint], weekly: bool) -> list[DayPoint]:
    """Daily points, or summed into weeks starting on Monday (labelled by their first day)."""
    if not weekly:
        return list(points)
    buckets: dict[date, DayPoint] = {}
    for point in points:
        week = point.day - timedelta(days=point.day.weekday())
        key = max(week, points[0].day)
        previous = buckets.get(key)
        if previous is None:
            buckets[key] = DayPoint(key, point.outcomes, point.tickets, point.searches)
            continue
        merged = previous.outcomes
        for name in ("confirmed", "assumed", "escalated", "abandoned"):
            merged = merged.plus(name, False, getattr(point.outcomes, name))
        merged = Outcomes(merged.confirmed, merged.assumed, merged.escalated, merged.abandoned,
                          merged.durable + point.outcomes.durable)
        buckets[key] = DayPoint(key, merged, previous.tickets + point.tickets,
                                previous.searches + point.searches)
    return [buckets[key] for key in sorted(buckets)]


@dataclass(frozen=True)
class DraftUsage:
    """What agents did with the copilot's drafted replies shown in a period."""

    shown: int = 0
    used: int = 0
    edited: int = 0
    discarded: int = 0
    # Nearest-rank median of how much of an edited draft was rewritten (0 to 1).
    edited_rewritten_median: float | None = None

    @property
    def decided(self) -> int:
        return self.used + self.edited + self.discarded

    @property
    def pending(self) -> int:
        return self.shown - self.decided

    @property
    def used_share(self) -> float | None:
        return ratio(self.used, self.decided)

    @property
    def edited_share(self) -> float | None:
        return ratio(self.edited, self.decided)

    @property
    def discarded_share(self) -> float | None:
        return ratio(self.discarded, self.decided)
