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


class TooManyTickets(TicketError):
    """Too many anonymous tickets from one browser or address; `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__("ticket", message)
        self.retry_after = retry_after
