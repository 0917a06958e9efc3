"""What the dashboard and the exports ask for: filters in, figures out.

Nothing imports this package (the architecture test says so); its views and CLI do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from portal.accounts import services as accounts
from portal.clock import utcnow
from portal.extensions import db
from portal.inputs import parse_row_id
from portal.kb import services as kb
from portal.metrics import queries, rollup
from portal.metrics.figures import ContentGaps, DayPoint, DraftUsage, Report, bucket_series
from portal.metrics.people_definitions import NOBODY, PeopleFigures
from portal.metrics.records import Period
from portal.tickets import services as tickets

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)
WEEKLY_FROM_DAYS = 63


@dataclass(frozen=True)
class Filters:
    first: date
    last: date
    category: str | None = None
    grain: str = "auto"
    problems: tuple[str, ...] = field(default=())

    @property
    def period(self) -> Period:
        return Period.of_days(self.first, self.last)

    @property
    def weekly(self) -> bool:
        if self.grain in ("day", "week"):
            return self.grain == "week"
        return (self.last - self.first).days + 1 >= WEEKLY_FROM_DAYS

    def query(self, **changes: str) -> dict[str, str]:
        values = {"start": self.first.isoformat(), "end": self.last.isoformat(),
                  "category": self.category or "", "grain": self.grain}
        values.update(changes)
        return {k: v for k, v in values.items() if v}


def _parse_day(raw: str | None, name: str, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        problems.append(f"The {name} date “{raw[:20]}” is not a date (use YYYY-MM-DD); "
                        "showing the default range instead.")
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        # Far-off dates overflow the period arithmetic (previous period, weeks).
        problems.append(f"The {name} date {day.isoformat()} is out of range (use a date "
                        f"between {EARLIEST_DAY.year} and {LATEST_DAY.year}); "
                        "showing the default range instead.")
        return None
    return day


def parse_filters(args: Mapping[str, str], today: date | None = None) -> Filters:
    """Read the dashboard's query string; anything unusable falls back with a message."""
    today = today or utcnow().date()
    problems: list[str] = []
    first = _parse_day(args.get("start"), "start", problems)
    last = _parse_day(args.get("end"), "end", problems)
    if last is None:
        last = today
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        problems.append("The start date was after the end date: the two were swapped.")
        first, last = last, first
    if (last - first).days + 1 > MAX_DAYS:
        problems.append(f"Ranges are limited to {MAX_DAYS} days: the start was moved.")
        first = last - timedelta(days=MAX_DAYS - 1)
    category = (args.get("category") or "").strip()[:100] or None
    grain = args.get("grain") if args.get("grain") in ("auto", "day", "week") else "auto"
    return Filters(first, last, category, grain or "auto", tuple(problems))


def refresh_rollups() -> None:
    """Bring the rollups up to date; on failure the dashboard shows what it has."""
    try:
        rollup.refresh()
    except Exception:  # noqa: BLE001 - stale figures beat no dashboard
        db.session.rollback()
        log.exception("metrics rollup refresh failed")


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    current: Report
    previous: Report
    series: list[DayPoint]
    categories: list[str]
    people: PeopleFigures = PeopleFigures()
    # Display names for the people table keys (agent ids as text, team slugs).
    agent_names: Mapping[str, str] = field(default_factory=dict)
    team_names: Mapping[str, str] = field(default_factory=dict)
    category_names: Mapping[str, str] = field(default_factory=dict)
    # Teams where tickets wait with nobody to answer them: the default team, or any with
    # open tickets, that has no agents.
    unstaffed_teams: tuple[str, ...] = ()
    # What agents did with the copilot's drafts, this period and the one before.
    drafts: DraftUsage = DraftUsage()
    previous_drafts: DraftUsage = DraftUsage()

    def category_name(self, slug: str | None) -> str:
        return self.category_names.get(slug or "", slug or "(none)")


def _agent_names(keys: set[str]) -> dict[str, str]:
    names = {NOBODY: "(unassigned)"}
    for key in keys - {NOBODY}:
        user_id = parse_row_id(key)
        user = accounts.get_user(user_id) if user_id is not None else None
        names[key] = user.name if user is not None else f"agent #{key} (removed)"
    return names


def dashboard(filters: Filters) -> Dashboard:
    refresh_rollups()
    current = queries.report(filters.period, filters.category)
    previous = queries.report(filters.period.previous(), filters.category, detail=False)
    names = queries.categories()
    if filters.category and filters.category not in names:
        names.append(filters.category)
    people = queries.people(filters.period, filters.category)
    return Dashboard(filters, current, previous,
                     bucket_series(current.series, filters.weekly), sorted(names), people,
                     _agent_names({row.key for row in people.agents}),
                     {NOBODY: "(no team)", **tickets.team_names()},
                     {slug: kb.category_name(slug)
                      for slug in {*names, *(row.category for row in current.by_category)}
                      if slug},
                     _unstaffed_teams(),
                     queries.draft_usage(filters.period, filters.category),
                     queries.draft_usage(filters.period.previous(), filters.category))


def _unstaffed_teams() -> tuple[str, ...]:
    return tuple(team.name for team in tickets.list_teams()
                 if not team.members and (team.is_default or team.open_tickets))



def content_gaps(filters: Filters) -> ContentGaps:
    """What customers looked for and did not find, for the editors' own report."""
    refresh_rollups()
    return queries.content_gaps(filters.period)
