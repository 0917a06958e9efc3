"""The dashboard's figures, read from the rollups (same results as `definitions`)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, time
from typing import Any

from sqlalchemy import Date, case, func, literal_column, or_, select

from portal.extensions import db
from portal.metrics.figures import (
    SATISFIED_SCORE,
    TOP,
    ArticleRow,
    CategoryRow,
    ContentGaps,
    Count,
    DayPoint,
    Distribution,
    DraftUsage,
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
)
from portal.metrics.models import (
    ActorDay,
    DailyCount,
    FormRollup,
    TicketSample,
)
from portal.metrics.people_definitions import (
    NOBODY,
    PeopleFigures,
    PeopleRow,
    agent_key,
    order_people,
)
from portal.metrics.records import Period
from portal.metrics.rollup_tables import ALL_CATEGORIES


def _check_whole_days(period: Period) -> tuple[date, date]:
    if period.start.time() != time.min or period.end.time() != time.min:
        raise ValueError("The rollups hold whole days: the period must start and end at midnight.")
    return period.first_day, period.last_day


def categories() -> list[str]:
    """Every category the rollups have seen, for the filter."""
    names = db.session.scalars(
        select(DailyCount.category).distinct()
        .where(DailyCount.metric.in_(("chat_outcome", "ticket_created"))))
    return sorted(n for n in names if n)


def report(period: Period, category: str | None = None, *, detail: bool = True) -> Report:
    """Every figure of `definitions.compute_report`, from the rollups.

    With detail=False only the headline figures are filled (for the previous
    period's comparison); tables and series stay empty.
    """
    first, last = _check_whole_days(period)

    def in_range(column: Any) -> Any:
        return column.between(first, last)

    def filtered(statement: Any, column: Any) -> Any:
        return statement.where(column == category) if category is not None else statement

    # Conversation outcomes (kept as daily counts, corrected when an outcome changes).
    statement = filtered(
        select(DailyCount.metric, DailyCount.day, DailyCount.category, DailyCount.key,
               func.sum(DailyCount.count))
        .where(DailyCount.metric.in_(("chat_outcome", "chat_durable")), in_range(DailyCount.day))
        .group_by(DailyCount.metric, DailyCount.day, DailyCount.category, DailyCount.key),
        DailyCount.category,
    )
    # Tallied in plain lists (confirmed, assumed, escalated, abandoned, durable): building
    # frozen dataclasses row by row would cost more than the query.
    slot = {str(o): i for i, o in enumerate(Outcome)}
    total_tally = [0] * 5
    category_tally: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
    day_tally: dict[date, list[int]] = defaultdict(lambda: [0] * 5)
    for metric, day, name, key, n in db.session.execute(statement):
        if not n:
            continue
        index = 4 if metric == "chat_durable" else slot[key]
        for tally in (total_tally, category_tally[name], day_tally[_as_date(day)]):
            tally[index] += int(n)
    outcomes = Outcomes(*total_tally)
    per_category = {name: Outcomes(*tally) for name, tally in category_tally.items()
                    if any(tally)}
    per_day = {day: Outcomes(*tally) for day, tally in day_tally.items()}

    # Daily volumes by category.
    volumes: dict[str, Counter[Any]] = defaultdict(Counter)
    statement = select(DailyCount.metric, DailyCount.day, DailyCount.category,
                       func.sum(DailyCount.count)).where(
        DailyCount.metric.in_(("search", "ticket_created", "handoff", "article_view")),
        in_range(DailyCount.day),
    ).group_by(DailyCount.metric, DailyCount.day, DailyCount.category)
    for metric, day, name, n in db.session.execute(statement):
        if metric != "search" and category is not None and name != category:
            continue
        volumes[metric][_as_date(day)] += int(n)
        volumes[metric + ":category"][name] += int(n)

    def total(metric: str) -> int:
        return sum(volumes[metric].values())

    form_row = db.session.execute(
        select(func.count(), func.sum(case((FormRollup.suggested, 1), else_=0)),
               func.sum(case((FormRollup.suggested & ~FormRollup.ticket_followed, 1), else_=0)))
        .where(in_range(FormRollup.day))
    ).one()
    form = FormDeflection(int(form_row[0] or 0), int(form_row[1] or 0), int(form_row[2] or 0))

    # Distinct actors: each is counted on its first day in the range, the row whose
    # previous day falls before the range (see ActorDay.prev_day).
    people = {
        role: db.session.scalar(select(func.count()).where(
            ActorDay.role == role,
            ActorDay.category == (category if category is not None else ALL_CATEGORIES),
            in_range(ActorDay.day),
            or_(ActorDay.prev_day.is_(None), ActorDay.prev_day < first)))
        for role in ("self_service", "ticket_customer")
    }
    self_service = SelfService(int(people.get("self_service") or 0),
                                 int(people.get("ticket_customer") or 0))

    tickets = _ticket_kpis(first, last, category, total("ticket_created"))
    funnel = Funnel(total("search"), total("article_view"), outcomes.total, total("handoff"),
                      total("ticket_created"))
    if not detail:
        return Report(period, category, outcomes, form, self_service, tickets, funnel,
                        (), (), ContentGaps(), ())

    article_rows = _article_rows(first, last, category)
    gaps = _gaps(first, last, category, article_rows)
    names = set(per_category) | set(volumes["handoff:category"]) | set(
        volumes["ticket_created:category"])
    by_category = order_categories(
        CategoryRow(name, per_category.get(name, Outcomes()),
                      volumes["handoff:category"][name], volumes["ticket_created:category"][name])
        for name in names
        if per_category.get(name) or volumes["handoff:category"][name]
        or volumes["ticket_created:category"][name]
    )
    series = tuple(
        DayPoint(day, per_day.get(day, Outcomes()), volumes["ticket_created"][day],
                   volumes["search"][day])
        for day in period.days()
    )
    return Report(period, category, outcomes, form, self_service, tickets, funnel, by_category,
                    rank_articles(article_rows), gaps, series)


def content_gaps(period: Period, category: str | None = None) -> ContentGaps:
    """The gaps of `report` alone, for the editors' report: of the articles only their votes
    are read (the rows' other figures stay 0), and none of the other figures."""
    first, last = _check_whole_days(period)
    return _gaps(first, last, category,
                 _article_rows(first, last, category, ("vote_helpful", "vote_unhelpful")))


def _gaps(first: date, last: date, category: str | None,
          article_rows: list[ArticleRow]) -> ContentGaps:
    return ContentGaps(
        zero_results=_top_keys("search_zero", first, last),
        no_clicks=_no_click(first, last),
        handoff_topics=_top_keys("handoff", first, last, category),
        unhelpful=rank_unhelpful(article_rows),
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _ticket_kpis(first: date, last: date, category: str | None, created: int) -> TicketKpis:
    backlog_query = select(func.coalesce(func.sum(DailyCount.count), 0)).where(
        DailyCount.metric == "backlog", DailyCount.day <= last)
    if category is not None:
        backlog_query = backlog_query.where(DailyCount.category == category)
    backlog = int(db.session.scalar(backlog_query) or 0)

    def sample_filter(statement: Any, metric: str, *, in_duration_order: bool = False) -> Any:
        day: Any = TicketSample.day
        if in_duration_order:
            # SQLite: "+column" keeps the day range from choosing the day index, so the
            # planner walks the (metric, seconds, ...) index in order and stops at the
            # rank instead of sorting the whole period.
            day = literal_column("+metrics_ticket_sample.day", Date)
        statement = statement.where(TicketSample.metric == metric, day.between(first, last))
        return statement.where(TicketSample.category == category) if category else statement

    distributions = {}
    measured = met = 0
    for metric in ("first_response", "resolution"):
        distributions[metric], counted, passed = _distribution(metric, sample_filter)
        measured += counted
        met += passed

    ratings = select(DailyCount.metric, DailyCount.key, func.sum(DailyCount.count)).where(
        DailyCount.metric.in_(("csat_bot", "csat_human")), DailyCount.day.between(first, last)
    ).group_by(DailyCount.metric, DailyCount.key)
    if category is not None:
        ratings = ratings.where(DailyCount.category == category)
    bot, human = Satisfaction(), Satisfaction()
    for metric, key, n in db.session.execute(ratings):
        n, score = int(n or 0), int(key)
        if not n:
            continue
        satisfied = n if score >= SATISFIED_SCORE else 0
        if metric == "csat_bot":
            bot = bot.add(score * n, n, satisfied)
        else:
            human = human.add(score * n, n, satisfied)
    return TicketKpis(
        created=created, backlog=backlog,
        first_response=distributions["first_response"],
        resolution=distributions["resolution"],
        sla_measured=measured, sla_met=met, csat_bot=bot, csat_human=human,
    )


def _distribution(metric: str, where: Any) -> tuple[Distribution, int, int]:
    """Median and p90 (nearest rank) computed by the database, not by fetching every
    value; with how many samples had an SLA result and how many met it."""
    columns: list[Any] = [func.count(), func.count(TicketSample.sla_met),
                          func.sum(case((TicketSample.sla_met.is_(True), 1), else_=0))]
    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        # percentile_disc is the nearest-rank percentile.
        columns += [func.percentile_disc(0.5).within_group(TicketSample.seconds),
                    func.percentile_disc(0.9).within_group(TicketSample.seconds)]
    row = db.session.execute(where(select(*columns), metric)).one()
    count, measured, met = int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)
    if not count:
        return Distribution(), measured, met
    if postgresql:
        return Distribution(count, row[3], row[4]), measured, met

    def at_rank(share: float) -> float:
        rank = max(1, math.ceil(share * count))
        return float(db.session.scalar(where(
            select(TicketSample.seconds).order_by(TicketSample.seconds)
            .limit(1).offset(rank - 1), metric, in_duration_order=True)))

    return Distribution(count, at_rank(0.5), at_rank(0.9)), measured, met


ARTICLE_METRICS = ("article_view", "vote_helpful", "vote_unhelpful", "read_before_ticket",
                   "cited_resolved", "cited_escalated")


def _article_rows(first: date, last: date, category: str | None,
                  metrics: tuple[str, ...] = ARTICLE_METRICS) -> list[ArticleRow]:
    """Per article, the figures named in `metrics` (the others stay 0)."""
    columns: dict[str, Counter[str]] = defaultdict(Counter)
    statement = select(DailyCount.metric, DailyCount.key, func.sum(DailyCount.count)).where(
        DailyCount.metric.in_(metrics),
        DailyCount.day.between(first, last),
    ).group_by(DailyCount.metric, DailyCount.key)
    if category is not None:
        statement = statement.where(DailyCount.category == category)
    for metric, slug, n in db.session.execute(statement):
        columns[metric][slug] += int(n)
    slugs = set().union(*(set(k for k, v in c.items() if v) for c in columns.values()))
    return [
        ArticleRow(slug, columns["article_view"][slug], columns["vote_helpful"][slug],
                     columns["vote_unhelpful"][slug], columns["cited_resolved"][slug],
                     columns["cited_escalated"][slug], columns["read_before_ticket"][slug])
        for slug in slugs
    ]


def _top_keys(metric: str, first: date, last: date,
              category: str | None = None) -> tuple[Count, ...]:
    total = func.sum(DailyCount.count)
    statement = select(DailyCount.key, total).where(
        DailyCount.metric == metric, DailyCount.day.between(first, last)
    ).group_by(DailyCount.key).having(total > 0).order_by(total.desc(), DailyCount.key).limit(
        TOP)
    if category is not None:
        statement = statement.where(DailyCount.category == category)
    return tuple(Count(key, int(n)) for key, n in db.session.execute(statement))


def _no_click(first: date, last: date) -> tuple[Count, ...]:
    net = func.sum(case((DailyCount.metric == "search_hit", DailyCount.count),
                        else_=-DailyCount.count))
    statement = select(DailyCount.key, net).where(
        DailyCount.metric.in_(("search_hit", "search_clicked")),
        DailyCount.day.between(first, last),
    ).group_by(DailyCount.key).having(net > 0).order_by(net.desc(), DailyCount.key).limit(TOP)
    return tuple(Count(key, int(n)) for key, n in db.session.execute(statement))


def draft_usage(period: Period, category: str | None = None) -> DraftUsage:
    """`draft_definitions.compute_draft_usage` from the rollups."""
    first, last = _check_whole_days(period)
    statement = select(DailyCount.metric, DailyCount.key, func.sum(DailyCount.count)).where(
        DailyCount.metric.in_(("copilot_shown", "copilot_decided", "copilot_rewritten")),
        DailyCount.day.between(first, last),
    ).group_by(DailyCount.metric, DailyCount.key)
    if category is not None:
        statement = statement.where(DailyCount.category == category)
    shown, decided, rewritten = 0, Counter[str](), Counter[float]()
    for metric, key, n in db.session.execute(statement):
        if metric == "copilot_shown":
            shown += int(n or 0)
        elif metric == "copilot_decided":
            decided[key] += int(n or 0)
        else:
            rewritten[float(key)] += int(n or 0)
    return DraftUsage(shown, decided["used"], decided["edited"], decided["discarded"],
                      _median_of_counts(rewritten))


def _median_of_counts(counts: Counter[float]) -> float | None:
    """The nearest-rank median of values kept as (value, how many times)."""
    total = sum(n for n in counts.values() if n > 0)
    if not total:
        return None
    rank = math.ceil(0.5 * total)
    for value in sorted(counts):
        rank -= max(counts[value], 0)
        if rank <= 0:
            return value
    return None


def people(period: Period, category: str | None = None) -> PeopleFigures:
    """`definitions.compute_people` from the rollups."""
    first, last = _check_whole_days(period)
    return PeopleFigures(
        _people_rows("agent", TicketSample.agent_id, first, last, category),
        _people_rows("team", TicketSample.team, first, last, category),
    )


PEOPLE_COUNTS = ("reassigned", "csat", "first_response", "resolution", "sla", "sla_met")


def _people_rows(side: str, column: Any, first: date, last: date,
                 category: str | None) -> tuple[PeopleRow, ...]:
    def by_category(statement: Any, model: Any) -> Any:
        return statement.where(model.category == category) if category is not None else statement

    # Open load, like the backlog: the running sum of +1/-1 up to the last day.
    load: Counter[str] = Counter()
    for name, n in db.session.execute(by_category(
            select(DailyCount.key, func.sum(DailyCount.count)).where(
                DailyCount.metric == f"{side}_load", DailyCount.day <= last)
            .group_by(DailyCount.key), DailyCount)):
        load[name] += int(n or 0)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    satisfaction: dict[str, Satisfaction] = defaultdict(Satisfaction)
    for metric, name, n in db.session.execute(by_category(
            select(DailyCount.metric, DailyCount.key, func.sum(DailyCount.count)).where(
                DailyCount.metric.in_([f"{side}_{kind}" for kind in PEOPLE_COUNTS]),
                DailyCount.day.between(first, last))
            .group_by(DailyCount.metric, DailyCount.key), DailyCount)):
        n = int(n or 0)
        if not n:
            continue
        kind = metric[len(side) + 1:]
        if kind != "csat":
            counts[kind][name] += n
            continue
        holder, _, score = name.rpartition("|")
        value = int(score)
        satisfaction[holder] = satisfaction[holder].add(
            value * n, n, n if value >= SATISFIED_SCORE else 0)

    medians = {metric: _holder_medians(side, column, metric, counts[metric], first, last,
                                       category)
               for metric in ("first_response", "resolution")}
    keys = set(load) | set(satisfaction) | set().union(*(set(c) for c in counts.values()))
    rows = [
        PeopleRow(
            key=name, open_load=load[name], solved=counts["resolution"][name],
            resolution_median=medians["resolution"].get(name),
            responses=counts["first_response"][name],
            response_median=medians["first_response"].get(name),
            sla_measured=counts["sla"][name], sla_met=counts["sla_met"][name],
            csat=satisfaction.get(name, Satisfaction()),
            reassigned=counts["reassigned"][name],
        )
        for name in keys
    ]
    return order_people(row for row in rows if row != PeopleRow(row.key))


def _holder_medians(side: str, column: Any, metric: str, sizes: Counter[str], first: date,
                    last: date, category: str | None) -> dict[str, float]:
    """Nearest-rank median per agent or team, for holders with samples in the period."""
    def holder_is(key: str) -> Any:
        if side == "agent":
            return column.is_(None) if key == NOBODY else column == int(key)
        return column == key

    def where(statement: Any, day: Any) -> Any:
        statement = statement.where(TicketSample.metric == metric, day.between(first, last))
        return statement.where(TicketSample.category == category) if category else statement

    wanted = {key: n for key, n in sizes.items() if n > 0}
    if not wanted:
        return {}
    if db.engine.dialect.name == "postgresql":
        # percentile_disc is the nearest-rank percentile; one grouped pass.
        rows = db.session.execute(where(
            select(column, func.percentile_disc(0.5).within_group(TicketSample.seconds))
            .group_by(column), TicketSample.day))
        found = {(agent_key(key) if side == "agent" else str(key or "")): float(value)
                 for key, value in rows}
        return {key: found[key] for key in wanted if key in found}
    # SQLite: "+day" keeps the planner on the (metric, holder, seconds, ...) index, which
    # it walks in order to the median's rank instead of sorting the holder's samples.
    day = literal_column("+metrics_ticket_sample.day", Date)
    medians = {}
    for key, n in wanted.items():
        value = db.session.scalar(where(
            select(TicketSample.seconds).where(holder_is(key)).order_by(TicketSample.seconds)
            .limit(1).offset((n + 1) // 2 - 1), day))
        if value is not None:
            medians[key] = float(value)
    return medians


__all__ = ["categories", "content_gaps", "draft_usage", "people", "report"]
