"""`portal mail serve`: receive mail directly over SMTP or LMTP (aiosmtpd) into the intake.

The MTA in front (Postfix, say) delivers here with `lmtp:inet:127.0.0.1:2525` or relays
over SMTP. A message is acknowledged (250) only after the intake has stored it; when
storing fails the answer is 451, so the sending server keeps it and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from flask import Flask

from portal.extensions import db
from portal.tickets.mail import intake
from portal.tickets.mail.models import MailOutcome

log = logging.getLogger(__name__)
# RFC 5321 allows 1,000 characters a line, but real HTML mail often has longer ones;
# rejecting them would bounce customers' mail.
LINE_LENGTH_LIMIT = 100_000


class IntakeHandler:
    """aiosmtpd handler: every accepted message goes through intake.receive."""

    def __init__(self, app: Flask, *, lmtp: bool = False) -> None:
        self.app = app
        self.lmtp = lmtp
        self.transport = "lmtp" if lmtp else "smtp"
        self.addresses = {
            address.strip().lower()
            for address in str(app.config.get("MAIL_ADDRESSES", "")).split(",") if "@" in address
        }

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        # Only our support addresses (when configured): mail for anyone else is refused
        # at once instead of becoming tickets.
        if self.addresses and address.lower() not in self.addresses:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                None, self._receive, bytes(raw), envelope.mail_from or "")
        except intake.MessageInProgress as exc:
            # Another delivery of the same message is being stored and may still fail:
            # the sender retries later, when it is either done (a duplicate) or free.
            log.info("%s; answered 451", exc)
            status = "451 4.3.0 This message is being processed; please try again later"
        except Exception:
            log.exception("mail from %s could not be stored", envelope.mail_from)
            status = "451 4.3.0 The message could not be stored; please try again later"
        else:
            outcome = result.outcome or "duplicate"
            status = f"250 2.0.0 Accepted ({outcome})"
            if result.outcome in (MailOutcome.CREATED, MailOutcome.REPLIED):
                status = f"250 2.0.0 Accepted as ticket #{result.ticket_number}"
        if self.lmtp:
            # LMTP answers DATA once per recipient.
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    def _receive(self, raw: bytes, envelope_sender: str) -> intake.IntakeResult:
        with self.app.app_context():
            try:
                # "<>" is the null reverse path of bounces and auto-replies.
                sender = "" if envelope_sender in ("", "<>") else envelope_sender
                return intake.receive(raw, transport=self.transport, envelope_sender=sender)
            finally:
                db.session.remove()


class _SMTPServer(SMTP):
    line_length_limit = LINE_LENGTH_LIMIT


class _LMTPServer(LMTP):
    line_length_limit = LINE_LENGTH_LIMIT


class _IntakeController(Controller):
    def __init__(self, handler: IntakeHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.server_class = _LMTPServer if handler.lmtp else _SMTPServer

    def factory(self) -> SMTP:
        return self.server_class(self.handler, **self.SMTP_kwargs)


def start_listener(app: Flask, host: str, port: int, *, lmtp: bool = False) -> Controller:
    """Start listening in a background thread; call .stop() on the result to end."""
    controller = _IntakeController(
        IntakeHandler(app, lmtp=lmtp), hostname=host, port=port,
        data_size_limit=int(app.config["MAIL_LISTEN_MAX_BYTES"]), server_hostname=host,
    )
    controller.start()
    return controller
