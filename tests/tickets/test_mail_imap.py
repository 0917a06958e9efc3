"""`portal mail fetch` against a real IMAP server (Debian's dovecot) on loopback."""

from __future__ import annotations

from email import message_from_string, policy

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.tickets import services
from portal.tickets.mail.models import InboundMail, TicketAttachment

from .conftest import outbox_messages
from .mail_support import message, tickets

pytestmark = pytest.mark.usefixtures("clean_outbox")


def fetch(runner) -> str:
    result = runner.invoke(args=["mail", "fetch"])
    assert result.exit_code == 0, result.output
    return result.output


def test_fetch_turns_unseen_mail_into_tickets_and_ignores_auto_replies(app, runner, mailbox):
    mailbox.deliver(message(subject="Radiator cold", sender="Ann <ann@example.com>"))
    mailbox.deliver(message(subject="Leak under boiler", sender="ben@example.com"))
    mailbox.deliver(message(subject="Out of office", sender="cat@example.com",
                            Auto_Submitted="auto-replied"))

    output = fetch(runner)

    assert "Mail fetch: 1 auto reply, 2 created." in output
    assert [(t.subject, t.requester_email, t.source) for t in tickets()] == [
        ("Radiator cold", "ann@example.com", "email"),
        ("Leak under boiler", "ben@example.com", "email"),
    ]
    assert mailbox.unseen() == 0
    assert "Mail fetch: no new mail." in fetch(runner)


def test_fetching_the_same_messages_again_makes_no_second_ticket(app, runner, mailbox):
    mailbox.deliver(message(subject="Once only", message_id="<once@example.com>"))
    fetch(runner)
    # A crashed run (or someone in a mail client) leaves mail unread: fetched again.
    mailbox.mark_all_unseen()
    assert "1 duplicate" in fetch(runner)
    assert len(tickets()) == 1


def test_reply_fetched_over_imap_reopens_the_solved_ticket(app, runner, mailbox, make_user):
    from portal.accounts.models import Role
    from portal.tickets.services import Actor

    mailbox.deliver(message(subject="Noisy pump"))
    fetch(runner)
    [ticket] = tickets()
    agent = make_user(Role.AGENT)
    services.change_status(ticket.id, "solved", actor=Actor.of(agent))
    solved = message_from_string(outbox_messages(app)[-1], policy=policy.default)
    mailbox.deliver(message(subject=f"Re: {solved['Subject']}", body="Still noisy.",
                            In_Reply_To=solved["Message-ID"], References=solved["Message-ID"]))

    assert "1 replied" in fetch(runner)
    db.session.expire_all()
    reopened = services.get_ticket(ticket.number)
    assert reopened is not None and reopened.status == "open"
    assert services.thread(reopened, include_notes=False)[-1].body == "Still noisy."


def test_large_message_is_fetched_partially_and_its_attachment_listed(app, runner, mailbox):
    mail = message(subject="Video of the fault", body="Video attached.")
    mail.add_attachment(b"\x02" * (25 * 1024 * 1024), maintype="video", subtype="mp4",
                        filename="fault.mp4")
    mailbox.deliver(mail)
    assert "1 created" in fetch(runner)
    [ticket] = tickets()
    assert ticket.description == "Video attached."
    attachment = db.session.scalar(select(TicketAttachment))
    assert attachment.filename == "fault.mp4" and attachment.stored_path is None
    record = db.session.scalar(select(InboundMail))
    assert record.size > 34_000_000  # the real size, from RFC822.SIZE


def test_wrong_password_is_a_clear_error(app, runner, mailbox):
    app.config["MAIL_IMAP_PASSWORD"] = "wrong"
    result = runner.invoke(args=["mail", "fetch"])
    assert result.exit_code == 1
    assert "Could not read the mailbox at 127.0.0.1" in result.output


def test_fetch_without_a_mailbox_configured_says_so(app, runner):
    app.config["MAIL_IMAP_HOST"] = ""
    result = runner.invoke(args=["mail", "fetch"])
    assert result.exit_code == 1 and "MAIL_IMAP_HOST is not set" in result.output
