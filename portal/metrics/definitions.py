"""Every deflection figure, defined once as plain computation over events.

This module is the reference: it takes event records and a period and returns
the figures the dashboard shows. The dashboard itself reads them from rollups
(`portal.metrics.rollup`) that must agree with this module; the tests hold
both to the same hand-computed scenario.

Conventions, used everywhere below:
- a period is half-open, [start, end), in naive UTC;
- a "person" is the signed-in user, or the user the browser (visitor id) first
  signed in as, or else the browser itself; two events belong to the same
  customer when their persons or their visitor ids are equal;
- a rate with a zero denominator is None (the dashboard shows "—").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

ESCALATION_WINDOW = timedelta(hours=72)
DURABLE_WINDOW = timedelta(days=7)
FORM_WINDOW = timedelta(hours=1)
READ_BEFORE_TICKET_WINDOW = timedelta(hours=24)
TOP = 10
TOP_ARTICLES = 25
SATISFIED_SCORE = 4
NO_TOPIC = "(no topic)"
NO_CATEGORY = ""


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    ASSUMED = "assumed"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


RESOLVED = (Outcome.CONFIRMED, Outcome.ASSUMED)


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


# --- one conversation --------------------------------------------------------------


@dataclass(frozen=True)
class ConversationFacts:
    conversation_id: int
    started_at: datetime
    category: str
    visitor_id: str | None
    user_id: int | None
    answered: bool
    # The escalation and durability windows run from the bot's last answer
    # (or the start, when it never answered).
    anchor: datetime
    handed_off: bool
    # The customer's last word on "Did this solve it?": True, False or None.
    last_signal: bool | None
    linked_ticket: bool
    cited: tuple[str, ...]


def conversation_facts(conversation_id: int, events: Iterable[EventRecord]) -> ConversationFacts:
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.id))
    started = next((e.occurred_at for e in ordered if e.kind == "chat_started"), None)
    if started is None:
        started = ordered[0].occurred_at
    visitor = next((e.visitor_id for e in ordered if e.visitor_id), None)
    user = next((e.user_id for e in ordered if e.user_id is not None), None)
    answers = [e for e in ordered if e.kind == "answer_given"]
    category = next(
        (e.category for e in ordered if e.kind in ("answer_given", "handoff") and e.category),
        NO_CATEGORY,
    )
    last_signal: bool | None = None
    cited: list[str] = []
    for event in ordered:
        if event.kind == "chat_feedback":
            last_signal = bool(event.data.get("helpful"))
        elif event.kind == "resolution_confirmed":
            last_signal = True
        elif event.kind == "answer_given":
            for slug in event.data.get("article_slugs") or ():
                if slug not in cited:
                    cited.append(str(slug))
    return ConversationFacts(
        conversation_id=conversation_id,
        started_at=started,
        category=category or NO_CATEGORY,
        visitor_id=visitor,
        user_id=user,
        answered=bool(answers),
        anchor=answers[-1].occurred_at if answers else started,
        handed_off=any(e.kind == "handoff" for e in ordered),
        last_signal=last_signal,
        linked_ticket=any(e.kind == "ticket_created" for e in ordered),
        cited=tuple(cited),
    )


def classify_conversation(
    facts: ConversationFacts, later_ticket_times: Iterable[datetime]
) -> tuple[Outcome, bool]:
    """The outcome and whether a resolution was durable.

    `later_ticket_times` are the creation times of tickets from the same
    customer (user or browser), whatever their source.
    """
    after_start = [t for t in later_ticket_times if t >= facts.started_at]
    ticket_within_72h = any(t <= facts.anchor + ESCALATION_WINDOW for t in after_start)
    ticket_within_7d = any(t <= facts.anchor + DURABLE_WINDOW for t in after_start)
    if facts.linked_ticket:
        outcome = Outcome.ESCALATED
    elif facts.last_signal is True:
        outcome = Outcome.CONFIRMED
    elif ticket_within_72h:
        outcome = Outcome.ESCALATED
    elif facts.answered and not facts.handed_off and facts.last_signal is None:
        outcome = Outcome.ASSUMED
    else:
        # Unanswered, handed off or told "No", and no ticket followed.
        outcome = Outcome.ABANDONED
    return outcome, outcome in RESOLVED and not ticket_within_7d


# --- the figures ---------------------------------------------------------------------


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
        return [
            ("Searches", self.searches), ("Article views", self.article_views),
            ("Chats", self.chats), ("Hand-offs", self.handoffs), ("Tickets", self.tickets),
        ]


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


def handoff_label(event: EventRecord) -> str:
    return str(event.data.get("topic") or event.category or NO_TOPIC)[:200]


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


# --- the reference computation ---------------------------------------------------------


def compute_report(
    events: Iterable[EventRecord], period: Period, category: str | None = None
) -> Report:
    """All figures for `period` (optionally one category) from the whole event history.

    Events after the period matter too: a ticket filed after the period can turn
    a conversation inside it into an escalation.
    """
    history = sorted(events, key=lambda e: (e.occurred_at, e.id))
    who = Identities.from_events(history)

    def person(event: EventRecord) -> str | None:
        return who.person(event.user_id, event.visitor_id)

    def wanted(value: str | None) -> bool:
        return category is None or (value or NO_CATEGORY) == category

    by_kind: dict[str, list[EventRecord]] = defaultdict(list)
    by_conversation: dict[int, list[EventRecord]] = defaultdict(list)
    by_ticket: dict[int, list[EventRecord]] = defaultdict(list)
    for event in history:
        by_kind[event.kind].append(event)
        if event.conversation_id is not None:
            by_conversation[event.conversation_id].append(event)
        if event.ticket_id is not None:
            by_ticket[event.ticket_id].append(event)

    created = {e.ticket_id: e for e in by_kind["ticket_created"] if e.ticket_id is not None}

    def ticket_category(event: EventRecord) -> str:
        origin = created.get(event.ticket_id) if event.ticket_id is not None else None
        return (origin.category if origin is not None else event.category) or NO_CATEGORY

    # Conversations started in the period, and their outcomes.
    outcomes = Outcomes()
    per_category: dict[str, Outcomes] = defaultdict(Outcomes)
    per_day: dict[date, Outcomes] = defaultdict(Outcomes)
    cited_resolved: Counter[str] = Counter()
    cited_escalated: Counter[str] = Counter()
    for conversation_id, conversation_events in by_conversation.items():
        if not any(e.kind in CONVERSATION_KINDS for e in conversation_events):
            continue
        facts = conversation_facts(conversation_id, conversation_events)
        if facts.started_at not in period or not wanted(facts.category):
            continue
        conversation_person = who.person(facts.user_id, facts.visitor_id)
        ticket_times = [
            t.occurred_at for t in created.values()
            if same_customer(conversation_person, facts.visitor_id, person(t), t.visitor_id)
        ]
        outcome, durable = classify_conversation(facts, ticket_times)
        outcomes = outcomes.plus(outcome, durable)
        per_category[facts.category] = per_category[facts.category].plus(outcome, durable)
        day = facts.started_at.date()
        per_day[day] = per_day[day].plus(outcome, durable)
        for slug in facts.cited:
            if outcome in RESOLVED:
                cited_resolved[slug] += 1
            elif outcome == Outcome.ESCALATED:
                cited_escalated[slug] += 1

    in_period = {kind: [e for e in items if e.occurred_at in period]
                 for kind, items in by_kind.items()}

    def happened(kind: str) -> list[EventRecord]:
        return in_period.get(kind, [])

    tickets_created = [e for e in happened("ticket_created") if wanted(e.category)]
    handoffs = [e for e in happened("handoff") if wanted(e.category)]

    # Ticket-form deflection (forms carry no category: never filtered).
    suggested = {e.data.get("form_id") for e in by_kind["ticket_form_suggestions"]
                 if e.data.get("article_slugs")}
    forms = happened("ticket_form_opened")
    deflected = 0
    for opening in forms:
        form_id = opening.data.get("form_id")
        if form_id not in suggested:
            continue
        followed = any(
            opening.occurred_at <= t.occurred_at <= opening.occurred_at + FORM_WINDOW
            and ((form_id and t.data.get("form_id") == form_id)
                 or same_customer(person(opening), opening.visitor_id, person(t), t.visitor_id))
            for t in created.values()
        )
        deflected += not followed
    form = FormDeflection(len(forms), sum(f.data.get("form_id") in suggested for f in forms),
                          deflected)

    # Self-service: browsers that used the KB or the chat, against customers who filed tickets.
    sessions: set[str] = set()
    for kind in SELF_SERVICE_KINDS:
        for event in happened(kind):
            if category is not None and (kind not in CATEGORISED_SELF_SERVICE
                                         or not wanted(event.category)):
                continue
            key = event.visitor_id or (f"u:{event.user_id}" if event.user_id else None)
            if key:
                sessions.add(key)
    customers = {person(e) or f"t:{e.ticket_id}" for e in tickets_created}
    self_service = SelfService(len(sessions), len(customers))

    tickets = _ticket_kpis(period, by_ticket, by_kind, happened, ticket_category, wanted,
                           known=set(created))

    views = Counter(e.article_slug for e in happened("article_view")
                    if e.article_slug and wanted(e.category))
    helpful: Counter[str] = Counter()
    unhelpful: Counter[str] = Counter()
    for vote in happened("article_vote"):
        if vote.article_slug and wanted(vote.category):
            (helpful if vote.data.get("helpful") else unhelpful)[vote.article_slug] += 1
    read_before: Counter[str] = Counter()
    article_views = by_kind["article_view"]
    for ticket in tickets_created:
        ticket_person = person(ticket)
        window_start = ticket.occurred_at - READ_BEFORE_TICKET_WINDOW
        read = {
            v.article_slug for v in article_views
            if v.article_slug
            and window_start <= v.occurred_at <= ticket.occurred_at
            and same_customer(ticket_person, ticket.visitor_id, person(v), v.visitor_id)
        }
        read_before.update(read)
    slugs = set(views) | set(helpful) | set(unhelpful) | set(cited_resolved) | set(
        cited_escalated) | set(read_before)
    article_rows = [
        ArticleRow(slug, views[slug], helpful[slug], unhelpful[slug], cited_resolved[slug],
                   cited_escalated[slug], read_before[slug])
        for slug in slugs
    ]

    searches = happened("search")
    clicked = {e.data.get("search_id") for e in by_kind["search_click"]} - {None, ""}
    zero = Counter(normalise_query(e.data.get("query", "")) for e in searches
                   if int(e.data.get("results") or 0) == 0)
    no_click = Counter(normalise_query(e.data.get("query", "")) for e in searches
                       if int(e.data.get("results") or 0) > 0
                       and e.data.get("search_id") not in clicked)
    gaps = ContentGaps(
        zero_results=top_counts(zero),
        no_clicks=top_counts(no_click),
        handoff_topics=top_counts(Counter(handoff_label(e) for e in handoffs)),
        unhelpful=rank_unhelpful(article_rows),
    )

    handoffs_by_category = Counter(e.category or NO_CATEGORY for e in handoffs)
    tickets_by_category = Counter(e.category or NO_CATEGORY for e in tickets_created)
    category_names = set(per_category) | set(handoffs_by_category) | set(tickets_by_category)
    by_category = order_categories(
        CategoryRow(name, per_category.get(name, Outcomes()), handoffs_by_category[name],
                    tickets_by_category[name])
        for name in category_names
    )

    tickets_per_day = Counter(e.occurred_at.date() for e in tickets_created)
    searches_per_day = Counter(e.occurred_at.date() for e in searches)
    series = tuple(
        DayPoint(day, per_day.get(day, Outcomes()), tickets_per_day[day], searches_per_day[day])
        for day in period.days()
    )

    return Report(
        period=period,
        category=category,
        outcomes=outcomes,
        form=form,
        self_service=self_service,
        tickets=tickets,
        funnel=Funnel(len(searches), sum(views.values()), outcomes.total, len(handoffs),
                      len(tickets_created)),
        by_category=by_category,
        by_article=rank_articles(article_rows),
        gaps=gaps,
        series=series,
    )


CONVERSATION_KINDS = frozenset(
    {"chat_started", "answer_given", "chat_feedback", "resolution_confirmed", "handoff"}
)
SELF_SERVICE_KINDS = ("search", "search_click", "article_view", "article_vote", "chat_started",
                      "answer_given")
CATEGORISED_SELF_SERVICE = frozenset({"article_view", "article_vote", "answer_given"})
TICKET_OPENS = frozenset({"ticket_created", "ticket_reopened"})
TICKET_CLOSES = frozenset({"ticket_solved", "ticket_closed"})


def _ticket_kpis(period, by_ticket, by_kind, happened, ticket_category, wanted,
                 known) -> TicketKpis:
    # Backlog and CSAT follow tickets whose creation is recorded; durations and SLA
    # samples stand on their own.
    backlog = 0
    for ticket_id, ticket_events in by_ticket.items():
        if ticket_id not in known or not wanted(ticket_category(ticket_events[0])):
            continue
        is_open = False
        for event in ticket_events:
            if event.occurred_at >= period.end:
                break
            if event.kind in TICKET_OPENS:
                is_open = True
            elif event.kind in TICKET_CLOSES:
                is_open = False
        backlog += is_open

    def samples(kind: str) -> list[EventRecord]:
        return [e for e in happened(kind) if wanted(ticket_category(e))]

    first = samples("ticket_first_response")
    solved = samples("ticket_solved")
    with_sla = [e for e in first + solved if isinstance(e.data.get("sla_met"), bool)]

    latest_csat: dict[int, EventRecord] = {}
    for event in by_kind["csat"]:
        if event.ticket_id in known:
            latest_csat[event.ticket_id] = event
    bot, human = Satisfaction(), Satisfaction()
    for event in latest_csat.values():
        if event.occurred_at not in period or not wanted(ticket_category(event)):
            continue
        score = int(event.data.get("score") or 0)
        if event.data.get("source") == "chat":
            bot = bot.add(score)
        else:
            human = human.add(score)

    return TicketKpis(
        created=len(samples("ticket_created")),
        backlog=backlog,
        first_response=Distribution.of([float(e.data.get("seconds") or 0) for e in first]),
        resolution=Distribution.of([float(e.data.get("seconds") or 0) for e in solved]),
        sla_measured=len(with_sla),
        sla_met=sum(1 for e in with_sla if e.data["sla_met"]),
        csat_bot=bot,
        csat_human=human,
    )


# --- agents and teams -------------------------------------------------------------------

# The row of tickets nobody holds (agent) or that no team owns (team).
NOBODY = ""


@dataclass(frozen=True)
class PeopleRow:
    """One agent's or one team's figures; `key` is the agent id as text or the team slug."""

    key: str
    open_load: int = 0
    solved: int = 0
    resolution_median: float | None = None
    responses: int = 0
    response_median: float | None = None
    sla_measured: int = 0
    sla_met: int = 0
    csat: Satisfaction = Satisfaction()
    reassigned: int = 0

    @property
    def sla_attainment(self) -> float | None:
        return ratio(self.sla_met, self.sla_measured)


@dataclass(frozen=True)
class PeopleFigures:
    agents: tuple[PeopleRow, ...] = ()
    teams: tuple[PeopleRow, ...] = ()


def agent_key(value: Any) -> str:
    return NOBODY if value is None or value == "" else str(value)


def order_people(rows: Iterable[PeopleRow]) -> tuple[PeopleRow, ...]:
    return tuple(sorted(rows, key=lambda r: (-r.open_load, -r.solved, r.key == NOBODY, r.key)))


@dataclass
class _PeopleTally:
    open_load: Counter[str] = field(default_factory=Counter)
    solved: Counter[str] = field(default_factory=Counter)
    resolution: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    response: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sla_measured: Counter[str] = field(default_factory=Counter)
    sla_met: Counter[str] = field(default_factory=Counter)
    csat: dict[str, Satisfaction] = field(default_factory=lambda: defaultdict(Satisfaction))
    reassigned: Counter[str] = field(default_factory=Counter)

    def sample(self, key: str, event: EventRecord, durations: dict[str, list[float]]) -> None:
        durations[key].append(float(event.data.get("seconds") or 0))
        met = event.data.get("sla_met")
        if isinstance(met, bool):
            self.sla_measured[key] += 1
            self.sla_met[key] += met

    def rows(self) -> tuple[PeopleRow, ...]:
        keys = (set(self.open_load) | set(self.solved) | set(self.response)
                | set(self.sla_measured) | set(self.csat) | set(self.reassigned))
        rows = [
            PeopleRow(
                key, self.open_load[key], self.solved[key],
                nearest_rank(self.resolution.get(key, []), 0.5),
                len(self.response.get(key, [])), nearest_rank(self.response.get(key, []), 0.5),
                self.sla_measured[key], self.sla_met[key], self.csat.get(key, Satisfaction()),
                self.reassigned[key],
            )
            for key in keys
        ]
        return order_people(row for row in rows if row != PeopleRow(row.key))


def compute_people(
    events: Iterable[EventRecord], period: Period, category: str | None = None
) -> PeopleFigures:
    """Per agent and per team, for `period`:

    - open load: tickets open at the period's end, by who held them then;
    - solved and median resolution time: solves in the period, credited to the
      ticket's assignee at that moment (or the agent who solved an unassigned one);
    - responses and median first response time: first replies in the period, by the
      agent who wrote them;
    - SLA attainment: those first replies and solves that met their target;
    - CSAT: the latest rating of each ticket, rated in the period, for whoever held it;
    - reassigned: tickets taken from an agent (or team) and given to another (or to
      nobody) in the period, counted against the one it was taken from.
    """
    history = sorted(events, key=lambda e: (e.occurred_at, e.id))
    created = {e.ticket_id: e for e in history
               if e.kind == "ticket_created" and e.ticket_id is not None}

    def wanted(event: EventRecord) -> bool:
        origin = created.get(event.ticket_id) if event.ticket_id is not None else None
        name = (origin.category if origin is not None else event.category) or NO_CATEGORY
        return category is None or name == category

    agents, teams = _PeopleTally(), _PeopleTally()
    holders: dict[int, tuple[bool, str, str]] = {}
    latest_csat: dict[int, EventRecord] = {}
    for event in history:
        if event.ticket_id is None or not wanted(event):
            continue
        agent, team = agent_key(event.data.get("agent_id")), str(event.data.get("team") or "")
        # As for the ticket KPIs, durations stand on their own; the rest follows
        # tickets whose creation is recorded.
        known = event.ticket_id in created
        if known and event.occurred_at < period.end:
            is_open, held_by, held_team = holders.get(event.ticket_id, (False, NOBODY, NOBODY))
            if event.kind == "ticket_created":
                holders[event.ticket_id] = (True, agent, team)
            elif event.kind == "ticket_assigned":
                holders[event.ticket_id] = (is_open, agent, team)
            elif event.kind in TICKET_CLOSES:
                holders[event.ticket_id] = (False, held_by, held_team)
            elif event.kind == "ticket_reopened":
                holders[event.ticket_id] = (True, held_by, held_team)
        if known and event.kind == "csat":
            latest_csat[event.ticket_id] = event
        if event.occurred_at not in period:
            continue
        if event.kind == "ticket_first_response":
            agents.sample(agent, event, agents.response)
            teams.sample(team, event, teams.response)
        elif event.kind == "ticket_solved":
            agents.solved[agent] += 1
            teams.solved[team] += 1
            agents.sample(agent, event, agents.resolution)
            teams.sample(team, event, teams.resolution)
        elif event.kind == "ticket_assigned" and known:
            before = agent_key(event.data.get("previous_agent_id"))
            if before != NOBODY and before != agent:
                agents.reassigned[before] += 1
            before_team = str(event.data.get("previous_team") or "")
            if before_team and before_team != team:
                teams.reassigned[before_team] += 1
    for is_open, held_by, held_team in holders.values():
        if is_open:
            agents.open_load[held_by] += 1
            teams.open_load[held_team] += 1
    for event in latest_csat.values():
        if event.occurred_at in period:
            score = int(event.data.get("score") or 0)
            agent = agent_key(event.data.get("agent_id"))
            team = str(event.data.get("team") or "")
            agents.csat[agent] = agents.csat[agent].add(score)
            teams.csat[team] = teams.csat[team].add(score)
    return PeopleFigures(agents.rows(), teams.rows())
