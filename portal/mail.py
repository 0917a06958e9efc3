"""Outgoing e-mail: through SMTP when SMTP_HOST is set, otherwise `.eml` files in instance/outbox/.

Every feature sends through here, so what a header may contain is decided in one place:
every header value passes `untrusted.header_text`, whoever built it, and a recipient
address that is not one plain address is refused. Callers send after their change is
committed; a mail failure is logged and never undoes or hides the change.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from flask import current_app

from portal import site
from portal.clock import utcnow
from portal.untrusted import header_text

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10
# One plain address: no whitespace, quotes, brackets or encoded-word marks, nothing a
# header parser could read as a second address or a new line.
_PLAIN_ADDRESS = re.compile(r'[^\s@<>()\[\],;:"\\]+@[^\s@<>()\[\],;:"\\?=]+')


def mail_domain() -> str:
    return _domain_of(_own_address(site.sender()))


def loop_marker() -> str:
    """The X-Loop value on everything we send: our own address."""
    return _loop_marker_of(_own_address(site.sender()))


def _own_address(sender: str) -> str:
    return parseaddr(sender)[1]


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "portal.local"


def _loop_marker_of(address: str) -> str:
    return address or "portal"


def send(to: str, subject: str, body: str, *, headers: Mapping[str, str] | None = None,
         message_id: str | None = None) -> bool:
    """Deliver one plain-text message; True when it was handed over (or written).

    `to` is an address or `Name <address>`. Header values may hold anything a customer
    typed: they are made one safe line here, so no caller has to remember to.
    """
    recipient = mailbox(to)
    if recipient is None:
        if to:
            log.warning("not sent: %r is not one plain address", to)
        return False
    # Read once, so From, X-Loop and the Message-ID domain agree even when the site file
    # changes during the send.
    configured = site.sender()
    address = _own_address(configured)
    domain = _domain_of(address)
    sender = configured or f"portal@{domain}"
    message = EmailMessage()
    message["From"] = mailbox(sender) or header_text(sender)
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    # RFC 3834: out-of-office responders must not answer us, and the intake recognises
    # its own mail coming back by X-Loop.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Loop"] = header_text(_loop_marker_of(address))
    message["Subject"] = header_text(subject)
    message["Message-ID"] = header_text(message_id or make_msgid(domain=domain))
    for name, value in (headers or {}).items():
        message[name] = header_text(value)
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


def mailbox(value: str) -> Address | None:
    """`address` or `Name <address>` as one mailbox, the name made safe; None when the
    address is not one plain address (a line break in it is never a real address)."""
    value = value.strip()
    name, address = "", value
    if value.endswith(">") and "<" in value:
        name, _, address = value[:-1].rpartition("<")
    if "=?" in address or not (address.isprintable() and _PLAIN_ADDRESS.fullmatch(address)):
        return None
    username, _, domain = address.partition("@")
    return Address(display_name=header_text(name.strip().strip('"')), username=username,
                   domain=domain)


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
