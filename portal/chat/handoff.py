"""Turning a conversation the bot could not resolve into a ticket: the hand-off form,
prefilled from the topic being helped with, kept as a draft while the customer edits it, and
submitted through tickets.services with the transcript and the articles already tried."""

from __future__ import annotations

import re
from typing import Any

from portal.chat import flow, understanding
from portal.chat.models import Conversation, Message
from portal.chat.transcripts import transcript_of
from portal.chat.understanding import PriorTurn
from portal.extensions import db
from portal.kb import services as kb_services

# A customer saying it cannot wait raises the suggested priority (an agent can change it).
URGENT_WORDS = ("urgent", "asap", "immediately", "emergency", "right now", "no heat",
                "no heating", "freezing", "outage", "locked out", "critical")


def tried_articles(conversation: Conversation) -> list[str]:
    slugs: list[str] = []
    for m in conversation.messages:
        for c in m.citations or []:
            if c["slug"] not in slugs:
                slugs.append(c["slug"])
    return slugs


def suggest_priority(text: str, topic: str | None = None) -> str:
    lowered = text.lower()
    if topic == "security_report":
        return "urgent"
    if any(word in lowered for word in URGENT_WORDS):
        return "high"
    if topic in ("refund", "account_deletion", "legal"):
        return "normal"
    return "normal"


def current_questions(conversation: Conversation) -> list[str]:
    """What the customer is asking about now: the latest question that stands on its own and
    its follow-ups, as the turn step understood them. An earlier topic of the same
    conversation (answered, resolved or sent to support) is in the attached transcript, not in
    the new ticket's subject; "that didn't work" and "get me a person" are not questions."""
    history = [PriorTurn(m.text, m.kind) for m in conversation.messages if m.role == "user"]
    questions = understanding.topic_questions(history)
    if questions:
        return questions
    # Nothing was asked yet (a hand-off straight away): the customer's own words.
    return [t.text for t in history if t.kind not in understanding.SMALL_TALK][-1:]


def prefill_ticket(
    conversation: Conversation, *, category: str | None = None, topic: str | None = None,
    questions: list[str] | None = None,
) -> dict[str, Any]:
    questions = questions if questions is not None else current_questions(conversation)
    first = questions[0] if questions else ""
    subject = re.sub(r"\s+", " ", first).strip()
    if len(subject) > 80:
        subject = subject[:77].rsplit(" ", 1)[0] + "…"
    if category is None:
        for m in reversed(conversation.messages):
            if m.citations:
                category = m.citations[0].get("category") or None
                break
    return {
        "subject": subject,  # nothing asked yet: the customer writes it
        "description": "\n\n".join(questions),
        "category": category or "",
        "priority": suggest_priority(" ".join(questions), topic),
        "email": "",
        "name": "",
    }


def handoff_form(conversation: Conversation) -> dict[str, Any]:
    return dict(conversation.draft or prefill_ticket(conversation))


def save_draft(conversation: Conversation, fields: dict[str, str]) -> None:
    draft = handoff_form(conversation)
    for key in ("subject", "description", "category", "priority", "email", "name"):
        if key in fields:
            draft[key] = str(fields[key])[:20_000]
    conversation.draft = draft
    db.session.commit()


def submit_handoff(conversation: Conversation, fields: dict[str, str], *, user: Any,
                   client_ip: str | None = None) -> Any:
    """Create the ticket through tickets.services; raises its TicketError on bad fields
    (TooManyTickets when an anonymous visitor at `client_ip` opened too many)."""
    from portal.tickets import services as ticket_services

    save_draft(conversation, fields)  # nothing typed is lost if validation fails
    draft = handoff_form(conversation)
    signed_in = user is not None and getattr(user, "is_authenticated", False)
    ref = ticket_services.create_ticket(
        subject=draft["subject"],
        description=draft["description"],
        requester_id=user.id if signed_in else None,
        requester_email=None if signed_in else (draft.get("email") or None),
        requester_name=(draft.get("name") or None) if not signed_in else None,
        category=draft.get("category") or None,
        priority=draft.get("priority") or "normal",
        source="chat",
        conversation_id=conversation.id,
        article_slugs=tried_articles(conversation),
        transcript=transcript_of(conversation),
        visitor_id=conversation.visitor_id,
        client_ip=None if signed_in else client_ip,
    )
    conversation = db.session.get(Conversation, conversation.id) or conversation
    if flow.can(conversation.state, flow.Event.TICKET_CREATED):
        conversation.state = flow.transition(conversation.state, flow.Event.TICKET_CREATED)
    else:
        conversation.state = flow.State.ESCALATED
    conversation.ticket_id = ref.id
    conversation.ticket_url = ref.url
    conversation.draft = None
    db.session.add(Message(conversation_id=conversation.id, role="bot", kind="info",
                           text=f"Ticket #{ref.number} was created. Our team will reply by email."))
    db.session.commit()
    return ref


def ticket_categories() -> list[tuple[str, str]]:
    return [(c.slug, c.name) for c in kb_services.categories(("public", "customers"))]
