"""Service-level targets per priority, and how a deadline reads to a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from portal.tickets.models import TicketPriority

# Minutes to the first public reply and to the solution, per priority. Wall-clock
# time: the clock does not stop while a ticket is pending.
DEFAULT_SLA_MINUTES: dict[str, dict[str, int]] = {
    "urgent": {"first_response": 60, "resolution": 8 * 60},
    "high": {"first_response": 4 * 60, "resolution": 24 * 60},
    "normal": {"first_response": 8 * 60, "resolution": 72 * 60},
    "low": {"first_response": 24 * 60, "resolution": 7 * 24 * 60},
}
DEFAULT_DUE_SOON_MINUTES = 60


@dataclass(frozen=True)
class Targets:
    first_response: timedelta
    resolution: timedelta


def targets(priority: TicketPriority | str) -> Targets:
    configured = current_app.config.get("TICKET_SLA_MINUTES") or {}
    key = str(priority)
    minutes = {**DEFAULT_SLA_MINUTES[key], **configured.get(key, {})}
    return Targets(
        first_response=timedelta(minutes=int(minutes["first_response"])),
        resolution=timedelta(minutes=int(minutes["resolution"])),
    )


def due_soon_window() -> timedelta:
    minutes = current_app.config.get("TICKET_DUE_SOON_MINUTES", DEFAULT_DUE_SOON_MINUTES)
    return timedelta(minutes=int(minutes))


def countdown(due: datetime | None, now: datetime) -> str:
    """'due in 3h 20m' or 'breached 45m ago' — what the queue and ticket page show."""
    if due is None:
        return ""
    delta = due - now
    late = delta.total_seconds() < 0
    text = _duration(abs(delta))
    return f"breached {text} ago" if late else f"due in {text}"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"
