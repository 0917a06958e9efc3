"""Real mail servers on loopback for the intake tests, and message builders.

- `listener`: the portal's own SMTP listener (aiosmtpd), mail sent to it with smtplib.
- `dovecot`: Debian's dovecot-imapd, started with a throwaway configuration in a temp
  folder (installed by `make test`; outside CI the IMAP tests skip without it).
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import pytest

from portal.extensions import db
from portal.tickets.mail.listener import start_listener

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
SUPPORT = "support@hearthly.example"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def message(*, sender: str = "Robin Reader <robin@example.com>", subject: str = "Boiler noise",
            body: str = "The boiler makes a loud noise at night.", message_id: str | None = None,
            **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = SUPPORT
    mail["Subject"] = subject
    mail["Date"] = formatdate()
    mail["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


def tickets() -> list:
    """Every ticket, read fresh (the listener and fetch write in their own sessions)."""
    from sqlalchemy import select

    from portal.tickets.models import Ticket

    db.session.rollback()
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


@dataclass
class Listener:
    port: int

    def send(self, mail: EmailMessage | bytes, *, envelope_from: str = "robin@example.com",
             to: str = SUPPORT) -> dict[str, tuple[int, bytes]]:
        # The test's own session must not hold SQLite's lock while the listener writes.
        db.session.rollback()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            if isinstance(mail, bytes):
                return smtp.sendmail(envelope_from, [to], mail)
            return smtp.send_message(mail, from_addr=envelope_from, to_addrs=[to])

    def data_reply(self, raw: bytes, *,
                   envelope_from: str = "robin@example.com") -> tuple[int, str]:
        """The server's answer to DATA, for messages it must accept or refuse explicitly."""
        db.session.rollback()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            smtp.ehlo()
            smtp.mail(envelope_from)
            smtp.rcpt(SUPPORT)
            code, text = smtp.data(raw)
            return code, text.decode()


@pytest.fixture
def listener(app) -> Iterator[Listener]:
    port = free_port()
    controller = start_listener(app, "127.0.0.1", port)
    yield Listener(port)
    controller.stop()


# --- dovecot ----------------------------------------------------------------------


@dataclass
class Dovecot:
    port: int
    user: str
    password: str

    def connect(self) -> imaplib.IMAP4:
        connection = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        connection.login(self.user, self.password)
        connection.select("INBOX")
        return connection

    def deliver(self, mail: EmailMessage | bytes) -> None:
        raw = mail if isinstance(mail, bytes) else bytes(mail)
        connection = self.connect()
        try:
            status, data = connection.append("INBOX", None, None, raw)
            assert status == "OK", data
        finally:
            connection.logout()

    def unseen(self) -> int:
        connection = self.connect()
        try:
            _status, data = connection.uid("SEARCH", "UNSEEN")
            return len((data[0] or b"").split())
        finally:
            connection.logout()

    def empty(self) -> None:
        connection = self.connect()
        try:
            _status, data = connection.search(None, "ALL")
            if (data[0] or b"").split():
                connection.store("1:*", "+FLAGS", "(\\Deleted)")
                connection.expunge()
        finally:
            connection.logout()

    def mark_all_unseen(self) -> None:
        connection = self.connect()
        try:
            connection.store("1:*", "-FLAGS", "(\\Seen)")
        finally:
            connection.logout()


def _dovecot_config(root: Path, port: int, password_file: Path) -> str:
    if os.geteuid() == 0:
        # As root, dovecot drops privileges: its login processes must not run as root
        # and mail must not belong to uid 0, so the package's own users are used.
        internal, login, mail_user = "dovecot", "dovenull", "dovecot"
    else:
        internal = login = mail_user = pwd.getpwuid(os.getuid()).pw_name
    owner = pwd.getpwnam(mail_user)
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {owner.pw_uid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {password_file}
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={root}/home/%u
}}
# No chroot: an unprivileged dovecot cannot chroot, and nothing here needs one.
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if not Path(DOVECOT).exists():
        if os.environ.get("CI"):
            pytest.fail("IMAP tests must run in CI but dovecot is missing (make mail-deps).")
        pytest.skip("dovecot-imapd not installed (run `make test` to install it)")
    # Not under pytest's tmp_path: its parents are private to root, and dovecot's mail
    # processes run as another user when started by root.
    root = Path(tempfile.mkdtemp(prefix="portal-dovecot-"))
    root.chmod(0o755)
    for folder in ("run", "state", "mail", "home"):
        (root / folder).mkdir()
    port, user, password = free_port(), "support", "imap-test-password"
    password_file = root / "passwd"
    password_file.write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    config = root / "dovecot.conf"
    config.write_text(_dovecot_config(root, port, password_file))
    if os.geteuid() == 0:
        for folder in ("mail", "home"):
            shutil.chown(root / folder, "dovecot", "dovecot")
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Dovecot(port, user, password)
    deadline = time.monotonic() + 20
    while True:
        try:
            server.connect().logout()
            break
        except (OSError, imaplib.IMAP4.error):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start: {process.stderr.read()!r} {log}")
            time.sleep(0.2)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot: Dovecot, app) -> Dovecot:
    """An empty IMAP inbox that the app's `portal mail fetch` reads."""
    dovecot.empty()
    app.config.update(MAIL_IMAP_HOST="127.0.0.1", MAIL_IMAP_PORT=dovecot.port,
                      MAIL_IMAP_SSL=False, MAIL_IMAP_USER=dovecot.user,
                      MAIL_IMAP_PASSWORD=dovecot.password, MAIL_IMAP_FOLDER="INBOX")
    return dovecot
