"""`portal mail fetch`: read unseen messages from an IMAP folder into the intake.

Each message is marked \\Seen only after the intake has stored it, so a run that
dies half-way leaves the rest for the next run; the Message-ID check makes the
message that was being processed at that moment harmless to fetch again.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import current_app

from portal.tickets.mail import intake
from portal.tickets.mail.parsing import TRUNCATED_READ_BYTES

log = logging.getLogger(__name__)
IMAP_TIMEOUT_SECONDS = 30
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxError(RuntimeError):
    """The mailbox could not be reached or read; the message says what to check."""


@dataclass
class FetchReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: int = 0

    def summary(self) -> str:
        parts = [f"{count} {name.replace('_', ' ')}" for name, count in sorted(
            self.outcomes.items())]
        if self.failed:
            parts.append(f"{self.failed} failed (left unread for the next run)")
        return ", ".join(parts) or "no new mail"


@contextmanager
def mailbox() -> Iterator[imaplib.IMAP4]:
    config = current_app.config
    host = config.get("MAIL_IMAP_HOST")
    if not host:
        raise MailboxError("MAIL_IMAP_HOST is not set: there is no mailbox to fetch from.")
    use_ssl = bool(config.get("MAIL_IMAP_SSL", True))
    port = int(config.get("MAIL_IMAP_PORT") or (993 if use_ssl else 143))
    try:
        if use_ssl:
            connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=ssl.create_default_context(),
                timeout=IMAP_TIMEOUT_SECONDS)
        else:
            connection = imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT_SECONDS)
        connection.login(config.get("MAIL_IMAP_USER", ""), config.get("MAIL_IMAP_PASSWORD", ""))
        status, _data = connection.select(config.get("MAIL_IMAP_FOLDER") or "INBOX")
        if status != "OK":
            raise MailboxError(f"The folder {config.get('MAIL_IMAP_FOLDER')!r} does not exist.")
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"Could not read the mailbox at {host}:{port}: {exc}") from exc
    try:
        yield connection
    finally:
        try:
            connection.logout()
        except (OSError, imaplib.IMAP4.error):
            log.debug("IMAP logout failed", exc_info=True)


def unseen_uids(connection: imaplib.IMAP4) -> list[bytes]:
    status, data = connection.uid("SEARCH", "UNSEEN")
    if status != "OK":
        raise MailboxError(f"The mailbox refused to search: {data!r}")
    return [uid for uid in (data[0] or b"").split() if uid.isdigit()]


def _fetch_one(connection: imaplib.IMAP4, uid: bytes) -> tuple[bytes, int]:
    """The message, or only its start when it is over the whole-message limit (so a
    25 MB attachment never has to fit in memory), and its full size."""
    status, data = connection.uid("FETCH", uid.decode(), "(RFC822.SIZE)")
    found = _SIZE.search(data[0] if status == "OK" and isinstance(data[0], bytes) else b"")
    size = int(found.group(1)) if found else 0
    limit = int(current_app.config["MAIL_MAX_MESSAGE_BYTES"])
    section = f"BODY.PEEK[]<0.{TRUNCATED_READ_BYTES}>" if size > limit else "BODY.PEEK[]"
    status, data = connection.uid("FETCH", uid.decode(), f"({section})")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return bytes(item[1]), size or len(item[1])
    raise MailboxError(f"The server returned no message for UID {uid.decode()}.")


def fetch(progress: Callable[[list[bytes]], Iterator[bytes]] = iter) -> FetchReport:
    """Process every unseen message; `progress` wraps the list (a progress bar)."""
    report = FetchReport()
    with mailbox() as connection:
        for uid in progress(unseen_uids(connection)):
            try:
                raw, size = _fetch_one(connection, uid)
                result = intake.receive(raw, transport="imap", total_size=size)
            except (OSError, imaplib.IMAP4.error, MailboxError):
                raise
            except intake.MessageInProgress as exc:
                # Another run (or the listener) has it and may still fail: leave it unread;
                # the next run finds it done and marks it seen then.
                log.info("IMAP message UID %s: %s; left unread", uid.decode(), exc)
                report.outcomes["in_progress"] += 1
                continue
            except Exception:
                log.exception("IMAP message UID %s could not be processed", uid.decode())
                report.failed += 1
                continue
            connection.uid("STORE", uid.decode(), "+FLAGS", "(\\Seen)")
            report.outcomes[str(result.outcome or "duplicate")] += 1
    return report
