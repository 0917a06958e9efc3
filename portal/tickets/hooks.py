"""Who wants to know when a ticket changed, after the change is committed.

Packages above tickets (the copilot) register a listener when the app is built, as the
copilot registers the mood scorer (`moods.register_scorer`), so tickets never import them.
A listener runs in the request that made the change: it must be quick (hand slow work to a
background thread) and it can never undo or fail the change it hears about.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from flask import Flask, current_app

log = logging.getLogger(__name__)

_LISTENERS_KEY = "portal.tickets.change_listeners"


class TicketChange(StrEnum):
    CUSTOMER_WROTE = "customer_wrote"  # a new ticket, or the customer's reply
    SOLVED = "solved"


Listener = Callable[[TicketChange, int], None]


def register_listener(app: Flask, listener: Listener) -> None:
    app.extensions.setdefault(_LISTENERS_KEY, []).append(listener)


def changed(kind: TicketChange, ticket_id: int) -> None:
    """Tell the listeners; their failures are logged, never the caller's."""
    for listener in current_app.extensions.get(_LISTENERS_KEY, []):
        try:
            listener(kind, ticket_id)
        except Exception:  # noqa: BLE001 - the ticket's change is committed already
            log.warning("ticket change listener failed for %s of ticket %s", kind, ticket_id,
                        exc_info=True)
