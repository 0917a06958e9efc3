"""A week of ticket work by three agents in two teams, every figure computed by hand.

The period is the scenario week (Monday 3 to Sunday 9 March 2025). Agents are
passed in so tests can use real accounts (their names show on the dashboard).

- 50 (billing): created unassigned in billing, given to A1; A1 replies in 1 h (met) and
  solves after 24 h (missed); rated 5.
- 51 (devices): routed to A2 in technical; A2 replies in 30 min (met); escalated to A3 on
  Wednesday; open at the end.
- 52 (billing): created for A1; A2 replies in 20 min (met); moved to technical with nobody
  holding it; open.
- 53 (devices): A3's; replies in 4 h (missed), solves after 24 h (met), rated 2, reopened
  on Saturday; open.
- 54 (billing): created the week before for A2 and given to A1 that day (not counted);
  solved by A1 on Wednesday (missed).
- 55 (billing): unassigned; solved by A2 in 30 min (met); rated 1, then 4, with nobody
  holding it (the 4 counts).
- 56 (billing): created on Sunday evening for A1; open at the end.
- 57 (billing): created the Monday after for A1; not in the week's load.
"""

from __future__ import annotations

from datetime import datetime

from portal.events import EventKind, emit
from portal.extensions import db
from portal.metrics.figures import Satisfaction
from portal.metrics.people_definitions import NOBODY, PeopleFigures, PeopleRow

K = EventKind
HOUR = 3600
DAY = 24 * HOUR


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute)


def insert_people_scenario(a1: int, a2: int, a3: int) -> None:
    def created(moment: datetime, ticket: int, category: str, agent: int | None,
                team: str) -> None:
        emit(K.TICKET_CREATED, occurred_at=moment, ticket_id=ticket, category=category,
             source="form", priority="normal", number=10_000 + ticket, agent_id=agent, team=team,
             tier=1)

    def assigned(moment: datetime, ticket: int, before: int | None, after: int | None,
                 team_before: str, team_after: str) -> None:
        emit(K.TICKET_ASSIGNED, occurred_at=moment, ticket_id=ticket, agent_id=after,
             previous_agent_id=before, team=team_after, previous_team=team_before)

    def replied(moment: datetime, ticket: int, agent: int, team: str, seconds: int,
                met: bool) -> None:
        emit(K.TICKET_FIRST_RESPONSE, occurred_at=moment, ticket_id=ticket, seconds=seconds,
             sla_met=met, agent_id=agent, team=team)

    def solved(moment: datetime, ticket: int, category: str, agent: int | None, team: str,
               seconds: int, met: bool) -> None:
        emit(K.TICKET_SOLVED, occurred_at=moment, ticket_id=ticket, category=category,
             seconds=seconds, sla_met=met, agent_id=agent, team=team)

    def rated(moment: datetime, ticket: int, category: str, score: int, agent: int | None,
              team: str) -> None:
        emit(K.CSAT, occurred_at=moment, ticket_id=ticket, category=category, score=score,
             source="form", agent_id=agent, team=team)

    # The week before.
    created(at(28, 8, month=2), 54, "billing", a2, "billing")
    assigned(at(28, 9, month=2), 54, a2, a1, "billing", "billing")
    replied(at(28, 10, month=2), 54, a1, "billing", 2 * HOUR, True)

    created(at(3, 9), 50, "billing", None, "billing")
    assigned(at(3, 9, 30), 50, None, a1, "billing", "billing")
    replied(at(3, 10), 50, a1, "billing", HOUR, True)
    solved(at(4, 9), 50, "billing", a1, "billing", DAY, False)
    rated(at(4, 12), 50, "billing", 5, a1, "billing")

    created(at(3, 12), 51, "devices", a2, "technical")
    replied(at(3, 12, 30), 51, a2, "technical", 30 * 60, True)
    emit(K.TICKET_ESCALATED, occurred_at=at(5, 9), ticket_id=51, category="devices",
         team="technical", from_tier=1, to_tier=2, by="agent")
    assigned(at(5, 9), 51, a2, a3, "technical", "technical")

    created(at(4, 8), 52, "billing", a1, "billing")
    replied(at(4, 8, 20), 52, a2, "billing", 20 * 60, True)
    assigned(at(6, 10), 52, a1, None, "billing", "technical")

    created(at(5, 10), 53, "devices", a3, "technical")
    replied(at(5, 14), 53, a3, "technical", 4 * HOUR, False)
    solved(at(6, 10), 53, "devices", a3, "technical", DAY, True)
    rated(at(7, 9), 53, "devices", 2, a3, "technical")
    emit(K.TICKET_REOPENED, occurred_at=at(8, 9), ticket_id=53)

    solved(at(5, 11), 54, "billing", a1, "billing", 450_000, False)

    created(at(6, 9), 55, "billing", None, "billing")
    solved(at(6, 9, 30), 55, "billing", a2, "billing", 30 * 60, True)
    rated(at(6, 12), 55, "billing", 1, None, "billing")
    rated(at(7, 10), 55, "billing", 4, None, "billing")

    created(at(9, 20), 56, "billing", a1, "billing")
    created(at(10, 9), 57, "billing", a1, "billing")
    db.session.commit()


def expected_people(a1: int, a2: int, a3: int) -> PeopleFigures:
    """The week's figures, worked out by hand from the table above."""
    sat = Satisfaction
    agents = (
        # A3: holds 51 (escalated to them) and 53 (reopened); solved 53 after 24 h;
        # replied to 53 in 4 h; SLA: reply missed, solve met = 1 of 2; rated 2.
        PeopleRow(str(a3), open_load=2, solved=1, resolution_median=DAY, responses=1,
                    response_median=4 * HOUR, sla_measured=2, sla_met=1, csat=sat(1, 2, 0)),
        # A1: holds 56; solved 50 (24 h) and 54 (450,000 s): nearest-rank median of two is
        # the smaller; replied to 50 in 1 h; SLA: reply met, both solves missed = 1 of 3;
        # rated 5; 52 was taken from them.
        PeopleRow(str(a1), open_load=1, solved=2, resolution_median=DAY, responses=1,
                    response_median=HOUR, sla_measured=3, sla_met=1, csat=sat(1, 5, 1),
                    reassigned=1),
        # Nobody: 52 after the move; 55's latest rating (4) was given with nobody holding it.
        PeopleRow(NOBODY, open_load=1, csat=sat(1, 4, 1)),
        # A2: holds nothing; solved 55 in 30 min; replied to 51 (30 min) and 52 (20 min):
        # median 20 min; SLA 3 of 3; 51 was escalated away from them.
        PeopleRow(str(a2), solved=1, resolution_median=30 * 60, responses=2,
                    response_median=20 * 60, sla_measured=3, sla_met=3, reassigned=1),
    )
    teams = (
        # technical: 51, 52 (moved in) and 53 open; solved 53; replies 51 (30 min) and 53
        # (4 h): median 30 min; SLA: 51 met, 53 missed, 53's solve met = 2 of 3; rated 2.
        PeopleRow("technical", open_load=3, solved=1, resolution_median=DAY, responses=2,
                    response_median=30 * 60, sla_measured=3, sla_met=2, csat=sat(1, 2, 0)),
        # billing: 56 open; solved 50 (24 h), 54 (450,000 s), 55 (30 min): median 24 h;
        # replies 50 (1 h) and 52 (20 min): median 20 min; SLA 2 replies met, solves 50 and
        # 54 missed, 55 met = 3 of 5; ratings 5 and 4 (55's latest); 52 moved away.
        PeopleRow("billing", open_load=1, solved=3, resolution_median=DAY, responses=2,
                    response_median=20 * 60, sla_measured=5, sla_met=3, csat=sat(2, 9, 2),
                    reassigned=1),
    )
    return PeopleFigures(agents, teams)

