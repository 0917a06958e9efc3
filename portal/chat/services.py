"""The chatbot as other packages and this package's views see it.

Services own the transactions: the customer's message is committed before any
retrieval or LLM call, and the bot's reply is committed once it is complete.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.chat import flow, ranking
from portal.chat.answerer import Citation, compose, stream_words
from portal.chat.models import Conversation, Message
from portal.chat.retrieval import Retrieval, is_follow_up, retrieve
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db
from portal.kb import services as kb_services

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
# Confidence is the decision model's probability that the KB answers the question;
# the threshold was calibrated with it (portal/chat/ranking.py, docs/chat.md).
DEFAULT_CONFIDENCE_THRESHOLD = ranking.DEFAULT_THRESHOLD
URGENT_WORDS = ("urgent", "asap", "immediately", "emergency", "right now", "no heat",
                "no heating", "freezing", "outage", "locked out", "critical")
HANDOFF_TEXT = {
    flow.Reason.LOW_CONFIDENCE: "I couldn't find an answer I'm sure about in our help center. "
    "A member of our support team can help: I've prepared a ticket for you to check.",
    flow.Reason.ASKED_FOR_PERSON: "Of course. I've prepared a ticket with our conversation so a "
    "member of our support team can take it from here.",
    flow.Reason.NOT_HELPFUL: "Sorry that didn't help. You can rephrase your question, or send "
    "it to our support team with the ticket I've prepared.",
    flow.Reason.SENSITIVE_TOPIC: "This is something a member of our support team handles "
    "personally. I've prepared a ticket with your question.",
    flow.Reason.LLM_FAILURE: "I couldn't put an answer together just now. I've prepared a "
    "ticket so a member of our support team can answer you.",
    flow.Reason.USER_ACTION: "I've prepared a ticket with our conversation for our support team.",
}


class ChatError(ValueError):
    """A message the bot refuses, with the reason to show."""


# --- the pipeline (shared by the web chat, the ticket form and `portal eval`) --------------


@dataclass
class Reply:
    answered: bool
    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0
    mode: str = "local"
    reason: flow.Reason | None = None
    topic: str | None = None
    retrieval: Retrieval | None = None

    @property
    def category(self) -> str | None:
        if self.retrieval and self.retrieval.sources:
            return self.retrieval.sources[0].category
        return None


def confidence_threshold() -> float:
    return float(current_app.config.get("CHAT_CONFIDENCE_THRESHOLD", DEFAULT_CONFIDENCE_THRESHOLD))


def sensitive_topics() -> dict[str, tuple[str, ...]]:
    configured = current_app.config.get("CHAT_SENSITIVE_TOPICS")
    if configured:
        return {k: tuple(v) for k, v in dict(configured).items()}
    return flow.DEFAULT_SENSITIVE_TOPICS


def llm_enabled() -> bool:
    return bool(current_app.config.get("OPENAI_API_KEY"))


def _llm_paused() -> bool:
    from portal.chat import llm

    return llm.paused()


class Responder:
    """Retrieve, decide, and compose one reply; iterate to stream it, then read `.reply`."""

    def __init__(self, message: str, *, audiences: tuple[str, ...], history: list[str]) -> None:
        self.message = message
        self.audiences = audiences
        self.history = history
        self.reply = Reply(answered=False)

    def __iter__(self) -> Iterator[str]:
        retrieval = retrieve(self.message, audiences=self.audiences, history=self.history)
        decision = flow.decide(
            self.message,
            confidence=retrieval.confidence,
            threshold=confidence_threshold(),
            has_passages=bool(retrieval.sources),
            topics=sensitive_topics(),
        )
        self.reply = Reply(False, confidence=retrieval.confidence, retrieval=retrieval)
        if not decision.answer:
            self.reply.reason, self.reply.topic = decision.reason, decision.topic
            self.reply.text = HANDOFF_TEXT[decision.reason or flow.Reason.LOW_CONFIDENCE]
            yield self.reply.text
            return
        if llm_enabled() and not _llm_paused():
            yield from self._llm(retrieval)
            return
        composed = compose(retrieval.query, retrieval.sources)
        if not composed.citations:
            self.reply.reason = flow.Reason.LOW_CONFIDENCE
            self.reply.text = HANDOFF_TEXT[flow.Reason.LOW_CONFIDENCE]
            yield self.reply.text
            return
        self.reply.answered, self.reply.text = True, composed.text
        self.reply.citations = composed.citations
        yield from stream_words(composed.text)

    def _llm(self, retrieval: Retrieval) -> Iterator[str]:
        from portal.chat import llm

        prompt = llm.build_prompt(self.message, retrieval.sources)
        self.reply.mode = "openai"
        pieces: list[str] = []
        try:
            for piece in llm.stream_answer(prompt):
                pieces.append(piece)
                yield piece
            text, cited = llm.check_answer("".join(pieces), prompt)
        except llm.LLMFailure as exc:
            log.warning("LLM failed, handing off: %s", exc)
            if exc.unavailable:
                llm.pause()
            self.reply.reason = flow.Reason.LLM_FAILURE
            self.reply.text = HANDOFF_TEXT[flow.Reason.LLM_FAILURE]
            # A marker the page uses to drop the partial text it showed.
            yield "\n\x00"
            yield self.reply.text
            return
        self.reply.answered, self.reply.text, self.reply.citations = True, text, cited


def answer_question(
    message: str, *, audiences: tuple[str, ...], history: list[str] | None = None
) -> Reply:
    """The whole pipeline without streaming (the eval command and the ticket form use it)."""
    responder = Responder(message, audiences=audiences, history=history or [])
    for _ in responder:
        pass
    return responder.reply


# --- input guardrails --------------------------------------------------------------------


def clean_message(raw: str | bytes | None) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    text = (raw or "").replace("\r\n", "\n")
    # Control characters (binary junk) are dropped; emoji and any script are kept.
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if not text:
        raise ChatError("Please type a question.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ChatError(
            f"That message is too long ({len(text):,} characters). Please keep it under "
            f"{MAX_MESSAGE_CHARS:,} characters, or open a ticket for longer details."
        )
    if not re.search(r"\w", text):
        raise ChatError("I couldn't read a question in that message. Could you type it in words?")
    return text


# --- conversations -------------------------------------------------------------------------


def get_conversation(
    conversation_id: int, *, visitor_id: str, user_id: int | None
) -> Conversation | None:
    """The conversation if it belongs to this visitor (or signed-in user), else None."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    if conversation.user_id is not None:
        return conversation if conversation.user_id == user_id else None
    return conversation if conversation.visitor_id == visitor_id else None


def current_conversation(*, visitor_id: str, user_id: int | None) -> Conversation | None:
    query = select(Conversation).order_by(Conversation.id.desc()).limit(1)
    if user_id is not None:
        query = query.where(Conversation.user_id == user_id)
    else:
        query = query.where(Conversation.visitor_id == visitor_id, Conversation.user_id.is_(None))
    return db.session.scalar(query)


def start_conversation(*, visitor_id: str, user_id: int | None) -> Conversation:
    conversation = Conversation(visitor_id=visitor_id, user_id=user_id, state=flow.State.OPEN)
    db.session.add(conversation)
    db.session.flush()
    emit(EventKind.CHAT_STARTED, conversation_id=conversation.id, visitor_id=visitor_id,
         user_id=user_id)
    db.session.commit()
    return conversation


def post_message(conversation: Conversation, raw: str | bytes | None) -> Message:
    """Store the customer's message and a pending reply; returns the pending reply."""
    text = clean_message(raw)
    db.session.add(
        Message(conversation_id=conversation.id, role="user", text=text, kind="question")
    )
    pending = Message(conversation_id=conversation.id, role="bot", text="", kind="pending")
    db.session.add(pending)
    conversation.updated_at = utcnow()
    db.session.commit()
    return pending


def _history(conversation: Conversation, before_id: int) -> tuple[str, list[str]]:
    users = [m.text for m in conversation.messages if m.role == "user" and m.id < before_id]
    return users[-1], users[:-1]


def stream_reply(
    conversation: Conversation, message: Message, *, audiences: tuple[str, ...]
) -> Iterator[str]:
    """Stream the pending reply, then store it. A finished reply is replayed as stored."""
    if message.kind != "pending":
        yield message.text
        return
    question, history = _history(conversation, message.id)
    responder = Responder(question, audiences=audiences, history=history)
    started = time.perf_counter()
    try:
        yield from responder
    except Exception:
        log.exception("chat reply failed")
        db.session.rollback()
        responder.reply = Reply(False, reason=flow.Reason.LLM_FAILURE,
                                text=HANDOFF_TEXT[flow.Reason.LLM_FAILURE])
        yield "\n\x00" + responder.reply.text
    finally:
        _store_reply(conversation, message, responder.reply)
        log.debug("reply in %.0f ms", (time.perf_counter() - started) * 1000)


def _store_reply(conversation: Conversation, message: Message, reply: Reply) -> None:
    message.text = reply.text
    message.confidence = round(reply.confidence, 4)
    message.mode = reply.mode
    message.citations = [{**c.as_dict(), "category": _category_of(reply, c.slug)}
                         for c in reply.citations]
    user_id, visitor_id = conversation.user_id, conversation.visitor_id
    if reply.answered:
        message.kind = "answer"
        conversation.state = flow.transition(conversation.state, flow.Event.ANSWER)
        emit(EventKind.ANSWER_GIVEN, conversation_id=conversation.id, visitor_id=visitor_id,
             user_id=user_id, category=reply.category,
             article_slugs=list(dict.fromkeys(c.slug for c in reply.citations)),
             confidence=round(reply.confidence, 4), mode=reply.mode)
    else:
        message.kind = "handoff"
        reason = reply.reason or flow.Reason.LOW_CONFIDENCE
        _enter_handoff(conversation, reason, reply.topic, category=reply.category,
                       tried=reply.retrieval.slugs[:3] if reply.retrieval else [])
    db.session.commit()


def _category_of(reply: Reply, slug: str) -> str:
    if reply.retrieval:
        for source in reply.retrieval.sources:
            if source.slug == slug:
                return source.category
    return ""


def _enter_handoff(
    conversation: Conversation, reason: flow.Reason, topic: str | None = None, *,
    category: str | None = None, tried: list[str] | None = None,
) -> None:
    conversation.state = flow.transition(conversation.state, flow.Event.HANDOFF)
    conversation.handoff_reason = str(reason)
    data: dict[str, Any] = {"reason": str(reason)}
    if topic:
        data["topic"] = topic
    emit(EventKind.HANDOFF, conversation_id=conversation.id, visitor_id=conversation.visitor_id,
         user_id=conversation.user_id, category=category, **data)
    if conversation.draft is None or reason == flow.Reason.NOT_HELPFUL:
        conversation.draft = prefill_ticket(conversation, category=category, topic=topic)


def record_feedback(conversation: Conversation, message_id: int, helpful: bool) -> None:
    message = db.session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id or message.kind != "answer":
        raise ChatError("That answer is no longer available.")
    message.feedback = "yes" if helpful else "no"
    emit(EventKind.CHAT_FEEDBACK, conversation_id=conversation.id, helpful=helpful,
         visitor_id=conversation.visitor_id, user_id=conversation.user_id)
    category = message.citations[0].get("category") if message.citations else None
    if helpful:
        if flow.can(conversation.state, flow.Event.HELPFUL):
            conversation.state = flow.transition(conversation.state, flow.Event.HELPFUL)
        emit(EventKind.RESOLUTION_CONFIRMED, conversation_id=conversation.id,
             visitor_id=conversation.visitor_id, user_id=conversation.user_id)
    else:
        if flow.can(conversation.state, flow.Event.NOT_HELPFUL):
            conversation.state = flow.transition(conversation.state, flow.Event.NOT_HELPFUL)
            conversation.state = flow.State.ANSWERED  # _enter_handoff moves it on
        _enter_handoff(conversation, flow.Reason.NOT_HELPFUL, category=category or None)
        db.session.add(Message(conversation_id=conversation.id, role="bot", kind="handoff",
                               text=HANDOFF_TEXT[flow.Reason.NOT_HELPFUL]))
    db.session.commit()


def request_handoff(conversation: Conversation) -> None:
    """The customer pressed "Talk to a person"."""
    if conversation.state != flow.State.HANDOFF:
        _enter_handoff(conversation, flow.Reason.USER_ACTION)
    elif conversation.draft is None:
        conversation.draft = prefill_ticket(conversation)
    db.session.commit()


def retry(conversation: Conversation) -> None:
    if flow.can(conversation.state, flow.Event.RETRY):
        conversation.state = flow.transition(conversation.state, flow.Event.RETRY)
        db.session.commit()


# --- hand-off to a ticket -------------------------------------------------------------------


def transcript_of(conversation: Conversation) -> str:
    lines = []
    for m in conversation.messages:
        if m.kind == "pending":
            continue
        who = "Customer" if m.role == "user" else "Bot"
        lines.append(f"{who}: {m.text}")
        for c in m.citations or []:
            lines.append(f"    [{c['n']}] {c['title']} — {c['heading']} ({c['url']})")
    return "\n".join(lines)


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


def current_questions(questions: list[str]) -> list[str]:
    """What the customer is asking about now: the latest question that stands on its own and
    its follow-ups. An earlier topic of the same conversation (already answered, resolved or
    sent to support) is in the attached transcript, not in the new ticket's subject."""
    start = len(questions) - 1
    while start > 0 and is_follow_up(questions[start], questions[:start]):
        start -= 1
    return questions[max(start, 0):]


def prefill_ticket(
    conversation: Conversation, *, category: str | None = None, topic: str | None = None
) -> dict[str, Any]:
    questions = current_questions([m.text for m in conversation.messages if m.role == "user"])
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
        "subject": subject or "Help needed",
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


def submit_handoff(conversation: Conversation, fields: dict[str, str], *, user: Any) -> Any:
    """Create the ticket through tickets.services; raises its TicketError on bad fields."""
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


# --- health ---------------------------------------------------------------------------------


def llm_health() -> dict[str, Any]:
    if current_app.config.get("OPENAI_API_KEY"):
        return {
            "mode": "openai",
            "model": current_app.config.get("CHAT_MODEL"),
            "base_url": current_app.config.get("OPENAI_BASE_URL") or "default",
            # This worker answers locally until a failing server has rested.
            "paused": _llm_paused(),
        }
    return {"mode": "local", "ok": True}
