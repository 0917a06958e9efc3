"""The errors ticket services raise: a message for the person, and the form field it concerns."""

from __future__ import annotations


class TicketError(ValueError):
    """A user-facing problem; `field` names the form field (or "ticket")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConflictError(TicketError):
    """Someone else changed the ticket first; the message says what happened."""
