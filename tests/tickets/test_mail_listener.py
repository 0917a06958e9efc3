"""Email intake through the portal's SMTP/LMTP listener, with real mail sent by smtplib."""

from __future__ import annotations

import logging
import smtplib
from email import message_from_string, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import services
from portal.tickets.mail.listener import start_listener
from portal.tickets.mail.models import InboundMail, TicketAttachment
from portal.tickets.models import TicketMessage

from .conftest import actor, fresh, mailed_tracking_link, outbox_messages
from .mail_support import SUPPORT, free_port, message, tickets

pytestmark = pytest.mark.usefixtures("clean_outbox")


def last_outbox_mail(app) -> EmailMessage:
    return message_from_string(outbox_messages(app)[-1], policy=policy.default)  # type: ignore[return-value]


def test_new_mail_becomes_a_ticket_with_trimmed_text_and_a_signed_acknowledgement(app, listener):
    body = ("Hello,\n\nMy boiler makes a loud noise at night.\n\nThanks,\nRobin\n\n-- \n"
            "Robin Reader | Example Ltd | +44 1234\n\n"
            "On Mon, 3 Nov 2026 at 09:00, Someone <someone@example.com> wrote:\n"
            "> an older message that must not be in the ticket\n")
    refused = listener.send(message(body=body, subject="Boiler noise at night"))
    assert refused == {}

    [ticket] = tickets()
    assert ticket.source == "email"
    assert ticket.subject == "Boiler noise at night"
    assert ticket.requester_id is None and ticket.requester_email == "robin@example.com"
    assert ticket.requester_name == "Robin Reader"
    assert "loud noise at night" in ticket.description and "Thanks,\nRobin" in ticket.description
    assert "older message" not in ticket.description and "+44 1234" not in ticket.description

    ack = last_outbox_mail(app)
    assert ack["To"] == "robin@example.com"
    assert ack["Subject"].startswith(f"[#{ticket.number}-")
    assert ack["X-Portal-Ticket"].startswith(f"{ticket.number}-")
    assert f".t{ticket.number}-" in ack["Message-ID"]
    assert ack["Auto-Submitted"] == "auto-generated"
    assert "http://localhost/tickets/track/" in ack.get_content()


def test_mail_from_a_known_customer_is_theirs_once_they_open_the_mailed_link(app, listener,
                                                                          make_user):
    customer = make_user(Role.CUSTOMER, email="casey@example.com", name="Casey Customer")
    customer.email_verified_at = utcnow()
    db.session.commit()
    listener.send(message(sender="Casey <Casey@Example.com>"), envelope_from="casey@example.com")
    [ticket] = tickets()
    # The From header is only a claim until the acknowledgement's link is opened.
    assert ticket.requester_id is None and ticket.requester_name == "Casey"
    app.test_client().get(mailed_tracking_link(app, "casey@example.com"))
    [ticket] = tickets()
    assert ticket.requester_id == customer.id and ticket.requester_verified_at is not None


def _reply_to(ack: EmailMessage, body: str, *, subject: str | None = None,
              references: bool = True, sender: str = "Robin Reader <robin@example.com>"
              ) -> EmailMessage:
    headers = {"In_Reply_To": ack["Message-ID"], "References": ack["Message-ID"]} \
        if references else {}
    quoted = "\n".join("> " + line for line in ack.get_content().splitlines())
    return message(sender=sender, subject=subject or f"Re: {ack['Subject']}",
                   body=f"{body}\n\nOn Tue, 4 Nov 2026, Hearthly Support wrote:\n{quoted}\n",
                   **headers)


def test_reply_to_the_notification_is_added_to_its_ticket_and_reopens_it(app, listener,
                                                                          make_user):
    agent = make_user(Role.AGENT, name="Alex Agent")
    listener.send(message(subject="Heating off"))
    [ticket] = tickets()
    services.reply(ticket.id, "Please bleed the radiators.", actor=actor(agent),
                   then_status="solved")
    solved_mail = last_outbox_mail(app)
    assert fresh(ticket.number).status == "solved"

    listener.send(_reply_to(solved_mail, "That did not help, it is still cold."))

    assert len(tickets()) == 1
    reopened = fresh(ticket.number)
    assert reopened.status == "open"
    thread = services.thread(reopened, include_notes=True)
    assert thread[-1].body == "That did not help, it is still cold."
    assert not thread[-1].from_staff and thread[-1].author_name == "Robin Reader"


def test_reply_matched_by_the_subject_tag_alone(app, listener):
    listener.send(message(subject="Wifi drops"))
    [ticket] = tickets()
    ack = last_outbox_mail(app)
    # Some clients drop In-Reply-To/References; the signed subject tag still matches.
    listener.send(_reply_to(ack, "It drops every hour.", references=False))
    assert len(tickets()) == 1
    assert services.thread(fresh(ticket.number), include_notes=False)[-1].body == \
        "It drops every hour."


def test_forged_reply_token_makes_a_new_ticket_and_leaves_the_other_alone(app, listener):
    listener.send(message(subject="Victim's ticket", sender="victim@example.com"),
                  envelope_from="victim@example.com")
    [victim] = tickets()
    forged_tag = f"[#{victim.number}-0123456789ab]"
    listener.send(message(subject=f"Re: {forged_tag} let me in", sender="mallory@example.com",
                          body="Injected text", In_Reply_To=(
                              f"<x.t{victim.number}-0123456789ab@hearthly.example>"),
                          X_Portal_Ticket=f"{victim.number}-0123456789ab"),
                  envelope_from="mallory@example.com")
    # An unsigned tag is not a match either: no guessing from the number.
    listener.send(message(subject=f"Re: [#{victim.number}] also me", sender="mallory@example.com",
                          body="Injected again"), envelope_from="mallory@example.com")

    all_tickets = tickets()
    assert len(all_tickets) == 3
    assert services.thread(fresh(victim.number), include_notes=True) == []
    assert {t.requester_email for t in all_tickets[1:]} == {"mallory@example.com"}


def test_reply_to_a_closed_ticket_becomes_a_follow_up_ticket(app, listener, make_user):
    agent = make_user(Role.AGENT)
    listener.send(message(subject="Old problem"))
    [ticket] = tickets()
    ack = last_outbox_mail(app)
    services.change_status(ticket.id, "closed", actor=actor(agent))
    listener.send(_reply_to(ack, "It came back."))
    old, follow_up = tickets()
    assert old.status == "closed"
    assert f"Follow-up to ticket #{ticket.number}" in follow_up.description
    assert "It came back." in follow_up.description


def test_the_same_message_id_twice_makes_one_ticket(app, listener):
    mail = message(message_id="<same-message@example.com>")
    listener.send(mail)
    code, text = listener.data_reply(bytes(mail))
    assert code == 250 and "duplicate" in text
    assert len(tickets()) == 1


@pytest.mark.parametrize(("headers", "subject", "sender", "outcome"), [
    ({"Auto_Submitted": "auto-replied"}, "Re: Boiler", "robin@example.com", "auto_reply"),
    ({"X_Autoreply": "yes"}, "Re: Boiler", "robin@example.com", "auto_reply"),
    ({"Precedence": "bulk"}, "Newsletter", "robin@example.com", "auto_reply"),
    ({"Precedence": "junk"}, "Offer", "robin@example.com", "auto_reply"),
    ({"Precedence": "list"}, "[list] digest", "robin@example.com", "auto_reply"),
    ({}, "Out of Office: back Monday", "robin@example.com", "auto_reply"),
    ({}, "Automatic reply: Boiler", "robin@example.com", "auto_reply"),
    ({}, "Undelivered Mail Returned to Sender", "MAILER-DAEMON@mx.example.com", "bounce"),
    ({"X_Loop": SUPPORT}, "Boiler", "robin@example.com", "loop"),
    ({}, "Boiler", SUPPORT, "loop"),
])
def test_automatic_mail_is_recognised_logged_and_counted(app, listener, runner, caplog, headers,
                                                         subject, sender, outcome):
    # Alembic's fileConfig (the session's schema setup) disables loggers that existed then.
    logging.getLogger("portal.tickets.mail.intake").disabled = False
    caplog.set_level("INFO", logger="portal.tickets.mail.intake")
    listener.send(message(subject=subject, sender=sender, **headers))
    assert tickets() == []
    assert outbox_messages(app) == []  # nothing answered it, so no ping-pong
    [record] = db.session.scalars(select(InboundMail)).all()
    assert record.outcome == outcome
    assert any("not made a ticket" in r.getMessage() for r in caplog.records)
    result = runner.invoke(args=["mail", "stats"])
    assert f"{outcome:12} 1" in result.output


def _bounce() -> bytes:
    return (b"From: Mail Delivery System <mailer-daemon@mx.example.com>\r\n"
            b"To: support@hearthly.example\r\nSubject: Delivery Status Notification (Failure)\r\n"
            b"Message-ID: <bounce-1@mx.example.com>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n"
            b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered."
            b"\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; "
            b"gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n")


def test_delivery_status_report_with_null_sender_is_a_bounce(app, listener):
    listener.send(_bounce(), envelope_from="")
    assert tickets() == []
    assert db.session.scalar(select(InboundMail.outcome)) == "bounce"


def test_our_own_notification_coming_back_is_a_loop(app, listener):
    listener.send(message(subject="First"))
    ack = last_outbox_mail(app)
    listener.send(bytes(ack), envelope_from=SUPPORT)
    assert len(tickets()) == 1
    outcomes = list(db.session.scalars(select(InboundMail.outcome).order_by(InboundMail.id)))
    assert outcomes == ["created", "loop"]


def test_too_many_relays_is_a_loop(app, listener):
    mail = message(subject="Circling")
    for hop in range(30):
        mail["Received"] = f"from relay{hop}.example.com by relay{hop + 1}.example.com"
    listener.send(mail)
    assert tickets() == []
    assert db.session.scalar(select(InboundMail.reason)) == "passed 30 relays (a mail loop)"


def test_html_only_mail_with_scripts_is_stored_and_shown_sanitised(app, listener, make_user,
                                                                  login):
    html = ("<html><head><script>steal(document.cookie)</script></head><body>"
            "<p>The display shows <b>E42</b>.</p><img src=x onerror=alert(1)>"
            "<a href=\"javascript:alert(2)\">click</a><script>alert(3)</script></body></html>")
    mail = EmailMessage()
    mail["From"] = "robin@example.com"
    mail["To"] = SUPPORT
    mail["Subject"] = "Error on display"
    mail["Message-ID"] = "<html-only@example.com>"
    mail.set_content(html, subtype="html")
    listener.send(mail)

    [ticket] = tickets()
    assert "The display shows E42." in ticket.description
    assert "steal" not in ticket.description and "alert" not in ticket.description
    stored = db.session.scalar(select(InboundMail.html_body))
    assert "<b>E42</b>" in stored
    for dangerous in ("<script", "onerror", "javascript:", "steal("):
        assert dangerous not in stored

    client = app.test_client()
    login(make_user(Role.AGENT), the_client=client)
    html_page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "The display shows E42." in html_page
    assert "steal(" not in html_page and "alert(" not in html_page


def test_unknown_charset_is_read_and_noted(app, listener, make_user, login):
    raw = (b"From: robin@example.com\r\nTo: support@hearthly.example\r\n"
           b"Subject: =?x-klingon?q?Heizung?=\r\nMessage-ID: <charset@example.com>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-klingon\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n"
           + "Die Heizung läuft nicht. Grüße\r\n".encode())
    listener.send(raw)
    [ticket] = tickets()
    assert "Die Heizung läuft nicht." in ticket.description
    client = app.test_client()
    login(make_user(Role.AGENT), the_client=client)
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Unknown character set &#39;x-klingon&#39;" in page


def test_malformed_mime_still_makes_a_ticket_with_a_note(app, listener, make_user, login):
    raw = (b"From: robin@example.com\r\nTo: support@hearthly.example\r\n"
           b"Subject: Broken mail\r\nMessage-ID: <broken@example.com>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
           b"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           b"The thermostat is offline.\r\n"
           b"--outer\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK%%%not*base64\r\n"
           b"--outer\r\nContent-Type: multipart/alternative; boundary=\"never-closed\"\r\n\r\n"
           b"--never-closed\r\nContent-Type: text/html\r\n\r\n<p>half")
    listener.send(raw)
    [ticket] = tickets()
    assert ticket.description == "The thermostat is offline."
    names = set(db.session.scalars(select(TicketAttachment.filename)))
    assert "invoice.pdf" in names
    client = app.test_client()
    login(make_user(Role.AGENT), the_client=client)
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "structure was damaged" in page


def test_attachments_are_kept_listed_and_only_for_the_ticket_s_people(app, listener, make_user,
                                                                      login):
    mail = message(subject="Photo of the error")
    mail.add_attachment(b"\x89PNG fake image bytes", maintype="image", subtype="png",
                        filename="../../etc/error photo.png")
    listener.send(mail)
    [ticket] = tickets()
    [attachment] = db.session.scalars(select(TicketAttachment)).all()
    assert attachment.filename == "error photo.png" and attachment.kept
    assert "/etc/" not in attachment.stored_path

    # The requester (anonymous) follows the signed link from the acknowledgement.
    track_url = next(line for line in last_outbox_mail(app).get_content().splitlines()
                     if "/tickets/track/" in line).replace("http://localhost", "")
    page = app.test_client().get(track_url).get_data(as_text=True)
    assert "error photo.png" in page
    download = app.test_client().get(f"{track_url}/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == b"\x89PNG fake image bytes"
    assert download.headers["Content-Disposition"].startswith("attachment")

    stranger = app.test_client()
    login(make_user(Role.CUSTOMER), the_client=stranger)
    assert stranger.get(f"/tickets/{ticket.number}/attachments/{attachment.id}"
                        ).status_code == 404
    agent = app.test_client()
    login(make_user(Role.AGENT), the_client=agent)
    assert agent.get(f"/tickets/{ticket.number}/attachments/{attachment.id}").status_code == 200


def test_25_mb_attachment_is_listed_not_kept_and_the_ticket_is_created(app, listener,
                                                                       make_user, login):
    mail = message(subject="Logs attached", body="Here are the full logs.")
    mail.add_attachment(b"\x00" * (25 * 1024 * 1024), maintype="application", subtype="zip",
                        filename="logs.zip")
    listener.send(mail)
    [ticket] = tickets()
    assert ticket.description == "Here are the full logs."
    [attachment] = db.session.scalars(select(TicketAttachment)).all()
    assert attachment.filename == "logs.zip" and not attachment.kept
    assert "over the size limit" in attachment.note
    client = app.test_client()
    login(make_user(Role.AGENT), the_client=client)
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "logs.zip" in page and "over the 15.0 MB limit for whole messages" in page


def test_mail_over_the_listener_limit_is_refused_with_552(app, listener):
    app.config["MAIL_LISTEN_MAX_BYTES"] = 1_000_000
    port = free_port()
    small = start_listener(app, "127.0.0.1", port)
    try:
        mail = message()
        mail.add_attachment(b"x" * 2_000_000, maintype="application", subtype="octet-stream",
                            filename="big.bin")
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            # Refused at MAIL FROM (the announced SIZE) or at the end of DATA.
            with pytest.raises(smtplib.SMTPResponseException) as refused:
                smtp.send_message(mail)
        assert refused.value.smtp_code == 552
    finally:
        small.stop()
    assert tickets() == []


def test_only_support_addresses_are_accepted_when_configured(app):
    app.config["MAIL_ADDRESSES"] = f"{SUPPORT}, help@hearthly.example"
    port = free_port()
    controller = start_listener(app, "127.0.0.1", port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail("robin@example.com")
            assert smtp.rcpt("someone-else@hearthly.example")[0] == 550
            assert smtp.rcpt("help@hearthly.example")[0] == 250
    finally:
        controller.stop()


def test_lmtp_delivery(app):
    port = free_port()
    controller = start_listener(app, "127.0.0.1", port, lmtp=True)
    try:
        db.session.rollback()
        with smtplib.LMTP("127.0.0.1", port) as lmtp:
            refused = lmtp.send_message(message(subject="Via LMTP"))
        assert refused == {}
    finally:
        controller.stop()
    [ticket] = tickets()
    assert ticket.subject == "Via LMTP" and ticket.source == "email"
    assert db.session.scalar(select(InboundMail.transport)) == "lmtp"


def test_database_failure_answers_451_and_keeps_nothing_half_done(app, listener, monkeypatch):
    from portal.tickets.mail import intake

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(intake, "_create", broken)
    mail = message(message_id="<retry-me@example.com>")
    code, _text = listener.data_reply(bytes(mail))
    assert code == 451
    assert db.session.scalar(select(func.count()).select_from(InboundMail)) == 0
    monkeypatch.undo()
    # The sending server retries later, and then the message goes through.
    code, _text = listener.data_reply(bytes(mail))
    assert code == 250 and len(tickets()) == 1
    assert db.session.scalar(select(func.count()).select_from(TicketMessage)) == 0
