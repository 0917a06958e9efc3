"""Reading messages: trimming, HTML, charsets, damaged MIME and memory for huge mail.

These exercise the parser on its own; test_mail_listener.py and test_mail_imap.py send
the same kinds of mail through real servers.
"""

from __future__ import annotations

import tracemalloc
from email.message import EmailMessage

from sqlalchemy import select

from portal.extensions import db
from portal.tickets.mail import intake, tokens
from portal.tickets.mail.models import TicketAttachment
from portal.tickets.mail.parsing import parse
from portal.tickets.mail.text import html_to_text, trim_reply
from portal.tickets.models import Ticket

from .mail_support import message

LIMITS = {"max_message_bytes": 15_000_000, "max_attachment_bytes": 10_000_000}


def test_trim_keeps_the_new_text_and_drops_history_and_signatures():
    outlook = ("Yes, it is the model X2.\n\nBest regards\n\n________________________________\n"
               "From: Hearthly Support <support@hearthly.example>\nSent: Monday\n"
               "Subject: Your ticket\n\nOld text")
    assert trim_reply(outlook) == "Yes, it is the model X2.\n\nBest regards"
    gmail_wrapped = ("Still broken.\n\nOn Mon, 3 Nov 2026 at 09:00, Hearthly Support <support@\n"
                     "hearthly.example> wrote:\n> quoted")
    assert trim_reply(gmail_wrapped) == "Still broken."
    marker = f"Thanks!\n\n{tokens.REPLY_ABOVE_MARKER}\n\nHi Robin, ..."
    assert trim_reply(marker) == "Thanks!"
    assert trim_reply("Sure.\n\nSent from my iPhone") == "Sure."
    assert trim_reply("Works now.\n-- \nRobin\nACME Ltd") == "Works now."


def test_trim_never_leaves_an_empty_message():
    only_quote = "> the whole message is a quote\n> of an older one"
    assert trim_reply(only_quote) == only_quote


def test_html_to_text_drops_script_and_style_content():
    text = html_to_text("<style>p{color:red}</style><p>Hello <b>there</b></p>"
                        "<script>alert(1)</script><ul><li>one</li><li>two</li></ul>")
    assert text == "Hello there\n\n- one\n- two"


def test_unknown_charset_in_a_body_part_is_read_as_utf8_with_a_note():
    raw = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=bogus-8\r\n"
           b"\r\n" + "Grüße".encode())
    mail = parse(raw, **LIMITS)
    assert mail.text == "Grüße"
    assert mail.notes == ["Unknown character set 'bogus-8': the text was read as UTF-8."]


def test_latin1_bytes_mislabelled_as_utf8_are_still_readable():
    raw = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"\r\n" + "Grüße".encode("cp1252"))
    mail = parse(raw, **LIMITS)
    assert mail.text == "Grüße"
    assert "not valid utf-8" in mail.notes[0]


def test_nul_bytes_and_headers_without_from_do_not_break_parsing():
    mail = parse(b"Subject: \x00odd\r\n\r\nbody with \x00 nul", **LIMITS)
    assert mail.sender_email == "" and "\x00" not in mail.text and mail.subject == "odd"


def _big_mail(size: int) -> bytes:
    mail = message(subject="Huge logs", body="See the attached logs.")
    mail.add_attachment(b"\x01" * size, maintype="application", subtype="zip",
                        filename="logs.zip")
    return bytes(mail)


def test_25_mb_attachment_is_processed_in_bounded_memory(app):
    raw = _big_mail(25 * 1024 * 1024)
    assert len(raw) > 34_000_000  # base64 makes it a third bigger
    tracemalloc.start()
    try:
        result = intake.receive(raw, transport="smtp")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Only the first megabyte is parsed. Reading the whole message took over 100 MB;
    # this stays under half the message's own size, whatever the attachment's size.
    assert peak < 16_000_000, peak
    assert result.outcome == "created"
    db.session.rollback()
    ticket = db.session.scalar(select(Ticket))
    assert ticket.description == "See the attached logs."
    attachment = db.session.scalar(select(TicketAttachment))
    assert attachment.filename == "logs.zip" and attachment.stored_path is None


def test_attachment_over_its_own_limit_in_a_small_mail_is_listed_with_its_size(app):
    app.config["MAIL_MAX_ATTACHMENT_BYTES"] = 1_000_000
    result = intake.receive(_big_mail(2_000_000), transport="smtp")
    assert result.outcome == "created"
    attachment = db.session.scalar(select(TicketAttachment))
    assert attachment.size == 2_000_000 and attachment.stored_path is None
    assert attachment.note == "Not kept: 2.0 MB is over the 1.0 MB limit for attachments."


def test_very_long_text_is_cut_to_the_ticket_limit_and_kept_whole_as_a_file(app):
    long_body = "The heating log:\n" + "line of log output\n" * 2000
    intake.receive(bytes(message(body=long_body)), transport="smtp")
    ticket = db.session.scalar(select(Ticket))
    assert len(ticket.description) <= 20_000
    assert ticket.description.endswith("the full text is attached.]")
    attachment = db.session.scalar(select(TicketAttachment))
    assert attachment.filename == "full-message.txt"
    stored = intake.attachment_file(attachment)
    assert stored is not None and stored.read_text().strip() == long_body.strip()


def test_message_without_message_id_is_still_processed_once(app):
    mail = EmailMessage()
    mail["From"] = "robin@example.com"
    mail["Subject"] = "No id"
    mail.set_content("Hello")
    first = intake.receive(bytes(mail), transport="imap")
    second = intake.receive(bytes(mail), transport="imap")
    assert first.outcome == "created" and second.duplicate


def test_mail_without_a_usable_sender_is_counted_as_rejected_not_a_ticket(app):
    result = intake.receive(b"Subject: who am I\r\nMessage-ID: <anon@x>\r\n\r\nHello",
                            transport="smtp")
    assert result.outcome == "rejected" and result.reason == "no usable sender address"
    assert db.session.scalar(select(Ticket)) is None
    assert intake.counts() == {"rejected": 1}
