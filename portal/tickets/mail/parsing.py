"""Raw message bytes to a ParsedMail: sender, subject, text, attachments, problems found.

Pure functions without the database. Damaged mail is read as far as it goes: every
problem becomes a note for the agent rather than an exception.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from portal.tickets.mail.text import html_to_text, sanitise_html, trim_reply
from portal.untrusted import file_name

# Over the whole-message limit only this much of the start is read: the text part and
# the names of the first attachments are nearly always in it, and memory stays small.
TRUNCATED_READ_BYTES = 1024 * 1024
MAX_ATTACHMENTS = 20
# Hostile mail can hold hundreds of thousands of tiny parts (each costs the email package
# about a millisecond) or nest multiparts until the parser's recursion gives out. Only this
# many boundary lines are read, and only this many files are listed.
MAX_PART_LINES = 1000
MAX_LISTED_FILES = 100
_DELIMITER_LINE = re.compile(rb"^--", re.MULTILINE)
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None: listed, not kept (the note says why)
    note: str = ""


@dataclass
class ParsedMail:
    message_id: str
    sender_email: str
    sender_name: str
    subject: str
    text: str
    html: str | None
    content_type: str
    headers: dict[str, list[str]]
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size: int = 0

    def header(self, name: str) -> str:
        return " ".join(self.headers.get(name.lower(), []))


def clean(value: str) -> str:
    """Text a database accepts: PostgreSQL refuses NUL, and undecodable bytes become '?'."""
    return _CONTROL.sub("", value.encode("utf-8", "replace").decode("utf-8"))


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _sender(message: Message) -> tuple[str, str]:
    """The first From address, found in the raw header before encoded words are decoded:
    `=?utf-8?q?victim=40example.com?= <attacker@evil.example>` is from the attacker, as
    the MTA (and its SPF/DKIM/DMARC checks) saw it, not from the victim."""
    raw = [_FOLDING.sub("", str(value)) for name, value in message.raw_items()
           if name.lower() == "from"]
    for name, address in getaddresses(raw):
        if "@" in address:
            return _decode_header(name), clean(address.strip().lower())
    return "", ""


def _limit_parts(raw: bytes) -> tuple[bytes, bool]:
    """The message up to its MAX_PART_LINES-th boundary line, and whether it was cut."""
    for count, line in enumerate(_DELIMITER_LINE.finditer(raw), start=1):
        if count > MAX_PART_LINES:
            return raw[:line.start()], True
    return raw, False


def _header_values(message: Message) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, raw in message.raw_items():
        values.setdefault(name.lower(), []).append(_decode_header(raw))
    return values


def _decode_header(raw: object) -> str:
    text = str(raw)
    try:
        decoded = str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError):
        decoded = text  # an unknown charset in an encoded word: keep it as it came
    return clean(" ".join(decoded.split()))


def _decode_text(part: Message, notes: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return clean(payload.decode(charset))
    except LookupError:
        notes.append(f"Unknown character set {charset!r}: the text was read as UTF-8.")
    except UnicodeDecodeError:
        if charset not in ("us-ascii", "ascii"):
            notes.append(f"The text was not valid {charset}: it was read as UTF-8.")
    try:
        return clean(payload.decode("utf-8"))
    except UnicodeDecodeError:
        # Windows-1252 decodes nearly any byte and is the commonest mislabelled charset.
        return clean(payload.decode("cp1252", "replace"))


def _leaves(part: Message) -> Iterator[Message]:
    """Leaf parts in order; an attached email (message/rfc822) is one leaf, not opened."""
    if part.get_content_maintype() == "multipart":
        children = part.get_payload()
        if isinstance(children, list):
            for child in children:
                if isinstance(child, Message):
                    yield from _leaves(child)
            return
    yield part


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename() or ""
    except (LookupError, ValueError, UnicodeError):
        name = ""
    name = file_name(name)
    if not name:
        extension = mimetypes.guess_extension(part.get_content_type()) or ".bin"
        name = f"attachment-{index}{extension}"
    return name


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    try:
        has_name = bool(part.get_filename())
    except (LookupError, ValueError, UnicodeError):
        has_name = True
    return disposition == "attachment" or has_name \
        or part.get_content_type() not in ("text/plain", "text/html")


def _payload_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes(policy=policy.compat32)
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _describe_defects(message: Message) -> list[str]:
    kinds: list[str] = []
    for part in message.walk():
        kinds += [type(defect).__name__ for defect in getattr(part, "defects", [])]
    if not kinds:
        return []
    listed = ", ".join(sorted(set(kinds)))
    return [f"The email's structure was damaged ({listed}); the ticket shows what could "
            "be read."]


def parse(raw: bytes, *, total_size: int | None = None, max_message_bytes: int,
          max_attachment_bytes: int) -> ParsedMail:
    """Read one message. `raw` may already be only the start of a larger message
    (IMAP fetches just that much), in which case `total_size` is the real size."""
    size = total_size if total_size is not None else len(raw)
    truncated = size > max_message_bytes
    if truncated:
        raw = raw[:TRUNCATED_READ_BYTES]
    raw, too_many_parts = _limit_parts(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        leaves = list(_leaves(message))
        notes = _describe_defects(message)
    except RecursionError:
        # Multiparts nested thousands deep: the headers still make a ticket.
        message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        leaves = []
        notes = ["The email's parts were nested too deeply to read; only its headers "
                 "were used."]
    if too_many_parts:
        notes.append(f"The email had more than {MAX_PART_LINES} parts: only the first ones "
                     "were read.")
    if truncated:
        notes.append(
            f"The email was {megabytes(size)}, over the {megabytes(max_message_bytes)} limit "
            "for whole messages: only its start was read, and its attachments are listed "
            "but not kept. Ask the customer for the files another way if they are needed.")
    headers = _header_values(message)
    sender_name, sender_email = _sender(message)

    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    kept = unlisted = 0
    for index, part in enumerate(leaves, start=1):
        try:
            if not _is_attachment(part):
                if part.get_content_type() == "text/plain" and plain is None:
                    plain = _decode_text(part, notes)
                    continue
                if part.get_content_type() == "text/html" and html is None:
                    html = _decode_text(part, notes)
                    continue
            if len(attachments) >= MAX_LISTED_FILES:
                unlisted += 1
                continue
            attachments.append(_attachment(part, index, kept, truncated, max_attachment_bytes))
            kept += attachments[-1].data is not None
        except Exception as exc:  # noqa: BLE001 - the email package can fail deep in a header
            notes.append(f"Part {index} of the email could not be read ({type(exc).__name__}).")
    if unlisted:
        notes.append(f"{unlisted} more files came with the email: only the first "
                     f"{MAX_LISTED_FILES} are listed.")

    if plain is not None and plain.strip():
        text = trim_reply(plain)
        kept_html = None
    elif html is not None:
        kept_html = sanitise_html(html)
        text = trim_reply(html_to_text(html))
    else:
        text, kept_html = "", None

    message_id = " ".join(headers.get("message-id", [""])[:1]).strip()[:250]
    if not message_id:
        # Without a Message-ID the content identifies the message, so a re-fetch still
        # finds the first copy.
        message_id = "<sha256:" + hashlib.sha256(raw[:TRUNCATED_READ_BYTES]).hexdigest() + ">"
    return ParsedMail(
        message_id=message_id, sender_email=sender_email[:254], sender_name=sender_name[:120],
        subject=" ".join(headers.get("subject", [""])[:1]).strip(), text=text, html=kept_html,
        content_type=message.get_content_type(), headers=headers, attachments=attachments,
        notes=notes, size=size,
    )


def _attachment(part: Message, index: int, kept_so_far: int, truncated: bool,
                max_bytes: int) -> Attachment:
    name, content_type = _filename(part, index), part.get_content_type()[:100]
    if truncated:
        return Attachment(name, content_type, 0, None,
                          "Not kept: the email was over the size limit for whole messages.")
    data = _payload_bytes(part)
    if len(data) > max_bytes:
        return Attachment(name, content_type, len(data), None,
                          f"Not kept: {megabytes(len(data))} is over the "
                          f"{megabytes(max_bytes)} limit for attachments.")
    if kept_so_far >= MAX_ATTACHMENTS:
        return Attachment(name, content_type, len(data), None,
                          f"Not kept: only the first {MAX_ATTACHMENTS} files of an email are "
                          "kept.")
    return Attachment(name, content_type, len(data), data)
