"""Mail that must not become a ticket: auto-replies, bounces and our own mail looping back."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from portal.mail import loop_marker
from portal.tickets.mail import tokens
from portal.tickets.mail.models import MailOutcome
from portal.tickets.mail.parsing import ParsedMail

# Real mail passes a handful of relays; a message that has passed this many is circling.
MAX_RECEIVED_HOPS = 25
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply")
_OUT_OF_OFFICE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|autoreply"
    r"|abwesenheitsnotiz|abwesend|vacation reply|r[ée]ponse automatique)\b",
    re.IGNORECASE,
)
_DAEMON_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    outcome: MailOutcome
    reason: str


def screen(mail: ParsedMail, *, own_addresses: Collection[str],
           envelope_sender: str | None = None) -> Verdict | None:
    """Why this message is not a customer writing to us, or None when it is."""
    own = {address.lower() for address in own_addresses if address}
    if tokens.is_our_message_id(mail.header("message-id")):
        return Verdict(MailOutcome.LOOP, "our own message came back")
    loop_values = {value.strip().lower() for value in mail.headers.get("x-loop", [])}
    if loop_values & (own | {loop_marker().lower()}):
        return Verdict(MailOutcome.LOOP, "X-Loop names this portal")
    if mail.sender_email in own:
        return Verdict(MailOutcome.LOOP, f"sent from our own address {mail.sender_email}")
    hops = len(mail.headers.get("received", []))
    if hops > MAX_RECEIVED_HOPS:
        return Verdict(MailOutcome.LOOP, f"passed {hops} relays (a mail loop)")

    report_type = mail.header("content-type").lower()
    if mail.content_type == "multipart/report" and "delivery-status" in report_type:
        return Verdict(MailOutcome.BOUNCE, "delivery status notification")
    if mail.content_type == "multipart/report":
        return Verdict(MailOutcome.BOUNCE, "automatic report (multipart/report)")
    if envelope_sender == "" or mail.header("return-path").strip() == "<>":
        return Verdict(MailOutcome.BOUNCE, "empty return path (a bounce or notification)")
    if _DAEMON_SENDERS.match(mail.sender_email):
        return Verdict(MailOutcome.BOUNCE, f"sent by {mail.sender_email}")

    auto_submitted = mail.header("auto-submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return Verdict(MailOutcome.AUTO_REPLY, f"Auto-Submitted: {auto_submitted}")
    for name in _AUTOREPLY_HEADERS:
        if name in mail.headers:
            return Verdict(MailOutcome.AUTO_REPLY, f"{name} header")
    precedence = mail.header("precedence").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return Verdict(MailOutcome.AUTO_REPLY, f"Precedence: {precedence}")
    if _OUT_OF_OFFICE.match(mail.subject):
        return Verdict(MailOutcome.AUTO_REPLY, "out-of-office subject")
    return None
