"""Tickets as the rest of the portal sees them: every change goes through here.

The work is done in the package's modules (creating, reading, changes, assigning,
dispatch, sweep, teams); this module is the one other packages import.
"""

from __future__ import annotations

from portal.tickets.assigning import (
    MAX_REASON,
    assign,
    bulk_assign,
    claim,
    escalate,
    move_team,
)
from portal.tickets.changes import (
    add_note,
    bulk_status,
    change_priority,
    change_status,
    close,
    link_article,
    rate,
    reopen,
    reply,
)
from portal.tickets.common import (
    AGENT_ROLES,
    MAX_NAME,
    MAX_SUBJECT,
    NUMBER_OFFSET,
    Actor,
    BulkResult,
    TicketRef,
    customer_url,
    max_message_chars,
)
from portal.tickets.creating import blank_field_errors, create_ticket
from portal.tickets.dispatch import RouteResult, route, routing_status
from portal.tickets.errors import ConflictError, TicketError, TooManyTickets
from portal.tickets.hooks import TicketChange, register_listener
from portal.tickets.models import TIERS, tier_label
from portal.tickets.moods import NEGATIVE as NEGATIVE
from portal.tickets.moods import NEUTRAL as NEUTRAL
from portal.tickets.moods import Mood, register_scorer
from portal.tickets.moods import score as message_mood
from portal.tickets.reading import (
    QueueFilters,
    QueuePage,
    TicketSummary,
    agent_choices,
    audit_trail,
    can_reopen,
    get_ticket,
    queue,
    rating_for,
    requester_tickets,
    solved_ticket_ids,
    solved_with_replies,
    thread,
    ticket_by_id,
    tickets_by_ids,
)
from portal.tickets.requesters import (
    open_tracking_link,
    submitted_ticket,
    ticket_from_tracking_token,
)
from portal.tickets.sweep import SweepReport, sweep_slas
from portal.tickets.teams import (
    TeamInfo,
    create_team,
    list_teams,
    remove_membership,
    set_membership,
    team_choices,
    team_names,
    update_team,
)

__all__ = [
    "Actor", "BulkResult", "ConflictError", "QueueFilters", "QueuePage", "SweepReport",
    "TicketError", "TicketRef", "TicketSummary", "TooManyTickets", "add_note", "agent_choices",
    "assign",
    "bulk_assign", "bulk_status", "can_reopen", "change_priority", "change_status", "claim",
    "blank_field_errors", "close", "create_ticket", "customer_url", "get_ticket",
    "link_article", "queue",
    "rate", "rating_for", "reopen", "reply", "requester_tickets", "sweep_slas", "thread",
    "ticket_from_tracking_token", "audit_trail", "open_tracking_link", "submitted_ticket",
    # limits the mail intake fits its messages to
    "AGENT_ROLES", "MAX_NAME", "MAX_REASON", "MAX_SUBJECT", "NUMBER_OFFSET",
    "max_message_chars",
    # teams, routing and escalation
    "RouteResult", "TeamInfo", "TIERS", "create_team", "escalate", "list_teams",
    "move_team", "remove_membership", "route", "routing_status", "set_membership",
    "team_choices", "team_names", "tier_label", "update_team",
    # the tone of customers' messages, scored by whoever registers a scorer (the copilot)
    "Mood", "message_mood", "register_scorer",
    # what the copilot hears about after a change is committed
    "TicketChange", "register_listener",
    # solved tickets and the replies that solved them (the copilot's similar tickets)
    "solved_ticket_ids", "solved_with_replies", "ticket_by_id", "tickets_by_ids",
]
