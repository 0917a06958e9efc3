"""Header injection through e-mail: what a stranger types must never become a header.

Python 3.11.7's `email` package decodes an RFC 2047 encoded word in a header value and
writes the CR/LF it holds raw (CVE-2024-6923), so a subject such as
`=?utf-8?q?=0D=0ABcc:_x@evil.example?=` used to add a Bcc to the portal's own mail.
Every corpus entry goes through every mail the portal sends from user text: the
new-ticket confirmation (web form and mail intake), "Assigned to you", the agent's
reply, the solved notice and the SLA breach notice. Each written .eml is read twice:
parsed by the `email` package, and line by line as raw bytes, the way a mail server
reads it.
"""

from __future__ import annotations

import base64
import email
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.quoprimime import header_encode
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import select

from portal import mail, untrusted
from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import services
from portal.tickets.mail import intake, tokens
from portal.tickets.mail.models import TicketAttachment
from portal.tickets.models import Ticket
from tests.conftest import DEFAULT_PASSWORD, PortalClient

from .conftest import World


def _b64_word(text: str, charset: str = "utf-8", encoding: str = "b") -> str:
    return f"=?{charset}?{encoding}?{base64.b64encode(text.encode(charset)).decode()}?="


# The attacks: (name, subject as typed). Each tries to end the Subject line and start a
# header of its own, or the body.
ATTACKS: list[tuple[str, str]] = [
    ("reply-to-and-body", "Order =?utf-8?q?=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0A"
                          "Please_verify:_http://evil.example/?="),
    ("bcc-q-crlf", "Invoice =?utf-8?q?=0D=0ABcc:_victims@evil.example?="),
    ("bcc-upper-q", "=?UTF-8?Q?=0D=0ABcc:_victims@evil.example?="),
    ("bcc-bare-lf", "Help =?utf-8?q?=0ABcc:_victims@evil.example?="),
    ("bcc-bare-cr", "Help =?utf-8?q?=0DBcc:_victims@evil.example?="),
    ("bcc-b", "Help " + _b64_word("\r\nBcc: victims@evil.example")),
    ("reply-to-upper-b", "Help " + _b64_word("\r\nReply-To: attacker@evil.example\r\n\r\n"
                                              "Click http://evil.example/", encoding="B")),
    ("header-body-split", "Hello =?utf-8?q?=0D=0A=0D=0AYour_account_is_locked:"
                          "_http://evil.example/?="),
    ("adjacent-words-spaces", "=?utf-8?q?=0D?=   =?utf-8?q?=0ABcc:_victims@evil.example?="),
    ("adjacent-words-tabs", "=?utf-8?q?=0D?=\t=?utf-8?q?=0A?=\t=?utf-8?q?Bcc:_v@evil.example?="),
    ("fold-then-header", "=?utf-8?q?=0D=0A=09x=0D=0ABcc:_victims@evil.example?="),
    ("nested-word", "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc:_victims@evil.example=3F=3D?="),
    ("iso-8859-1", "=?iso-8859-1?q?=0D=0ABcc:_victims@evil.example?="),
    ("charset-language", "=?utf-8*en?q?=0D=0ABcc:_victims@evil.example?="),
    ("mixed-case-charset", "=?Utf-8?B?" + base64.b64encode(b"\r\nBcc: v@evil.example").decode()
                           + "?="),
    ("utf-16", _b64_word("\r\nBcc: victims@evil.example", charset="utf-16")),
    ("next-line-u85", "=?utf-8?q?=C2=85Bcc:_victims@evil.example?="),
    ("line-separator-u2028", "=?utf-8?q?=E2=80=A8Bcc:_victims@evil.example?="),
    ("paragraph-separator-u2029", "=?utf-8?q?=E2=80=A9Bcc:_victims@evil.example?="),
    ("separator-split-over-words", "=?utf-8?b?4oA=?= =?utf-8?b?qA==?=Bcc: v@evil.example"),
    ("raw-unicode-separators", "Help\u2028Bcc: v@evil.example\u2029\x85Reply-To: a@evil.example"),
    ("c0-and-c1-controls", "=?utf-8?q?=00=1B[2J=7F=C2=9B=0B=0CBcc:_v@evil.example?="),
]
ATTACK_IDS = [name for name, _ in ATTACKS]

TICKET_MAIL = ("From", "To", "Date", "Auto-Submitted", "X-Loop", "Subject", "Message-ID",
               "X-Portal-Ticket", "MIME-Version", "Content-Type", "Content-Transfer-Encoding")
STAFF_MAIL = tuple(name for name in TICKET_MAIL if name != "X-Portal-Ticket")
FORBIDDEN_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}


# --- reading what the portal wrote ----------------------------------------------------------


def outbox(app: Flask) -> list[Path]:
    folder = Path(app.instance_path) / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def empty_outbox(app: Flask) -> None:
    for path in outbox(app):
        path.unlink()


def new_mails(app: Flask, seen: set[Path]) -> list[bytes]:
    fresh = [path for path in outbox(app) if path not in seen]
    seen.update(fresh)
    return [path.read_bytes() for path in fresh]


def raw_header_block(raw: bytes) -> tuple[list[bytes], bytes]:
    """The header lines and the first body line, split where a mail server splits them."""
    lines = raw.split(b"\n")
    for index, line in enumerate(lines):
        if line.rstrip(b"\r") == b"":
            return lines[:index], lines[index + 1] if index + 1 < len(lines) else b""
    return lines, b""


def problems_in(raw: bytes, expected_headers: tuple[str, ...], body_starts: str,
                subject_starts: str) -> list[str]:
    problems: list[str] = []
    header_lines, first_body_line = raw_header_block(raw)
    names: list[str] = []
    for line in header_lines:
        if any(byte < 0x20 or byte > 0x7E for byte in line.lstrip(b" \t")):
            problems.append(f"raw header line with a control or 8-bit byte: {line!r}")
        if line[:1] in (b" ", b"\t"):
            continue  # folded continuation of the previous header
        name, colon, _value = line.partition(b":")
        if not colon:
            problems.append(f"raw header line that is no header: {line!r}")
        names.append(name.decode("ascii", "replace"))
    if Counter(names) != Counter(expected_headers):
        problems.append(f"raw headers {sorted(names)}, expected {sorted(expected_headers)}")
    if first_body_line.decode("utf-8", "replace") != body_starts:
        problems.append(f"raw body starts with {first_body_line!r}, expected {body_starts!r}")

    parsed = email.message_from_bytes(raw, policy=policy.default)
    if Counter(parsed.keys()) != Counter(expected_headers):
        problems.append(f"parsed headers {sorted(parsed.keys())}")
    # The email package folds a long subject right after "Subject:", and reads the
    # fold back as one leading space.
    subject = str(parsed["Subject"]).lstrip(" ")
    bad = [hex(ord(ch)) for ch in subject if unicodedata.category(ch) in FORBIDDEN_CATEGORIES]
    if bad:
        problems.append(f"decoded subject holds control characters {bad}: {subject!r}")
    if "=?" in subject:
        problems.append(f"decoded subject still holds an encoded word: {subject!r}")
    if not subject.startswith(subject_starts):
        problems.append(f"subject {subject!r} does not start with {subject_starts!r}")
    body = parsed.get_body(("plain",))
    if body is None or not body.get_content().startswith(body_starts):
        problems.append("parsed body does not start with what the portal wrote")
    return problems


def mail_to(mails: list[bytes], address: str, subject_part: str) -> bytes:
    """The one new mail to `address` whose subject mentions `subject_part`."""
    found = []
    for raw in mails:
        parsed = email.message_from_bytes(raw, policy=policy.default)
        if parsed["To"] is not None and address in str(parsed["To"]) \
                and subject_part in str(parsed["Subject"]):
            found.append(raw)
    # Before the fix an injected header can hide the mail's real recipient or subject.
    assert len(found) == 1, (address, subject_part, [m[:400] for m in mails])
    return found[0]


def check(raw: bytes, what: str, expected_headers: tuple[str, ...], body_starts: str,
          subject_starts: str, failures: list[str]) -> None:
    failures += [f"{what}: {p}" for p in problems_in(raw, expected_headers, body_starts,
                                                      subject_starts)]


# --- the people and their browsers ------------------------------------------------------------


def signed_in(app: Flask, email_address: str) -> PortalClient:
    client: PortalClient = app.test_client()  # type: ignore[assignment]
    response = client.post("/login", data={"email": email_address,
                                           "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def app(world: World) -> Iterator[Flask]:
    """The package's shared world: an app of its own would empty the database under the
    world when it ends, and every later module would lose its personas."""
    with world.app.app_context():
        yield world.app
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def agents(app: Flask, make_user: Any) -> tuple[Any, Any]:
    # The world outlives each test: the agents are made once and found again after.
    lead = accounts.find_user_by_email("lead.agent@example.com") or make_user(
        Role.AGENT, email="lead.agent@example.com", name="Lee Lead")
    other = accounts.find_user_by_email("other.agent@example.com") or make_user(
        Role.AGENT, email="other.agent@example.com", name="Olu Other")
    return lead, other


def tag(number: int) -> str:
    return f"[#{number}-{tokens.reply_token(number)}]"


# --- every mail of a ticket's life, from the web form ---------------------------------------


@pytest.mark.parametrize("subject", [s for _, s in ATTACKS], ids=ATTACK_IDS)
def test_a_hostile_subject_adds_no_header_to_any_ticket_mail(
        app: Flask, agents: tuple[Any, Any], subject: str) -> None:
    lead, other = agents
    empty_outbox(app)
    seen: set[Path] = set()
    failures: list[str] = []
    stranger: PortalClient = app.test_client()  # type: ignore[assignment]
    response = stranger.post("/tickets/new", data={
        "subject": subject, "description": "Please look at my order.",
        "email": "robin@example.com", "name": "Robin"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    ticket = db.session.scalar(select(Ticket).order_by(Ticket.id.desc()))
    assert ticket is not None
    number = ticket.number
    created = mail_to(new_mails(app, seen), "robin@example.com", "We received your request")
    check(created, "confirmation", TICKET_MAIL, tokens.REPLY_ABOVE_MARKER,
          f"{tag(number)} We received your request: ", failures)

    lead_browser = signed_in(app, lead.email)
    response = lead_browser.post(f"/tickets/{number}/assign", data={"assignee_id": other.id})
    assert response.status_code == 302, response.status_code
    assigned = mail_to(new_mails(app, seen), other.email, "Assigned to you")
    check(assigned, "assigned to you", STAFF_MAIL, "Hi Olu Other,",
          f"[#{number}] Assigned to you: ", failures)

    db.session.remove()
    services.sweep_slas(now=utcnow() + timedelta(hours=9))
    # The sweep also mails about other tests' tickets that agent holds: this one's is wanted.
    breach = mail_to(new_mails(app, seen), other.email, f"[#{number}] SLA breached")
    check(breach, "SLA breach", STAFF_MAIL, "Hi Olu Other,", f"[#{number}] SLA breached: ",
          failures)

    other_browser = signed_in(app, other.email)
    response = other_browser.post(f"/tickets/{number}/reply",
                                  data={"body": "Your order ships tomorrow."})
    assert response.status_code == 302, response.status_code
    replied = mail_to(new_mails(app, seen), "robin@example.com", "New reply")
    check(replied, "agent reply", TICKET_MAIL, tokens.REPLY_ABOVE_MARKER,
          f"{tag(number)} New reply: ", failures)

    response = other_browser.post(f"/tickets/{number}/status", data={"status": "solved"})
    assert response.status_code == 302, response.status_code
    solved = mail_to(new_mails(app, seen), "robin@example.com", "Solved")
    check(solved, "solved", TICKET_MAIL, tokens.REPLY_ABOVE_MARKER, f"{tag(number)} Solved: ",
          failures)
    assert not failures, "\n".join(failures)


# --- the mail intake: its auto-replies carry the incoming mail's own subject ---------------


def incoming(subject_header: bytes, *, sender: bytes = b"Sam Sender <sam@example.com>",
             extra: bytes = b"") -> bytes:
    return (b"From: " + sender + b"\r\nTo: support@hearthly.example\r\n"
            b"Subject: " + subject_header + b"\r\n"
            b"Date: " + formatdate().encode() + b"\r\n"
            b"Message-ID: " + make_msgid(domain="example.com").encode() + b"\r\n"
            + extra + b"\r\nMy thermostat is broken.\r\n")


@pytest.mark.parametrize("subject", [s for _, s in ATTACKS], ids=ATTACK_IDS)
def test_a_hostile_mail_subject_adds_no_header_to_the_intakes_replies(
        app: Flask, agents: tuple[Any, Any], subject: str) -> None:
    _lead, other = agents
    empty_outbox(app)
    seen: set[Path] = set()
    failures: list[str] = []
    # As written, and encoded once more: the intake decodes the subject, so the second
    # form arrives in the ticket's subject as the attack itself.
    for form, header in (("as sent", subject.encode("utf-8")),
                         ("encoded twice", header_encode(subject.encode("utf-8"), "utf-8")
                          .encode("ascii"))):
        result = intake.receive(incoming(header), transport="smtp")
        assert result.ticket_number is not None, (form, result)
        number = result.ticket_number
        confirmation = mail_to(new_mails(app, seen), "sam@example.com",
                               "We received your request")
        check(confirmation, f"{form}: auto-reply", TICKET_MAIL, tokens.REPLY_ABOVE_MARKER,
              f"{tag(number)} We received your request: ", failures)

        # The customer answers by mail (no mail goes out), then an agent replies.
        answer = intake.receive(incoming(
            f"Re: {tag(number)} more details".encode(),
            extra=f"{tokens.TICKET_HEADER}: {tokens.header_value(number)}\r\n".encode()),
            transport="smtp")
        assert answer.ticket_number == number, answer
        assert new_mails(app, seen) == []
        ticket = services.get_ticket(number)
        assert ticket is not None
        services.reply(ticket.id, "We are on it.", actor=services.Actor.of(other))
        replied = mail_to(new_mails(app, seen), "sam@example.com", "New reply")
        check(replied, f"{form}: agent reply", TICKET_MAIL, tokens.REPLY_ABOVE_MARKER,
              f"{tag(number)} New reply: ", failures)
    assert not failures, "\n".join(failures)


def test_a_hostile_display_name_stays_out_of_the_headers(app: Flask) -> None:
    empty_outbox(app)
    name = header_encode(b"Sam\r\nBcc: victims@evil.example\r\n\r\nbody", "utf-8").encode()
    result = intake.receive(incoming(b"Heating", sender=name + b" <sam@example.com>"),
                            transport="smtp")
    assert result.ticket_number is not None
    [raw] = [path.read_bytes() for path in outbox(app)]
    assert not problems_in(raw, TICKET_MAIL, tokens.REPLY_ABOVE_MARKER,
                           f"{tag(result.ticket_number)} We received your request: ")


# --- the neutraliser itself -------------------------------------------------------------------


@pytest.mark.parametrize("subject", [s for _, s in ATTACKS], ids=ATTACK_IDS)
def test_header_text_leaves_nothing_that_decodes_into_a_line_break(subject: str) -> None:
    text = untrusted.header_text(subject)
    assert "=?" not in text
    assert not [ch for ch in text if unicodedata.category(ch) in FORBIDDEN_CATEGORIES]
    assert len(text) <= untrusted.MAX_HEADER_CHARS
    message = EmailMessage()
    message["Subject"] = text
    message.set_content("body")
    header_lines, first = raw_header_block(bytes(message))
    assert [line.split(b":")[0] for line in header_lines if line[:1] not in (b" ", b"\t")] \
        == [b"Subject", b"Content-Type", b"Content-Transfer-Encoding", b"MIME-Version"]
    assert first == b"body"


@pytest.mark.parametrize("typed", [
    "Rechnung für März – Überweisung nicht angekommen",
    "Café ☕ et crème brûlée 🍮",
    "東京オフィスの請求書について、至急確認をお願いします",
    "Familie 👨‍👩‍👧 und Schottland 🏴󠁧󠁢󠁳󠁣󠁴󠁿 👍🏽",
    "پرداخت نمی‌شود",  # the zero-width non-joiner belongs to the word
    "Why does x=5 ? (and 2+2=4?)",
    "Long " + "word " * 50 + "end",
])
def test_a_subject_a_customer_typed_arrives_readable(app: Flask, typed: str) -> None:
    assert untrusted.header_text(typed) == typed
    empty_outbox(app)
    assert mail.send("robin@example.com", typed, "Hello")
    [path] = outbox(app)
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == typed
    assert parsed.get_content().startswith("Hello")


def test_header_text_decodes_an_honest_encoded_word_and_caps_the_length() -> None:
    assert untrusted.header_text("=?utf-8?q?Caf=C3=A9?= =?iso-8859-1?q?cr=E8me?=") == "Cafécrème"
    assert untrusted.header_text("Re: =?utf-8?b?0J/RgNC40LLQtdGC?=") == "Re: Привет"
    assert untrusted.header_text("x =?no-such-charset?q?abc?=") == "x = ?no-such-charset?q?abc?="
    assert untrusted.header_text("a\u202eevil\u200b b\tc\r\nd") == "aevil b c d"
    long = untrusted.header_text("ü" * 5000)
    assert len(long) == untrusted.MAX_HEADER_CHARS and long.endswith("…")


def test_a_recipient_address_with_a_line_break_is_not_sent(app: Flask) -> None:
    empty_outbox(app)
    assert not mail.send("robin@example.com\r\nBcc: victims@evil.example", "Hi", "Hello")
    assert not mail.send("=?utf-8?q?robin@example.com=0D=0ABcc:_v@evil.example?=", "Hi", "x")
    assert not mail.send("=?utf-8?q?=0D=0ABcc:_v@evil.example?=@example.com", "Hi", "x")
    assert outbox(app) == []
    assert mail.send("Robin =?utf-8?q?=0D=0ABcc:_v@evil.example?= <robin@example.com>",
                     "Hi", "Hello")
    [path] = outbox(app)
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "robin@example.com"
    header_lines, first_body_line = raw_header_block(path.read_bytes())
    assert "Bcc" not in parsed and not [line for line in header_lines if line.startswith(b"Bcc")]
    assert first_body_line == b"Hello"


def test_tagged_subject_is_one_safe_line() -> None:
    helper = Flask(__name__)
    helper.secret_key = "k" * 40
    with helper.app_context():
        subject = tokens.tagged_subject("[#10001] =?utf-8?q?=0D=0ABcc:_v@evil.example?=", 10001)
        assert subject == f"{tag(10001)} Bcc: v@evil.example"


# --- file names from strangers ----------------------------------------------------------------

BOUNDARY = "portal-test-boundary"
HOSTILE_FILE_NAMES = {
    "../../etc/passwd": "passwd",
    "..\\..\\windows\\win.ini": "win.ini",
    "invoice\u202egnp.exe": "invoicegnp.exe",
    "report\r\nContent-Type: text/html.txt": "html.txt",
    "=?utf-8?q?=0D=0ASet-Cookie:_a=3Db?=.txt": "Set-Cookie_ a=b.txt",
    "CON.txt": "_CON.txt",
    "  ...hidden.txt. ": "hidden.txt",
    'a"b<c>d|e?f*g:h.txt': "a_b_c_d_e_f_g_h.txt",
    "zero\u200bwidth\ufeff.pdf": "zerowidth.pdf",
}


@pytest.mark.parametrize(("sent", "kept"), HOSTILE_FILE_NAMES.items(),
                         ids=[repr(name) for name in HOSTILE_FILE_NAMES])
def test_file_name_keeps_a_plain_name_and_nothing_else(sent: str, kept: str) -> None:
    assert untrusted.file_name(sent) == kept


def test_mailed_attachments_are_stored_and_offered_under_a_neutral_name(
        app: Flask, agents: tuple[Any, Any]) -> None:
    lead, _other = agents
    # Written by hand: Python 3.11.7's own add_attachment() writes the line break of an
    # encoded-word file name raw. Every name goes as RFC 2231 (which can carry any
    # character), and the encoded-word one also plainly quoted, as an attacker sends it.
    encoded_word_name = "=?utf-8?q?=0D=0ASet-Cookie:_a=3Db?=.txt"
    dispositions = [f"filename*=utf-8''{quote(name, safe='')}" for name in HOSTILE_FILE_NAMES]
    dispositions.append(f'filename="{encoded_word_name}"')
    parts = [f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n"]
    parts += [f"--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
              f"Content-Disposition: attachment; {disposition}\r\n\r\ndata\r\n"
              for disposition in dispositions]
    raw = incoming(b"Files", extra=(
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{BOUNDARY}"\r\n'
        .encode()))
    raw = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + (
        "".join(parts) + f"--{BOUNDARY}--\r\n").encode("ascii")
    result = intake.receive(raw, transport="smtp")
    assert result.ticket_number is not None
    ticket = services.get_ticket(result.ticket_number)
    assert ticket is not None
    stored = list(db.session.scalars(select(TicketAttachment).where(
        TicketAttachment.ticket_id == ticket.id).order_by(TicketAttachment.id)))
    assert [a.filename for a in stored] == [*HOSTILE_FILE_NAMES.values(),
                                            HOSTILE_FILE_NAMES[encoded_word_name]]
    instance = Path(app.instance_path).resolve()
    for attachment in stored:
        assert attachment.stored_path is not None
        assert (instance / attachment.stored_path).resolve().is_relative_to(instance / "mail")

    # Rows written before names were neutralised are offered under a safe name too.
    stored[0].filename = "old\u202etxt.exe\r\nX-Injected: 1"
    db.session.commit()
    browser = signed_in(app, lead.email)
    for attachment in stored:
        response = browser.get(f"/tickets/{ticket.number}/attachments/{attachment.id}")
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert not [ch for ch in disposition if unicodedata.category(ch)[0] in "CZ"
                    and ch != " "]
        assert "X-Injected" not in response.headers
    first = browser.get(f"/tickets/{ticket.number}/attachments/{stored[0].id}")
    assert "filename*=UTF-8''oldtxt.exe%20X-Injected_%201" in first.headers["Content-Disposition"]
