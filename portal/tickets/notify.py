"""Ticket e-mail: what makes a message about one ticket answerable by e-mail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal import mail, site
from portal.tickets.mail import tokens


def send(to: str, subject: str, body: str, *, ticket_number: int | None = None) -> bool:
    """Deliver one plain-text message; True when it was handed over (or written).

    With `ticket_number` the message carries the signed reply token, so an emailed
    answer to it is added to that ticket by the mail intake.
    """
    if ticket_number is None:
        return mail.send(to, subject, body)
    return mail.send(
        to, tokens.tagged_subject(subject, ticket_number),
        f"{tokens.REPLY_ABOVE_MARKER}\n\n{body}",
        headers={tokens.TICKET_HEADER: tokens.header_value(ticket_number)},
        message_id=tokens.message_id(ticket_number),
    )


def send_words(to: str, name: str, values: Mapping[str, Any], *, ticket_number: int | None,
               answerable: bool = False) -> bool:
    """Send the site's `mail.<name>` subject and body (content/_words.yml) about one ticket.

    The subject starts with the ticket's number so every mail about it threads together;
    an `answerable` mail (one to the requester) also carries the reply token.
    """
    words = site.current()
    subject = f"[#{ticket_number}] " + words.text(f"mail.{name}.subject", **values)
    body = words.text(f"mail.{name}.body", **values)
    return send(to, subject, body, ticket_number=ticket_number if answerable else None)
