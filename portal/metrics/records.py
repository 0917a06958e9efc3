"""The material every figure is computed from: periods, event records, customers, rates.

Conventions, used by every figure:
- a period is half-open, [start, end), in naive UTC;
- a "person" is the signed-in user, or the user the browser (visitor id) first
  signed in as, or else the browser itself; two events belong to the same
  customer when their persons or their visitor ids are equal;
- a rate with a zero denominator is None (the dashboard shows "—").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any


def ratio(part: float, whole: float) -> float | None:
    return None if not whole else part / whole


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def normalise_query(query: str) -> str:
    return " ".join(str(query).lower().split())[:200]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, first: date, last: date) -> Period:
        """The whole days from `first` to `last`, both included."""
        return cls(day_start(first), day_start(last + timedelta(days=1)))

    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()

    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(max(count, 0))]


@dataclass(frozen=True)
class EventRecord:
    id: int
    kind: str
    occurred_at: datetime
    visitor_id: str | None = None
    user_id: int | None = None
    conversation_id: int | None = None
    ticket_id: int | None = None
    article_slug: str | None = None
    category: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> EventRecord:
        return cls(
            id=row.id, kind=row.kind, occurred_at=row.occurred_at, visitor_id=row.visitor_id,
            user_id=row.user_id, conversation_id=row.conversation_id, ticket_id=row.ticket_id,
            article_slug=row.article_slug, category=row.category, data=row.data or {},
        )


class Identities:
    """Links a browser to the account it first signed in with (USER_SIGNED_IN)."""

    def __init__(self, links: Mapping[str, int] | None = None) -> None:
        self.links: Mapping[str, int] = links if links is not None else {}

    @classmethod
    def from_events(cls, events: Iterable[EventRecord]) -> Identities:
        links: dict[str, int] = {}
        for event in sorted(events, key=lambda e: (e.occurred_at, e.id)):
            if event.kind == "user_signed_in" and event.visitor_id and event.user_id:
                links.setdefault(event.visitor_id, event.user_id)
        return cls(links)

    def person(self, user_id: int | None, visitor_id: str | None) -> str | None:
        if user_id is not None:
            return f"u:{user_id}"
        if visitor_id:
            linked = self.links.get(visitor_id)
            return f"u:{linked}" if linked is not None else f"v:{visitor_id}"
        return None


def same_customer(
    person_a: str | None, visitor_a: str | None, person_b: str | None, visitor_b: str | None
) -> bool:
    return bool((person_a and person_a == person_b) or (visitor_a and visitor_a == visitor_b))
