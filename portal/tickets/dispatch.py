"""Routing a ticket: the rule file's decision turned into a team, a tier and an agent."""

from __future__ import annotations

from dataclasses import dataclass

from portal.accounts import services as accounts
from portal.extensions import db
from portal.tickets import routing, teams
from portal.tickets.common import AGENT_ROLES, agent_names
from portal.tickets.models import tier_label
from portal.tickets.moods import NEUTRAL


@dataclass(frozen=True)
class RouteResult:
    """Where a ticket goes: what the rules decided, and what became of it here."""

    team_id: int | None
    team_slug: str
    team_name: str
    tier: int
    priority: str
    assignee_id: int | None
    assignee_name: str
    tags: tuple[str, ...]
    fired: tuple[str, ...]
    # Why part of a decision could not be carried out (an unknown team or agent).
    notes: tuple[str, ...]
    loop: str
    auto_assigned: bool

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)


def routing_status(*, force: bool = False) -> routing.Status:
    """The rule file's state; a changed valid file becomes the active rules."""
    current = routing.status(force=force)
    db.session.commit()
    return current


def route(*, subject: str, description: str, category: str | None, source: str,
          requester_email: str, priority: str, sentiment: str | None = None,
          dry_run: bool = False) -> RouteResult:
    """Apply the active routing rules to a ticket's facts (dry_run: change nothing)."""
    facts = routing.TicketFacts(subject, description, category, str(source),
                                requester_email.lower(), str(priority),
                                sentiment or NEUTRAL)
    decision = routing.evaluate(routing.active_rules(), facts)
    state = decision.state
    notes: list[str] = []
    team = None
    if state.team:
        team = teams.get_team(state.team)
        if team is None:
            notes.append(f"Team “{state.team}” does not exist: the default team takes it.")
    if team is None:
        team = teams.default_team()
    tier = state.tier or 1
    assignee_id: int | None = None
    if state.assignee:
        agent = accounts.find_user_by_email(state.assignee)
        if agent is None or agent.role not in AGENT_ROLES or not agent.active:
            notes.append(f"{state.assignee} is not an active agent: the ticket is not assigned.")
        else:
            assignee_id = agent.id
    auto = False
    if assignee_id is None and team is not None:
        assignee_id = teams.pick_assignee(team, tier, dry_run=dry_run)
        auto = assignee_id is not None
    tags = state.tags + (("routing-loop",) if decision.loop else ())
    return RouteResult(
        team_id=team.id if team else None, team_slug=team.slug if team else "",
        team_name=team.name if team else "", tier=tier, priority=state.priority,
        assignee_id=assignee_id,
        assignee_name=agent_names().get(assignee_id, "") if assignee_id else "",
        tags=tags, fired=decision.fired, notes=tuple(notes), loop=decision.loop_message,
        auto_assigned=auto,
    )
