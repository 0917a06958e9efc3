from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from portal.accounts.models import Role
from portal.tickets import services
from portal.tickets.models import Ticket
from portal.tickets.services import Actor

from .mail_support import dovecot, listener, mailbox  # noqa: F401 - test_mail_* fixtures


@pytest.fixture
def customer(make_user):
    return make_user(Role.CUSTOMER, name="Casey Customer")


@pytest.fixture
def agent(make_user):
    return make_user(Role.AGENT, name="Alex Agent")


@pytest.fixture
def new_ticket(app):
    """new_ticket(requester, **fields) -> the Ticket, created through the service."""

    def make(requester=None, **fields: Any) -> Ticket:
        values: dict[str, Any] = {
            "subject": "Thermostat shows error E42",
            "description": "Since this morning the display shows E42 and the heating is off.",
            "requester_id": requester.id if requester is not None else None,
            "requester_email": None if requester is not None else "anon@example.com",
            "requester_name": None if requester is not None else "Robin Anon",
        }
        values.update(fields)
        ref = services.create_ticket(**values)
        ticket = services.get_ticket(ref.number)
        assert ticket is not None
        return ticket

    return make


def actor(user) -> Actor:
    return Actor.of(user)


def outbox_messages(app) -> list[str]:
    folder = Path(app.instance_path) / "outbox"
    return [path.read_text() for path in sorted(folder.glob("*.eml"))] if folder.exists() else []


def mailed_tracking_link(app, to: str) -> str:
    """The path of the newest tracking link mailed to `to`, read from the outbox .eml files:
    what the owner of that mailbox, and only they, can open."""
    for raw in reversed(outbox_messages(app)):
        mail = message_from_string(raw, policy=policy.default)
        if mail["To"] != to:
            continue
        for line in mail.get_body(("plain",)).get_content().splitlines():  # type: ignore[union-attr]
            if "/tickets/track/" in line:
                return "/tickets/track/" + line.split("/tickets/track/", 1)[1].strip()
    raise AssertionError(f"no tracking link was mailed to {to}")


@pytest.fixture
def clean_outbox(app) -> Iterator[None]:
    folder = Path(app.instance_path) / "outbox"
    for path in folder.glob("*.eml") if folder.exists() else []:
        path.unlink()
    yield


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        self.messages.append({
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
        })
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Recorder]]:
    """A real SMTP server on loopback for the notification tests."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, recorder
    controller.stop()


@pytest.fixture
def kb_articles(app, tmp_path):
    """A small synced KB (database and Meilisearch, no embeddings) for suggestions."""
    import shutil

    from portal.kb import services as kb_services

    repo_content = Path(__file__).resolve().parents[2] / "content"
    target = tmp_path / "kb"
    for relative in ("account/reset-password.md", "billing/refund-policy.md",
                     "troubleshooting/error-codes.md",
                     "troubleshooting/thermostat-offline-wifi.md"):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo_content / relative, target / relative)
    kb_services.sync_content(str(target), chunks=False, wait=True)
    return target


def fresh(number: int) -> Ticket:
    """The ticket as the database has it now (requests run in their own session)."""
    from portal.extensions import db

    db.session.expire_all()
    ticket = services.get_ticket(number)
    assert ticket is not None
    return ticket
