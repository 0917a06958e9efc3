"""One shared world for the security suite: a signed-in client per persona, things to own.

Building it once (users, a KB, a ticket, a chat) keeps the suite fast. Tests add data
but never take away what the world's rules rely on.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal import create_app
from portal.accounts import services as account_services
from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.kb import editing, search_index, sync
from portal.kb.engine import get_engine
from portal.tickets import services as ticket_services
from tests.conftest import DEFAULT_PASSWORD, REPO, PortalClient, _truncate_all

PERSONAS: dict[str, Role | None] = {
    "anonymous": None,
    "customer": Role.CUSTOMER,
    "other_customer": Role.CUSTOMER,
    "agent": Role.AGENT,
    "editor": Role.EDITOR,
    "manager": Role.MANAGER,
    "admin": Role.ADMIN,
}
# Text only the owning customer (and staff) may ever see; its presence elsewhere is a leak.
PRIVATE_SUBJECT = "Private matter of customer one 7f3a"
PUBLIC_SLUG = "shared-household-access"
QUICK_HASH = generate_password_hash(DEFAULT_PASSWORD, method="pbkdf2:sha256:1000")
INTERNAL_TITLE = "Agent runbook: issuing refunds"  # content/billing/agent-runbook-refunds.md


@dataclass
class World:
    app: Flask
    content_dir: Path
    clients: dict[str, PortalClient]
    user_ids: dict[str, int]
    emails: dict[str, str]
    ticket_number: int = 0
    anon_ticket_number: int = 0
    tracking_token: str = ""
    conversation_id: int = 0
    message_id: int = 0
    article_slug: str = PUBLIC_SLUG
    throwaway_slug: str = ""
    revision_id: int = 0
    # Tickets that came by email with a file: the customer's own, and an anonymous sender's.
    mail_ticket_number: int = 0
    mail_attachment_id: int = 0
    mail_tracking_token: str = ""
    mail_tracking_attachment_id: int = 0
    link_target_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, persona: str) -> PortalClient:
        return self.clients[persona]

    def sign_in(self, persona: str) -> PortalClient:
        """(Re)sign a persona's client in through the real form."""
        client = self.clients[persona]
        response = client.post("/login", data={"email": self.emails[persona],
                                               "password": DEFAULT_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client

    def fresh_client(self, persona: str = "anonymous") -> PortalClient:
        """A separate browser for the persona (its own cookies and CSRF token)."""
        client: PortalClient = self.app.test_client()  # type: ignore[assignment]
        if persona != "anonymous":
            client.post("/login", data={"email": self.emails[persona],
                                        "password": DEFAULT_PASSWORD})
        return client


SECURITY_OVERRIDES: dict[str, Any] = {
    "KB_SYNC_CHUNKS": False,
    "KB_EDITOR_CHUNKS": False,
    # The suite signs in and chats far more often than a person would.
    "LOGIN_LIMIT_PER_IP": 10_000,
    "LOGIN_LIMIT_PER_ACCOUNT": 10_000,
    "CHAT_LIMIT_PER_SESSION": 10_000,
    "CHAT_LIMIT_PER_IP": 10_000,
    "CHAT_LIMIT_PER_USER": 10_000,
    "REGISTER_LIMIT_PER_SESSION": 10_000,
    "REGISTER_LIMIT_PER_IP": 10_000,
    "PASSWORD_RESET_LIMIT_PER_ADDRESS": 10_000,
    "PASSWORD_RESET_LIMIT_PER_IP": 10_000,
    "VERIFY_RESEND_LIMIT": 10_000,
    "TICKET_LIMIT_PER_SESSION": 10_000,
    "TICKET_LIMIT_PER_IP": 10_000,
    # Fold events into the dashboard's figures at once, not after a few seconds.
    "METRICS_SETTLE_SECONDS": 0,
}


def make_app(base_overrides: dict[str, Any], content_dir: Path, **more: Any) -> Flask:
    app = create_app({**base_overrides, **SECURITY_OVERRIDES, "CONTENT_DIR": str(content_dir),
                      **more})
    app.test_client_class = PortalClient
    return app


def _clear_articles_index() -> None:
    """Leave the session's shared index empty for the next module, as the KB tests do."""
    if get_engine().available():
        tasks = search_index.ensure_index(search_index.index_uid(), {})
        tasks += search_index.clear()
        search_index.wait(tasks)
    sync.reset_pending_flag()


def _seed(world: World) -> None:
    sync.sync_content(world.content_dir, chunks=False, wait=True)
    for persona, role in PERSONAS.items():
        if role is None:
            continue
        email = f"{persona.replace('_', '-')}@security.example"
        user = account_services.create_user(email, f"{persona.replace('_', ' ').title()} Person",
                                            DEFAULT_PASSWORD, role)
        # Same password, cheaper hash: the suite signs in hundreds of times, and the login
        # code checks whichever method the stored hash names.
        user.password_hash = QUICK_HASH
        # Accounts that existed before addresses were verified count as verified.
        user.email_verified_at = utcnow()
        db.session.commit()
        world.user_ids[persona] = user.id
        world.emails[persona] = email
    # Reset and verification links are for an account no persona signs in with: a request
    # that happens to pass the password rules (the fuzz test posts every shape of text)
    # would otherwise change the password the world signs in with.
    world.link_target_id = account_services.create_user(
        "link-target@security.example", "Link Target", DEFAULT_PASSWORD).id
    editor = editing.Editor(world.user_ids["editor"], "Editor Person")
    # An article made to be archived, so archiving it costs the other tests nothing.
    world.throwaway_slug = editing.save_article(None, editing.ArticleForm(
        title="Throwaway article for archiving", slug="throwaway-archive-target",
        category="account", status="published", body="Nothing to see here.\n"), editor).slug
    form = editing.load_form(PUBLIC_SLUG)
    assert form is not None
    form.summary = (form.summary or "") + " "
    editing.save_article(PUBLIC_SLUG, form, editor)
    world.revision_id = editing.revisions(PUBLIC_SLUG)[-1].id
    ref = ticket_services.create_ticket(
        subject=PRIVATE_SUBJECT, description="Only I and the support team may read this.",
        requester_id=world.user_ids["customer"], requester_email=None, requester_name=None)
    world.ticket_number = ref.number
    _seed_mailed_attachments(world)
    for persona in PERSONAS:
        world.clients[persona] = world.app.test_client()  # type: ignore[assignment]
        if persona != "anonymous":
            world.sign_in(persona)
    # The anonymous persona's browser sends a ticket through the form; its link is mailed.
    sent = world.clients["anonymous"].post("/tickets/new", data={
        "subject": "Anonymous requester's question", "description": "Sent without an account.",
        "email": "robin@security.example", "name": "Robin"})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:400]
    world.anon_ticket_number = int(sent.location.rsplit("/", 1)[1])
    world.tracking_token = _mailed_token(world.anon_ticket_number)
    # The customer's own chat, started in their browser.
    customer = world.clients["customer"]
    customer.post("/chat/messages", data={"message": "How do I share access with my family?"})
    from portal.chat.models import Conversation, Message

    conversation = db.session.scalar(select(Conversation).where(
        Conversation.user_id == world.user_ids["customer"]))
    assert conversation is not None
    world.conversation_id = conversation.id
    world.message_id = db.session.scalars(select(Message.id).where(
        Message.conversation_id == conversation.id).order_by(Message.id.desc())).first() or 0


def _mail_with_file(sender: str, subject: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = sender, "support@hearthly.example"
    message["Subject"], message["Message-ID"] = subject, make_msgid(domain="security.example")
    message.set_content("The log file is attached.")
    message.add_attachment(b"thermostat log\n", maintype="text", subtype="plain",
                           filename="log.txt")
    return message.as_bytes()


def _seed_mailed_attachments(world: World) -> None:
    from portal.tickets.mail import intake

    own = intake.receive(_mail_with_file(world.emails["customer"], "Log from my thermostat"),
                         transport="smtp")
    stranger = intake.receive(_mail_with_file("sam@security.example", "Log from a stranger"),
                              transport="smtp")
    assert own.ticket_number and stranger.ticket_number, (own, stranger)
    for number, prefix in ((own.ticket_number, "mail"), (stranger.ticket_number, "mail_tracking")):
        ticket = ticket_services.get_ticket(number)
        assert ticket is not None
        (attachment,) = intake.attachments_for(ticket.id)
        setattr(world, f"{prefix}_attachment_id", attachment.id)
        if prefix == "mail":
            # The customer opens the link in the acknowledgement: only then is the mailed
            # ticket theirs (the From header alone proves nothing).
            ticket_services.open_tracking_link(_mailed_token(number))
            world.mail_ticket_number = number
        else:
            world.mail_tracking_token = _mailed_token(number)


def _mailed_token(number: int) -> str:
    """The tracking link's token, read from the acknowledgement in the outbox as the
    requester reads it in their inbox."""
    from portal.mail import outbox_dir

    for path in sorted(outbox_dir().glob("*.eml"), reverse=True):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        if f"[#{number}-" not in str(mail["Subject"]):
            continue
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        link = next((line for line in body.splitlines() if "/tickets/track/" in line), "")
        if link:
            return link.strip().rsplit("/", 1)[1]
    raise AssertionError(f"no tracking link was mailed for ticket #{number}")


@pytest.fixture(scope="package")
def world(base_overrides: dict[str, Any], _schema: None,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    content_dir = tmp_path_factory.mktemp("security") / "content"
    shutil.copytree(REPO / "content", content_dir)
    app = make_app(base_overrides, content_dir)
    with app.app_context():
        world = World(app, content_dir, clients={}, user_ids={}, emails={})
        try:
            _seed(world)
            db.session.remove()
            yield world
        finally:
            db.session.rollback()
            _truncate_all()
            _clear_articles_index()
            db.session.remove()


def database_fingerprint() -> str:
    """A digest of every row of every table: equal digests mean nothing was written."""
    digest = hashlib.sha256()
    db.session.expire_all()
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table)).all()
        digest.update(table.name.encode())
        for row in sorted(repr(tuple(row)) for row in rows):
            digest.update(row.encode())
    db.session.rollback()
    return digest.hexdigest()


def content_fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# --- sending a request the way a route's rule describes it ---------------------------------

OK_STATUSES = {200, 201, 204, 409, 422}
REDIRECTS = {301, 302, 303, 307, 308}


def url_of(world: World, endpoint: str, rule: Any) -> str:
    from flask import url_for

    with world.app.test_request_context():
        return url_for(endpoint, **rule.url_args(world), **rule.query(world))


def send(world: World, persona: str, endpoint: str, method: str, rule: Any,
         client: PortalClient | None = None, **kwargs: Any):
    """One request as `persona`; the body is read so streamed views run to the end."""
    client = client or world.client(persona)
    data = rule.form(world) if method != "GET" else None
    response = client.open(url_of(world, endpoint, rule), method=method, data=data, **kwargs)
    response.get_data()
    response.close()
    if rule.signs_out and persona != "anonymous" and client is world.client(persona):
        world.sign_in(persona)
    return response


def classify(response: Any) -> str:
    """ok / login / forbidden / missing, or the raw status when it is none of them."""
    status = response.status_code
    if status in REDIRECTS:
        # Flask-Login's "please sign in" carries next=; signing out lands on /login without.
        location = urlsplit(response.headers.get("Location", ""))
        return "login" if location.path == "/login" and "next=" in location.query else "ok"
    if status in OK_STATUSES:
        return "ok"
    return {403: "forbidden", 404: "missing"}.get(status, f"status {status}")
