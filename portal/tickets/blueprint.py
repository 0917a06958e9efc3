"""The tickets blueprint and the ticket lookups its view modules share.

Customer, agent, admin and attachment views all register on `bp` and open tickets
through these checks, so none of them needs to import another view module.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import security
from portal.tickets import links, services
from portal.tickets.models import Ticket
from portal.tickets.services import Actor
from portal.web import render

bp = Blueprint("tickets", __name__, template_folder="templates", url_prefix="/tickets")


def is_agent(user: Any) -> bool:
    return bool(user.is_authenticated) and Actor.of(user).staff


def user_ticket(number: int) -> Ticket:
    """The ticket if the signed-in user may see it; 404 otherwise, existing or not."""
    ticket = services.get_ticket(number)
    if ticket is None:
        abort(404)
    if not is_agent(current_user) and ticket.requester_id != current_user.id:
        abort(404)
    return ticket


def tracked_ticket(token: str) -> Ticket | Response | tuple[str, int]:
    """The ticket a tracking link opens (verifying its requester on first use), or the page
    that says what is wrong with the link."""
    security.mark_private()
    try:
        return services.open_tracking_link(token)
    except links.TrackingLinkError as exc:
        return render("tickets/link_problem.html", message=exc.message,
                      expired=exc.expired), 410 if exc.expired else 404
