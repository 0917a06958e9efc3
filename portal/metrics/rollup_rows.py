"""What a batch knows of a ticket and a ticket-form opening while it folds events in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from portal.metrics.people_definitions import agent_key


@dataclass
class TicketState:
    ticket_id: int
    created_at: datetime
    category: str
    visitor_id: str | None
    person: str | None
    is_open: bool = True
    csat_score: int | None = None
    csat_day: date | None = None
    csat_bot: bool | None = None
    is_new: bool = False
    changed: bool = False
    assignee_id: int | None = None
    team: str = ""
    csat_agent_id: int | None = None
    csat_team: str | None = None

    @property
    def holder(self) -> str:
        return agent_key(self.assignee_id)


@dataclass
class FormOpening:
    form_id: str | None
    opened_at: datetime
    visitor_id: str | None
    person: str | None
    id: int | None = None
    suggested: bool = False
    ticket_followed: bool = False
    changed: bool = False


class TicketIndex:
    """New tickets by person and by browser, to find a customer's tickets quickly."""

    def __init__(self, tickets: Iterable[TicketState]) -> None:
        self.by_person: dict[str, list[TicketState]] = defaultdict(list)
        self.by_visitor: dict[str, list[TicketState]] = defaultdict(list)
        for ticket in tickets:
            if ticket.person:
                self.by_person[ticket.person].append(ticket)
            if ticket.visitor_id:
                self.by_visitor[ticket.visitor_id].append(ticket)

    def matching(self, person: str | None, visitor_id: str | None) -> list[TicketState]:
        found = list(self.by_person.get(person, ())) if person else []
        if visitor_id:
            found += [t for t in self.by_visitor.get(visitor_id, ()) if t not in found]
        return found
