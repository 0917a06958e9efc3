"""Teams, the agents in them with their tiers, and how a team hands out new tickets.

Other packages reach these through `tickets.services`, which re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets.errors import TicketError
from portal.tickets.models import (
    TEAM_SLUG,
    TIERS,
    AgentMembership,
    Assignment,
    Team,
    Ticket,
    tier_label,
)

AGENT_ROLES = (Role.AGENT, Role.ADMIN)


@dataclass(frozen=True)
class TeamMember:
    user_id: int
    name: str
    email: str
    tier: int
    open_tickets: int

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)


@dataclass(frozen=True)
class TeamInfo:
    id: int
    slug: str
    name: str
    is_default: bool
    assignment: str
    members: tuple[TeamMember, ...]
    open_tickets: int


def parse_tier(raw: Any) -> int:
    text = str(raw or "").strip().upper()
    for number, label in enumerate(TIERS, 1):
        if text in (label, str(number)):
            return number
    raise TicketError("tier", f"Tier must be one of: {', '.join(TIERS)}.")


def parse_assignment(raw: Any) -> Assignment:
    text = str(raw or "").strip().lower().replace("-", "_")
    try:
        return Assignment(text)
    except ValueError:
        options = ", ".join(a.value.replace("_", "-") for a in Assignment)
        raise TicketError("assignment", f"Assignment must be one of: {options}.") from None


def get_team(slug: str) -> Team | None:
    return db.session.scalar(select(Team).where(Team.slug == slug.strip().lower()))


def team_by_id(team_id: int | None) -> Team | None:
    return db.session.get(Team, team_id) if team_id is not None else None


def default_team() -> Team | None:
    return db.session.scalar(select(Team).where(Team.is_default.is_(True)).limit(1))


def team_choices() -> list[tuple[int, str]]:
    return [(team.id, team.name) for team in db.session.scalars(select(Team).order_by(Team.name))]


def team_names() -> dict[str, str]:
    """Team name by slug (events and routing rules name teams by slug)."""
    return {slug: name for slug, name in db.session.execute(select(Team.slug, Team.name))}


def _open_counts(column: Any) -> dict[int, int]:
    rows = db.session.execute(
        select(column, func.count()).where(Ticket.next_due.is_not(None), column.is_not(None))
        .group_by(column))
    return {key: int(count) for key, count in rows}


def list_teams() -> list[TeamInfo]:
    teams = list(db.session.scalars(select(Team).order_by(Team.name)))
    members = list(db.session.scalars(select(AgentMembership)))
    people = {user.id: user for user in accounts.users_with_role(*AGENT_ROLES)}
    by_agent = _open_counts(Ticket.assignee_id)
    by_team = _open_counts(Ticket.team_id)
    result = []
    for team in teams:
        rows = sorted(
            (TeamMember(m.user_id, people[m.user_id].name, people[m.user_id].email, m.tier,
                        by_agent.get(m.user_id, 0))
             for m in members if m.team_id == team.id and m.user_id in people),
            key=lambda member: (member.tier, member.name.lower()))
        result.append(TeamInfo(team.id, team.slug, team.name, team.is_default,
                               str(team.assignment), tuple(rows), by_team.get(team.id, 0)))
    return result


def _set_default(team: Team) -> None:
    db.session.execute(update(Team).where(Team.id != team.id).values(is_default=False))
    team.is_default = True


def create_team(slug: str, name: str, *, assignment: str = "manual",
                default: bool = False) -> Team:
    # Only spaces are forgiven: a slug sent with a newline or tab was not typed in the form.
    slug = slug.strip(" ").lower()
    name = " ".join(name.split())
    if not TEAM_SLUG.fullmatch(slug):
        raise TicketError("slug", "The short name must be lower-case letters, digits and hyphens "
                                "(up to 40), e.g. “billing”.")
    if not name or len(name) > 80:
        raise TicketError("name", "Give the team a name of up to 80 characters.")
    mode = parse_assignment(assignment)
    if get_team(slug) is not None:
        raise TicketError("slug", f"A team called “{slug}” already exists.")
    team = Team(slug=slug, name=name, assignment=mode, is_default=False, created_at=utcnow())
    db.session.add(team)
    db.session.flush()
    if default or default_team() is None:
        # The first team is the default until another is chosen: unmatched tickets need one.
        _set_default(team)
    db.session.commit()
    return team


def update_team(slug: str, *, name: str | None = None, assignment: str | None = None,
                default: bool = False) -> Team:
    team = get_team(slug)
    if team is None:
        raise TicketError("team", f"There is no team called “{slug}”.")
    if name is not None:
        cleaned = " ".join(name.split())
        if not cleaned or len(cleaned) > 80:
            raise TicketError("name", "Give the team a name of up to 80 characters.")
        team.name = cleaned
    if assignment is not None:
        team.assignment = parse_assignment(assignment)
    if default:
        _set_default(team)
    db.session.commit()
    return team


def membership(user_id: int) -> AgentMembership | None:
    return db.session.get(AgentMembership, user_id)


def set_membership(user_id: int, team_slug: str, tier: Any) -> AgentMembership:
    user = accounts.get_user(user_id)
    if user is None or user.role not in AGENT_ROLES:
        raise TicketError("agent", "Only agents (and admins) can join a team.")
    team = get_team(team_slug)
    if team is None:
        raise TicketError("team", f"There is no team called “{team_slug}”.")
    level = parse_tier(tier)
    row = membership(user_id)
    if row is None:
        row = AgentMembership(user_id=user_id, team_id=team.id, tier=level)
        db.session.add(row)
    row.team_id, row.tier, row.updated_at = team.id, level, utcnow()
    db.session.commit()
    return row


def remove_membership(user_id: int) -> bool:
    row = membership(user_id)
    if row is None:
        return False
    db.session.delete(row)
    db.session.commit()
    return True


def _candidates(team: Team, tier: int) -> list[int]:
    people = {user.id for user in accounts.users_with_role(*AGENT_ROLES) if user.active}
    ids = db.session.scalars(select(AgentMembership.user_id).where(
        AgentMembership.team_id == team.id, AgentMembership.tier == tier))
    return sorted(i for i in ids if i in people)


def pick_assignee(team: Team, tier: int, *, dry_run: bool = False) -> int | None:
    """The agent of `team` at `tier` who gets the next ticket, per the team's setting."""
    if team.assignment == Assignment.MANUAL:
        return None
    candidates = _candidates(team, tier)
    if not candidates:
        return None
    if team.assignment == Assignment.LEAST_LOADED:
        load = _open_counts(Ticket.assignee_id)
        return min(candidates, key=lambda agent: (load.get(agent, 0), agent))
    chosen = candidates[0]
    for _attempt in range(5):
        last = team.last_assigned_id
        chosen = next((agent for agent in candidates if last is None or agent > last),
                      candidates[0])
        if dry_run:
            return chosen
        # Moving the cursor only from the value read makes two simultaneous tickets
        # go to two agents: the loser re-reads and takes the next one.
        moved = db.session.execute(
            update(Team).where(Team.id == team.id,
                               Team.last_assigned_id.is_(None) if last is None
                               else Team.last_assigned_id == last)
            .values(last_assigned_id=chosen).execution_options(synchronize_session=False))
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            team.last_assigned_id = chosen
            return chosen
        db.session.refresh(team)
    return chosen


def agent_tier(user_id: int | None) -> int | None:
    row = membership(user_id) if user_id is not None else None
    return row.tier if row is not None else None


DEMO_TEAMS = (
    ("general", "General Support", Assignment.MANUAL, True),
    ("billing", "Billing", Assignment.LEAST_LOADED, False),
    ("technical", "Technical", Assignment.ROUND_ROBIN, False),
)
DEMO_MEMBERS = (
    ("agent@example.com", "technical", 1),
    ("agent2@example.com", "billing", 1),
    ("agent3@example.com", "technical", 2),
    ("agent4@example.com", "general", 1),
)


def ensure_demo_teams() -> list[str]:
    """The demo's teams and memberships (idempotent); returns what it set up."""
    done = []
    for slug, name, mode, is_default in DEMO_TEAMS:
        if get_team(slug) is None:
            create_team(slug, name, assignment=mode.value, default=is_default)
        done.append(slug)
    for email, slug, tier in DEMO_MEMBERS:
        user = accounts.find_user_by_email(email)
        if user is not None and membership(user.id) is None:
            set_membership(user.id, slug, tier)
            done.append(f"{email} in {slug} at {tier_label(tier)}")
    return done
