"""How many tickets a visitor without an account may open: per browser and per address.

Signed-in customers are not counted (their account is accountable); mail and seeded
tickets come with no web address and are not counted either.
"""

from __future__ import annotations

from flask import current_app

from portal.ratelimit import Limit, limiter
from portal.tickets.errors import TooManyTickets


def count_anonymous_ticket(visitor_id: str | None, client_ip: str) -> None:
    """Count one more anonymous ticket; raise TooManyTickets when over either limit."""
    config = current_app.config
    window = int(config["TICKET_LIMIT_WINDOW"])
    budgets = [(f"ticket:ip:{client_ip}", int(config["TICKET_LIMIT_PER_IP"]))]
    if visitor_id:
        budgets.insert(0, (f"ticket:v:{visitor_id}", int(config["TICKET_LIMIT_PER_SESSION"])))
    for key, count in budgets:
        verdict = limiter().hit(key, Limit(count, window))
        if not verdict.allowed:
            minutes = max(1, round(verdict.retry_after / 60))
            raise TooManyTickets(
                "You have opened several tickets in a short time, so this one was not sent. "
                f"Please try again in about {minutes} minute{'s' if minutes != 1 else ''}, "
                "or sign in: signed-in customers are not limited. Your text is still here.",
                verdict.retry_after)
