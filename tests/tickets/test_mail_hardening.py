"""Hostile or unlucky mail: spoofed senders, pathological MIME, concurrent deliveries."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from portal.clock import utcnow
from portal.extensions import db
from portal.tickets.mail import imap, intake
from portal.tickets.mail.models import InboundMail, MailOutcome, TicketAttachment
from portal.tickets.mail.parsing import MAX_LISTED_FILES, parse
from portal.tickets.models import Ticket, TicketMessage
from portal.tickets.routing import RuleFileError, parse_rules

from .conftest import outbox_messages
from .mail_support import message

LIMITS = {"max_message_bytes": 15_000_000, "max_attachment_bytes": 10_000_000}
pytestmark = pytest.mark.usefixtures("clean_outbox")


def test_an_encoded_word_display_name_cannot_pose_as_the_sender_address():
    # The MTA (and DMARC) saw attacker@evil.example; decoding the encoded word before
    # reading the address made the ticket come from victim@example.com.
    raw = (b"From: =?utf-8?q?victim=40example=2Ecom?= <attacker@evil.example>\r\n"
           b"Subject: Please change my address\r\nMessage-ID: <spoof@evil.example>\r\n\r\nHi")
    mail = parse(raw, **LIMITS)
    assert mail.sender_email == "attacker@evil.example"
    assert mail.sender_name == "victim@example.com"
    named = parse(b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?=\r\n <jm@example.de>\r\n\r\nx",
                  **LIMITS)
    assert (named.sender_name, named.sender_email) == ("Jürgen Müller", "jm@example.de")


def _nested(depth: int) -> bytes:
    head = b"From: deep@example.com\r\nSubject: Deep\r\nMessage-ID: <deep@example.com>\r\n"
    body = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
                    for i in range(depth))
    body += b"Content-Type: text/plain\r\n\r\nhello\r\n"
    body += b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + body


def test_deeply_nested_multiparts_make_a_ticket_instead_of_failing_forever(app):
    # A RecursionError here used to fail every delivery: 451 to the sender, or the
    # IMAP message left unread and retried (and failed) on every run.
    result = intake.receive(_nested(3000), transport="smtp")
    assert result.outcome == "created"
    ticket = db.session.scalar(select(Ticket))
    assert ticket.subject == "Deep"
    assert any("nested too deeply" in note for note in intake.mail_notes_for(ticket.id))


def test_a_message_of_many_tiny_parts_is_cut_to_a_bounded_number_of_parts_and_rows(app):
    parts = 20_000
    raw = (b"From: many@example.com\r\nSubject: Many\r\nMessage-ID: <many@example.com>\r\n"
           b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
           b"--x\r\nContent-Type: text/plain\r\n\r\nSee the files.\r\n"
           + b"--x\r\nContent-Type: application/octet-stream\r\n\r\nA\r\n" * parts
           + b"--x--\r\n")
    result = intake.receive(raw, transport="smtp")
    assert result.outcome == "created"
    # Bounded work: only the first boundary lines are parsed and the first files listed,
    # and the agent is told so (the cost itself is measured by bench/mail_intake.py).
    assert db.session.scalar(select(func.count()).select_from(TicketAttachment)) \
        == MAX_LISTED_FILES
    ticket = db.session.scalar(select(Ticket))
    assert ticket.description == "See the files."
    notes = intake.mail_notes_for(ticket.id)
    assert any("more than 1000 parts" in note for note in notes), notes
    assert any(f"only the first {MAX_LISTED_FILES} are listed" in note for note in notes), notes


def _outbox_ack(app) -> EmailMessage:
    return message_from_string(outbox_messages(app)[-1], policy=policy.default)  # type: ignore[return-value]


def test_a_reply_from_someone_else_always_shows_their_address(app):
    intake.receive(bytes(message(sender="Robin <robin@example.com>")), transport="smtp")
    ack = _outbox_ack(app)
    long_name = "Robin Reader (the requester, honestly) " * 4
    reply = message(sender=f'"{long_name}" <intruder@evil.example>',
                    subject=f"Re: {ack['Subject']}", body="Please send the refund to me.",
                    In_Reply_To=ack["Message-ID"])
    assert intake.receive(bytes(reply), transport="smtp").outcome == "replied"
    written = db.session.scalar(select(TicketMessage).order_by(TicketMessage.id.desc()))
    assert written.author_name.endswith(" <intruder@evil.example>")
    assert len(written.author_name) <= 120


def _pending_claim(message_id: str, *, age_minutes: float = 0) -> None:
    db.session.add(InboundMail(
        message_id=message_id, transport="imap", outcome=MailOutcome.PENDING, reason="",
        sender="robin@example.com", subject="x", size=1, notes=[],
        received_at=utcnow() - timedelta(minutes=age_minutes)))
    db.session.commit()


def test_a_message_another_process_is_still_storing_is_not_reported_as_done(app):
    # Reported as "already processed", the listener said 250 and the fetch marked it
    # seen; if the other process then failed and gave its claim back, the mail was lost.
    _pending_claim("<busy@example.com>")
    with pytest.raises(intake.MessageInProgress):
        intake.receive(bytes(message(message_id="<busy@example.com>")), transport="smtp")
    assert db.session.scalar(select(Ticket)) is None


def test_a_stale_claim_is_taken_over(app):
    _pending_claim("<stale@example.com>", age_minutes=11)
    result = intake.receive(bytes(message(message_id="<stale@example.com>")), transport="smtp")
    assert result.outcome == "created"


def test_the_listener_answers_451_while_the_same_message_is_being_stored(app, listener):
    _pending_claim("<busy-smtp@example.com>")
    code, text = listener.data_reply(bytes(message(message_id="<busy-smtp@example.com>")))
    assert code == 451 and "being processed" in text


class _FakeImap:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.stored: list[str] = []

    def uid(self, command: str, *args: str):
        if command == "SEARCH":
            return "OK", [b"7"]
        if command == "FETCH" and "RFC822.SIZE" in args[1]:
            return "OK", [b"7 (RFC822.SIZE %d)" % len(self.raw)]
        if command == "FETCH":
            return "OK", [(b"7 (BODY[] {%d}" % len(self.raw), self.raw), b")"]
        self.stored.append(args[0])
        return "OK", [b""]


def test_fetch_leaves_a_message_unread_while_another_process_stores_it(app, monkeypatch):
    _pending_claim("<busy-imap@example.com>")
    fake = _FakeImap(bytes(message(message_id="<busy-imap@example.com>")))

    @contextmanager
    def mailbox():
        yield fake

    monkeypatch.setattr(imap, "mailbox", mailbox)
    report = imap.fetch()
    assert fake.stored == [] and report.outcomes == {"in_progress": 1}
    assert "1 in progress" in report.summary() and report.failed == 0


def test_a_rule_file_nested_too_deeply_is_refused_not_a_crash():
    with pytest.raises(RuleFileError, match="nested too deeply"):
        parse_rules("rules: " + "[" * 5000 + "]" * 5000)
