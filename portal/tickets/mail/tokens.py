"""Reply tokens: proof that a message answers a notification we sent about one ticket.

The token is an HMAC of the ticket number under SECRET_KEY, so nobody can make one
for a ticket they were never mailed about. It travels in three places because mail
clients keep different things: the subject tag `[#10042-<token>]`, our Message-ID
(clients copy it into In-Reply-To/References) and the `X-Portal-Ticket` header.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from flask import current_app

from portal.mail import mail_domain
from portal.untrusted import header_text

TOKEN_CHARS = 12
TICKET_HEADER = "X-Portal-Ticket"
# Notifications start with this line; text below it in a reply is our own mail quoted back.
REPLY_ABOVE_MARKER = "##- Please type your reply above this line -##"

_TOKEN = f"([0-9a-f]{{{TOKEN_CHARS}}})"
# [0-9], not \d: \d takes any Unicode digit, and int() reads "١٢٣" as 123.
_SUBJECT_TAG = re.compile(r"\[#([0-9]{1,12})-" + _TOKEN + r"\]")
_PLAIN_TAG = re.compile(r"^\s*\[#([0-9]{1,12})\]")
_HEADER_VALUE = re.compile(r"\s*([0-9]{1,12})-" + _TOKEN + r"\s*")
_MESSAGE_ID = re.compile(r"<[^<>@]*\.t([0-9]{1,12})-" + _TOKEN + r"@[^<>]+>")


def reply_token(ticket_number: int) -> str:
    key = str(current_app.secret_key).encode()
    digest = hmac.new(key, f"ticket-reply:{ticket_number}".encode(), hashlib.sha256)
    return digest.hexdigest()[:TOKEN_CHARS]


def _valid(number: str, token: str) -> int | None:
    ticket_number = int(number)
    return ticket_number if hmac.compare_digest(reply_token(ticket_number), token) else None


def tagged_subject(subject: str, ticket_number: int) -> str:
    """`[#N] text` (or plain text) becomes `[#N-token] text`, on one safe line.

    The subject usually holds what a customer typed; mail.send neutralises it again, but
    a tagged subject is a header value wherever it goes.
    """
    tag = f"[#{ticket_number}-{reply_token(ticket_number)}]"
    subject = header_text(subject)
    plain = _PLAIN_TAG.match(subject)
    if plain and int(plain.group(1)) == ticket_number:
        return tag + subject[plain.end():]
    return f"{tag} {subject}"


def message_id(ticket_number: int) -> str:
    return (f"<{secrets.token_hex(8)}.t{ticket_number}-{reply_token(ticket_number)}"
            f"@{mail_domain()}>")


def header_value(ticket_number: int) -> str:
    return f"{ticket_number}-{reply_token(ticket_number)}"


def is_our_message_id(value: str) -> bool:
    found = _MESSAGE_ID.search(value or "")
    return bool(found and _valid(*found.groups()))


def ticket_number_from(subject: str, references: str, ticket_header: str) -> int | None:
    """The ticket a message answers, from a token that verifies; None otherwise.

    A tag or id whose token does not verify is ignored rather than trusted, so a forged
    or mistyped token makes a new ticket instead of writing into someone else's.
    """
    candidates = [m.groups() for m in _MESSAGE_ID.finditer(references or "")]
    header = _HEADER_VALUE.fullmatch(ticket_header or "")
    if header:
        candidates.append(header.groups())
    candidates += [m.groups() for m in _SUBJECT_TAG.finditer(subject or "")]
    for number, token in candidates:
        verified = _valid(number, token)
        if verified is not None:
            return verified
    return None
