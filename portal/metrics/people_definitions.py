"""Agents' and teams' figures, defined once as plain computation over events.

Like `definitions`, this is the reference the rollups (`queries.people`) must agree with.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portal.metrics.definitions import NO_CATEGORY, TICKET_CLOSES
from portal.metrics.figures import Satisfaction
from portal.metrics.records import EventRecord, Period, nearest_rank, ratio

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
