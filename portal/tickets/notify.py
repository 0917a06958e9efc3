"""Email: through SMTP when SMTP_HOST is set, otherwise `.eml` files in instance/outbox/.

Called after the ticket change is committed; a mail failure is logged and never
undoes or hides the change.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app

from portal.clock import utcnow
from portal.tickets.mail import tokens

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10


def send(to: str, subject: str, body: str, *, ticket_number: int | None = None) -> bool:
    """Deliver one plain-text message; True when it was handed over (or written).

    With `ticket_number` the message carries the signed reply token, so an emailed
    answer to it is added to that ticket by the mail intake.
    """
    if not to:
        return False
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    # RFC 3834: out-of-office responders must not answer us, and the intake recognises
    # its own mail coming back by X-Loop.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Loop"] = tokens.loop_marker()
    if ticket_number is not None:
        message["Subject"] = tokens.tagged_subject(subject, ticket_number)
        message["Message-ID"] = tokens.message_id(ticket_number)
        message[tokens.TICKET_HEADER] = tokens.header_value(ticket_number)
        body = f"{tokens.REPLY_ABOVE_MARKER}\n\n{body}"
    else:
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=tokens.mail_domain())
    message.set_content(body)
    try:
        if current_app.config.get("SMTP_HOST"):
            _send_smtp(message)
        else:
            _write_outbox(message)
    except (OSError, smtplib.SMTPException):
        log.warning("could not send %r to %s", subject, to, exc_info=True)
        return False
    return True


def _send_smtp(message: EmailMessage) -> None:
    config = current_app.config
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]),
                      timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(message)


def outbox_dir() -> Path:
    return Path(current_app.instance_path) / "outbox"


def _write_outbox(message: EmailMessage) -> None:
    folder = outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.eml"
    (folder / name).write_bytes(bytes(message))
