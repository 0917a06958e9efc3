"""Outgoing e-mail: through SMTP when SMTP_HOST is set, otherwise `.eml` files in instance/outbox/.

Every feature sends through here, so what a header may contain is decided in one place.
Callers send after their change is committed; a mail failure is logged and never undoes
or hides the change.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from flask import current_app

from portal.clock import utcnow

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10


def mail_domain() -> str:
    address = parseaddr(current_app.config.get("MAIL_FROM", ""))[1]
    return address.rpartition("@")[2] or "portal.local"


def loop_marker() -> str:
    """The X-Loop value on everything we send: our own address."""
    return parseaddr(current_app.config.get("MAIL_FROM", ""))[1] or "portal"


def send(to: str, subject: str, body: str, *, headers: Mapping[str, str] | None = None,
         message_id: str | None = None) -> bool:
    """Deliver one plain-text message; True when it was handed over (or written)."""
    if not to:
        return False
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    # RFC 3834: out-of-office responders must not answer us, and the intake recognises
    # its own mail coming back by X-Loop.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Loop"] = loop_marker()
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain=mail_domain())
    for name, value in (headers or {}).items():
        message[name] = value
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
