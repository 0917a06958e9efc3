"""The dashboard's figures, read from the rollups (same results as `definitions`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, time
from typing import Any

from sqlalchemy import case, distinct, func, select

from portal.extensions import db
from portal.metrics import definitions as d
from portal.metrics.models import (
    ActorDay,
    CitationRollup,
    ConversationRollup,
    DailyCount,
    FormRollup,
    TicketRollup,
    TicketSample,
)
from portal.metrics.rollup import UNCATEGORISED_ACTIVITY


def _check_whole_days(period: d.Period) -> tuple[date, date]:
    if period.start.time() != time.min or period.end.time() != time.min:
        raise ValueError("The rollups hold whole days: the period must start and end at midnight.")
    return period.first_day, period.last_day


def categories() -> list[str]:
    """Every category the rollups have seen, for the filter."""
    names = set(db.session.scalars(select(ConversationRollup.category).distinct()))
    names |= set(db.session.scalars(select(TicketRollup.category).distinct()))
    return sorted(n for n in names if n)


def report(period: d.Period, category: str | None = None, *, detail: bool = True) -> d.Report:
    """Every figure of `definitions.compute_report`, from the rollups.

    With detail=False only the headline figures are filled (for the previous
    period's comparison); tables and series stay empty.
    """
    first, last = _check_whole_days(period)

    def in_range(column: Any) -> Any:
        return column.between(first, last)

    def filtered(statement: Any, column: Any) -> Any:
        return statement.where(column == category) if category is not None else statement

    # Conversation outcomes.
    statement = filtered(
        select(ConversationRollup.day, ConversationRollup.category, ConversationRollup.outcome,
               ConversationRollup.durable, func.count())
        .where(in_range(ConversationRollup.day))
        .group_by(ConversationRollup.day, ConversationRollup.category,
                  ConversationRollup.outcome, ConversationRollup.durable),
        ConversationRollup.category,
    )
    outcomes = d.Outcomes()
    per_category: dict[str, d.Outcomes] = defaultdict(d.Outcomes)
    per_day: dict[date, d.Outcomes] = defaultdict(d.Outcomes)
    for day, name, outcome, durable, n in db.session.execute(statement):
        day = _as_date(day)
        outcomes = outcomes.plus(outcome, bool(durable), n)
        per_category[name] = per_category[name].plus(outcome, bool(durable), n)
        per_day[day] = per_day[day].plus(outcome, bool(durable), n)

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
    form = d.FormDeflection(int(form_row[0] or 0), int(form_row[1] or 0), int(form_row[2] or 0))

    actors = select(ActorDay.role, func.count(distinct(ActorDay.actor))).where(
        in_range(ActorDay.day)).group_by(ActorDay.role)
    if category is not None:
        actors = actors.where(ActorDay.category == category)
    people = dict(db.session.execute(actors).all())
    self_service = d.SelfService(int(people.get("self_service", 0)),
                                 int(people.get("ticket_customer", 0)))

    tickets = _ticket_kpis(first, last, category, total("ticket_created"))
    funnel = d.Funnel(total("search"), total("article_view"), outcomes.total, total("handoff"),
                      total("ticket_created"))
    if not detail:
        return d.Report(period, category, outcomes, form, self_service, tickets, funnel,
                        (), (), d.ContentGaps(), ())

    article_rows = _article_rows(first, last, category)
    gaps = d.ContentGaps(
        zero_results=_top_keys("search_zero", first, last),
        no_clicks=_no_click(first, last),
        handoff_topics=_top_keys("handoff", first, last, category),
        unhelpful=d.rank_unhelpful(article_rows),
    )
    names = set(per_category) | set(volumes["handoff:category"]) | set(
        volumes["ticket_created:category"])
    by_category = d.order_categories(
        d.CategoryRow(name, per_category.get(name, d.Outcomes()),
                      volumes["handoff:category"][name], volumes["ticket_created:category"][name])
        for name in names
        if per_category.get(name) or volumes["handoff:category"][name]
        or volumes["ticket_created:category"][name]
    )
    series = tuple(
        d.DayPoint(day, per_day.get(day, d.Outcomes()), volumes["ticket_created"][day],
                   volumes["search"][day])
        for day in period.days()
    )
    return d.Report(period, category, outcomes, form, self_service, tickets, funnel, by_category,
                    d.rank_articles(article_rows), gaps, series)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _ticket_kpis(first: date, last: date, category: str | None, created: int) -> d.TicketKpis:
    backlog_query = select(func.coalesce(func.sum(DailyCount.count), 0)).where(
        DailyCount.metric == "backlog", DailyCount.day <= last)
    if category is not None:
        backlog_query = backlog_query.where(DailyCount.category == category)
    backlog = int(db.session.scalar(backlog_query) or 0)

    samples: dict[str, list[float]] = {"first_response": [], "resolution": []}
    measured = met = 0
    statement = select(TicketSample.metric, TicketSample.seconds, TicketSample.sla_met).where(
        TicketSample.day.between(first, last))
    if category is not None:
        statement = statement.where(TicketSample.category == category)
    for metric, seconds, sla_met in db.session.execute(statement):
        samples[metric].append(seconds)
        if sla_met is not None:
            measured += 1
            met += bool(sla_met)

    csat_query = select(TicketRollup.csat_bot, func.count(), func.sum(TicketRollup.csat_score),
                        func.sum(case((TicketRollup.csat_score >= d.SATISFIED_SCORE, 1),
                                      else_=0))).where(
        TicketRollup.csat_day.between(first, last), TicketRollup.csat_score.is_not(None)
    ).group_by(TicketRollup.csat_bot)
    if category is not None:
        csat_query = csat_query.where(TicketRollup.category == category)
    bot, human = d.Satisfaction(), d.Satisfaction()
    for is_bot, responses, score, satisfied in db.session.execute(csat_query):
        added = d.Satisfaction(int(responses), int(score or 0), int(satisfied or 0))
        if is_bot:
            bot = added
        else:
            human = human.add(added.total_score, added.responses, added.satisfied)
    return d.TicketKpis(
        created=created, backlog=backlog,
        first_response=d.Distribution.of(samples["first_response"]),
        resolution=d.Distribution.of(samples["resolution"]),
        sla_measured=measured, sla_met=met, csat_bot=bot, csat_human=human,
    )


def _article_rows(first: date, last: date, category: str | None) -> list[d.ArticleRow]:
    columns: dict[str, Counter[str]] = defaultdict(Counter)
    statement = select(DailyCount.metric, DailyCount.key, func.sum(DailyCount.count)).where(
        DailyCount.metric.in_(("article_view", "vote_helpful", "vote_unhelpful",
                               "read_before_ticket")),
        DailyCount.day.between(first, last),
    ).group_by(DailyCount.metric, DailyCount.key)
    if category is not None:
        statement = statement.where(DailyCount.category == category)
    for metric, slug, n in db.session.execute(statement):
        columns[metric][slug] += int(n)
    cited = select(CitationRollup.slug, CitationRollup.outcome, func.count()).where(
        CitationRollup.day.between(first, last)).group_by(CitationRollup.slug,
                                                           CitationRollup.outcome)
    if category is not None:
        cited = cited.where(CitationRollup.category == category)
    for slug, outcome, n in db.session.execute(cited):
        if outcome in d.RESOLVED:
            columns["resolved"][slug] += int(n)
        elif outcome == d.Outcome.ESCALATED:
            columns["escalated"][slug] += int(n)
    slugs = set().union(*(set(k for k, v in c.items() if v) for c in columns.values()))
    return [
        d.ArticleRow(slug, columns["article_view"][slug], columns["vote_helpful"][slug],
                     columns["vote_unhelpful"][slug], columns["resolved"][slug],
                     columns["escalated"][slug], columns["read_before_ticket"][slug])
        for slug in slugs
    ]


def _top_keys(metric: str, first: date, last: date,
              category: str | None = None) -> tuple[d.Count, ...]:
    total = func.sum(DailyCount.count)
    statement = select(DailyCount.key, total).where(
        DailyCount.metric == metric, DailyCount.day.between(first, last)
    ).group_by(DailyCount.key).having(total > 0).order_by(total.desc(), DailyCount.key).limit(
        d.TOP)
    if category is not None:
        statement = statement.where(DailyCount.category == category)
    return tuple(d.Count(key, int(n)) for key, n in db.session.execute(statement))


def _no_click(first: date, last: date) -> tuple[d.Count, ...]:
    net = func.sum(case((DailyCount.metric == "search_hit", DailyCount.count),
                        else_=-DailyCount.count))
    statement = select(DailyCount.key, net).where(
        DailyCount.metric.in_(("search_hit", "search_clicked")),
        DailyCount.day.between(first, last),
    ).group_by(DailyCount.key).having(net > 0).order_by(net.desc(), DailyCount.key).limit(d.TOP)
    return tuple(d.Count(key, int(n)) for key, n in db.session.execute(statement))


__all__ = ["UNCATEGORISED_ACTIVITY", "categories", "report"]
