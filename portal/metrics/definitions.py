"""Every deflection figure, defined once as plain computation over events.

This module is the reference: it takes event records and a period and returns
the figures the dashboard shows (`figures`). The dashboard itself reads them from
rollups (`portal.metrics.rollup`) that must agree with this module; the tests hold
both to the same hand-computed scenario. The conventions (periods, persons, rates)
are those of `records`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from portal.metrics.figures import (
    RESOLVED,
    ArticleRow,
    CategoryRow,
    ContentGaps,
    DayPoint,
    Distribution,
    FormDeflection,
    Funnel,
    Outcome,
    Outcomes,
    Report,
    Satisfaction,
    SelfService,
    TicketKpis,
    order_categories,
    rank_articles,
    rank_unhelpful,
    top_counts,
)
from portal.metrics.records import (
    EventRecord,
    Identities,
    Period,
    normalise_query,
    same_customer,
)

ESCALATION_WINDOW = timedelta(hours=72)
DURABLE_WINDOW = timedelta(days=7)
FORM_WINDOW = timedelta(hours=1)
READ_BEFORE_TICKET_WINDOW = timedelta(hours=24)
NO_TOPIC = "(no topic)"
NO_CATEGORY = ""


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


def handoff_label(event: EventRecord) -> str:
    return str(event.data.get("topic") or event.category or NO_TOPIC)[:200]



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
