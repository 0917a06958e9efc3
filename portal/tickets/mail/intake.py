"""The one intake both transports feed: a raw message in, a ticket or a reply out.

Order matters for "never lose, never double": the message is claimed by its
Message-ID (a unique row) before anything else, so a second fetch of the same
message stops there; the ticket is then written through tickets.services, which
commits before it sends the acknowledgement.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from portal.accounts import services as accounts
from portal.clock import utcnow
from portal.extensions import db
from portal.mail import loop_marker
from portal.tickets import services
from portal.tickets.mail import tokens
from portal.tickets.mail.models import InboundMail, MailOutcome, TicketAttachment
from portal.tickets.mail.parsing import Attachment, ParsedMail, clean, parse
from portal.tickets.mail.screening import screen

log = logging.getLogger(__name__)

# A claim older than this belongs to a process that died mid-way; it may be taken over.
STALE_CLAIM = timedelta(minutes=10)
NO_TEXT = "(This email had no readable text. Any attachments are listed with the ticket.)"
ATTACHMENT_ROOT = Path("mail") / "attachments"
FOLLOW_UP_ROOM = 100


class MessageInProgress(RuntimeError):
    """Another process claimed this message a moment ago and has not finished it.

    It is not done yet and may still fail (and give its claim back), so the caller must
    not treat it as delivered: the listener answers 451, the fetch leaves it unread.
    """


@dataclass(frozen=True)
class IntakeResult:
    outcome: MailOutcome | None  # None: this Message-ID was processed before
    ticket_number: int | None = None
    reason: str = ""

    @property
    def duplicate(self) -> bool:
        return self.outcome is None


def own_addresses() -> set[str]:
    config = current_app.config
    addresses = {loop_marker().lower()}
    addresses |= {a.strip().lower() for a in str(config.get("MAIL_ADDRESSES", "")).split(",")
                  if "@" in a}
    if "@" in str(config.get("MAIL_IMAP_USER", "")):
        addresses.add(str(config["MAIL_IMAP_USER"]).lower())
    return addresses


def receive(raw: bytes, *, transport: str, total_size: int | None = None,
            envelope_sender: str | None = None) -> IntakeResult:
    config = current_app.config
    mail = parse(raw, total_size=total_size,
                 max_message_bytes=int(config["MAIL_MAX_MESSAGE_BYTES"]),
                 max_attachment_bytes=int(config["MAIL_MAX_ATTACHMENT_BYTES"]))
    record = _claim(mail, transport)  # raises MessageInProgress
    if record is None:
        log.info("mail %s already processed; skipped", mail.message_id)
        return IntakeResult(None, reason="already processed")

    try:
        return _process(mail, record, envelope_sender)
    except Exception:
        # The database or the disk failed: give the claim back so a retry (the next
        # fetch, or the sender's server after our 451) processes the message again.
        db.session.rollback()
        db.session.execute(delete(InboundMail).where(
            InboundMail.id == record.id, InboundMail.outcome == MailOutcome.PENDING))
        db.session.commit()
        raise


def _process(mail: ParsedMail, record: InboundMail,
             envelope_sender: str | None) -> IntakeResult:
    verdict = screen(mail, own_addresses=own_addresses(), envelope_sender=envelope_sender)
    if verdict is not None:
        log.info("mail %s from %s not made a ticket: %s (%s)", mail.message_id,
                 mail.sender_email or "?", verdict.outcome, verdict.reason)
        return _finish(record, verdict.outcome, verdict.reason)
    if not mail.sender_email:
        log.warning("mail %s has no usable sender address; kept as rejected", mail.message_id)
        return _finish(record, MailOutcome.REJECTED, "no usable sender address")

    number = tokens.ticket_number_from(mail.subject, " ".join(
        mail.headers.get("in-reply-to", []) + mail.headers.get("references", [])),
        mail.header(tokens.TICKET_HEADER))
    text, overflow = _fit(mail.text or NO_TEXT)
    if overflow is not None:
        mail.attachments.insert(0, overflow)
    try:
        if number is not None:
            replied = _add_reply(number, mail, text)
            if replied is not None:
                _store_attachments(replied, record.id, mail.attachments)
                return _finish(record, MailOutcome.REPLIED, f"reply to #{number}",
                               ticket_id=replied, number=number, mail=mail)
            text = (f"(Follow-up to ticket #{number}, which can no longer take replies.)"
                    f"\n\n{text}")
        ref = _create(mail, text)
    except services.TicketError as exc:
        db.session.rollback()
        log.warning("mail %s refused by the ticket service: %s", mail.message_id, exc.message)
        return _finish(record, MailOutcome.REJECTED, exc.message[:300], mail=mail)
    _store_attachments(ref.id, record.id, mail.attachments)
    return _finish(record, MailOutcome.CREATED, "new ticket", ticket_id=ref.id,
                   number=ref.number, mail=mail)


def _claim(mail: ParsedMail, transport: str) -> InboundMail | None:
    record = InboundMail(
        message_id=clean(mail.message_id), transport=transport, outcome=MailOutcome.PENDING,
        reason="", sender=mail.sender_email, subject=clean(mail.subject)[:300], size=mail.size,
        notes=[], received_at=utcnow(),
    )
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    else:
        return record
    existing = db.session.scalar(
        select(InboundMail).where(InboundMail.message_id == record.message_id))
    if existing is None:  # the other claim was just given back after a failure
        raise MessageInProgress(f"mail {record.message_id} was released elsewhere")
    if existing.outcome != MailOutcome.PENDING:
        return None
    if existing.received_at > utcnow() - STALE_CLAIM:
        raise MessageInProgress(f"mail {record.message_id} is being processed elsewhere")
    taken = db.session.execute(
        update(InboundMail)
        .where(InboundMail.id == existing.id, InboundMail.received_at == existing.received_at)
        .values(received_at=utcnow(), transport=transport)
        .execution_options(synchronize_session=False))
    db.session.commit()
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise MessageInProgress(f"mail {record.message_id} was taken over elsewhere")
    return existing


def _finish(record: InboundMail, outcome: MailOutcome, reason: str, *,
            ticket_id: int | None = None, number: int | None = None,
            mail: ParsedMail | None = None) -> IntakeResult:
    record = db.session.get(InboundMail, record.id, populate_existing=True) or record
    record.outcome = outcome
    record.reason = reason[:300]
    record.ticket_id = ticket_id
    if mail is not None:
        record.notes = mail.notes
        record.html_body = mail.html
    db.session.commit()
    return IntakeResult(outcome, number, reason)


def _fit(text: str) -> tuple[str, Attachment | None]:
    """The ticket's text within the message limit; the full text is kept as a file."""
    # Room for the "Follow-up to ticket #N" line a reply to a closed ticket gets.
    limit = services.max_message_chars() - FOLLOW_UP_ROOM
    if len(text) <= limit:
        return text, None
    notice = "\n\n[The email was longer than a ticket message; the full text is attached.]"
    data = text.encode("utf-8")
    return text[: limit - len(notice)] + notice, Attachment(
        "full-message.txt", "text/plain", len(data), data)


def _requester_name(mail: ParsedMail) -> str:
    return mail.sender_name or mail.sender_email.split("@")[0]


def _create(mail: ParsedMail, text: str) -> services.TicketRef:
    subject = " ".join(mail.subject.split()) or "(no subject)"
    if len(subject) > services.MAX_SUBJECT:
        subject = subject[: services.MAX_SUBJECT - 1] + "…"
    # The From header is whatever the sender typed, as on the web form: the ticket joins
    # an account only when the link in the acknowledgement is opened.
    return services.create_ticket(
        subject=subject, description=text, requester_id=None,
        requester_email=mail.sender_email, requester_name=_requester_name(mail),
        source="email",
    )


def _add_reply(number: int, mail: ParsedMail, text: str) -> int | None:
    """Add the mail to its ticket; None when that ticket can no longer take replies."""
    ticket = services.get_ticket(number)
    if ticket is None:
        return None
    user = accounts.find_user_by_email(mail.sender_email)
    is_requester = mail.sender_email == ticket.requester_email.lower()
    # Someone else answering the notification (a colleague it was forwarded to) is
    # shown with their address, so the agent sees who wrote.
    # The display name is shortened, never the address: a long name must not push the
    # real sender out of the characters an author's name has.
    name = _requester_name(mail)
    if not is_requester:
        address = f" <{mail.sender_email}>"
        name = name[:max(0, services.MAX_NAME - len(address))].rstrip() + address
    author_id = user.id if user is not None and user.id == ticket.requester_id else None
    try:
        services.reply(ticket.id, text,
                       actor=services.Actor(author_id, name.strip()[:services.MAX_NAME]))
    except services.TicketError as exc:
        if exc.field != "body":  # closed, or solved too long ago to reopen
            raise
        db.session.rollback()
        log.info("mail reply to #%s made a new ticket: %s", number, exc.message)
        return None
    return ticket.id


def _store_attachments(ticket_id: int, inbound_id: int, attachments: list[Attachment]) -> None:
    if not attachments:
        return
    folder = Path(current_app.instance_path) / ATTACHMENT_ROOT / str(ticket_id)
    for item in attachments:
        stored_path = digest = None
        note = item.note
        if item.data is not None:
            digest = hashlib.sha256(item.data).hexdigest()
            # The sender's filename never reaches the file system.
            relative = ATTACHMENT_ROOT / str(ticket_id) / secrets.token_hex(16)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (Path(current_app.instance_path) / relative).write_bytes(item.data)
            except OSError as exc:
                log.error("could not store attachment %r of ticket %s: %s", item.filename,
                          ticket_id, exc)
                note = "Not kept: the file could not be saved on the server."
            else:
                stored_path = relative.as_posix()
        db.session.add(TicketAttachment(
            ticket_id=ticket_id, inbound_mail_id=inbound_id, filename=clean(item.filename),
            content_type=item.content_type, size=item.size, stored_path=stored_path,
            sha256=digest, note=note[:300], created_at=utcnow(),
        ))
    db.session.commit()


def attachments_for(ticket_id: int) -> list[TicketAttachment]:
    return list(db.session.scalars(
        select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id)
        .order_by(TicketAttachment.id)))


def mail_notes_for(ticket_id: int) -> list[str]:
    notes: list[str] = []
    for record_notes in db.session.scalars(
            select(InboundMail.notes).where(InboundMail.ticket_id == ticket_id)
            .order_by(InboundMail.id)):
        notes += [note for note in record_notes or [] if note not in notes]
    return notes


def page_context(ticket_id: int) -> dict[str, Any]:
    """What the ticket pages show about mail: the files, and (for agents) the problems."""
    return {"attachments": attachments_for(ticket_id), "mail_notes": mail_notes_for(ticket_id)}


def attachment_file(attachment: TicketAttachment) -> Path | None:
    if attachment.stored_path is None:
        return None
    path = Path(current_app.instance_path) / attachment.stored_path
    return path if path.is_file() else None


def counts(since: timedelta | None = None) -> dict[str, int]:
    """How many messages ended each way (all time, or over the last `since`)."""
    query = select(InboundMail.outcome, func.count()).group_by(InboundMail.outcome)
    if since is not None:
        query = query.where(InboundMail.received_at >= utcnow() - since)
    return {str(outcome): int(total) for outcome, total in db.session.execute(query).all()}
