"""The chatbot as other packages and this package's views see it.

Services own the transactions: the customer's message is committed before any
retrieval or LLM call, and the bot's reply is committed once it is complete.

The agent copilot reuses the bot's retrieval and composition (`retrieve`, `compose`), word
matching (`terms`), sentence splitting and nearest-examples classifier, re-exported here,
and measures itself in `portal eval` through `EVAL_SCORERS`.
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

from portal import site
from portal.chat import calibration, flow, understanding
from portal.chat.answerer import Citation, compose, stream_words
from portal.chat.answerer import terms as terms
from portal.chat.evaluation import EVAL_SCORERS as EVAL_SCORERS
from portal.chat.excerpts import AnswerExcerpt as AnswerExcerpt
from portal.chat.excerpts import answer_excerpts as answer_excerpts
from portal.chat.handoff import handoff_form as handoff_form
from portal.chat.handoff import prefill_ticket
from portal.chat.handoff import save_draft as save_draft
from portal.chat.handoff import submit_handoff as submit_handoff
from portal.chat.handoff import ticket_categories as ticket_categories
from portal.chat.handoff import tried_articles as tried_articles
from portal.chat.models import Conversation, Message
from portal.chat.retrieval import Retrieval, retrieve
from portal.chat.retrieval import Source as Source
from portal.chat.retrieval import section_passages as section_passages
from portal.chat.transcripts import CUSTOMER_LABEL as CUSTOMER_LABEL
from portal.chat.transcripts import transcript_of as transcript_of
from portal.chat.understanding import ExemplarClassifier as ExemplarClassifier
from portal.chat.understanding import PriorTurn, Turn, TurnKind
from portal.chat.understanding import asks_something as asks_something
from portal.chat.understanding import sentences_of as sentences_of
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db
from portal.kb import services as kb_services

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000


def handoff_text(reason: flow.Reason) -> str:
    """The bot's words for handing off, from the content folder's `_words.yml`."""
    return site.current().text(f"bot.handoff.{reason}")

class ChatError(ValueError):
    """A message the bot refuses, with the reason to show."""


# --- the pipeline (shared by the web chat, the ticket form and `portal eval`) --------------

SUGGESTED_ARTICLES = 3


@dataclass
class Reply:
    outcome: flow.Outcome = flow.Outcome.HANDOFF
    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0
    mode: str = "local"
    reason: flow.Reason | None = None
    topic: str | None = None
    retrieval: Retrieval | None = None
    turn: Turn | None = None

    @property
    def answered(self) -> bool:
        """Only a confident answer is an answer (suggestions are counted apart)."""
        return self.outcome == flow.Outcome.ANSWER

    @property
    def category(self) -> str | None:
        if self.retrieval and self.retrieval.sources:
            return self.retrieval.sources[0].category
        return None


def thresholds() -> flow.Thresholds:
    return calibration.current().thresholds


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


def _llm_usable() -> bool:
    return llm_enabled() and not _llm_paused()


def summarise_with_llm(text: str) -> str | None:
    """A short summary of a ticket from the LLM, or None when none is configured, it is
    resting after failures, or it failed now (the agent copilot then quotes the customer)."""
    if not _llm_usable():
        return None
    from portal.chat import llm

    return llm.summarise_ticket(text)


def off_topic_text(audiences: tuple[str, ...]) -> str:
    names = [c.name for c in sorted(kb_services.categories(audiences), key=lambda c: -c.count)]
    subjects = ", ".join(names[:4]).lower() if names else site.current().product
    return site.current().text("bot.off_topic", subjects=subjects)


class Responder:
    """Understand, retrieve, decide and compose one reply; iterate to stream it, then read
    `.reply`. `history` is the conversation's earlier customer turns."""

    def __init__(
        self, message: str, *, audiences: tuple[str, ...],
        history: list[PriorTurn] | None = None, exclude: frozenset[str] = frozenset(),
    ) -> None:
        self.message = message
        self.audiences = audiences
        self.history = history or []
        self.exclude = exclude
        self.reply = Reply()

    def _retrieve(self, text: str, vector: list[float] | None) -> Retrieval:
        return retrieve(text, audiences=self.audiences, vector=vector, exclude=self.exclude)

    def _condense(self, topic: list[str], message: str) -> str | None:
        if not _llm_usable():
            return None
        from portal.chat import llm

        return llm.condense_question(topic, message)

    def __iter__(self) -> Iterator[str]:
        turn = understanding.understand(
            self.message, self.history, retrieve=self._retrieve, topics=sensitive_topics(),
            answer_threshold=thresholds().answer, condense=self._condense,
        )
        self.reply = Reply(turn=turn)
        if turn.kind == TurnKind.OFF_TOPIC:
            yield from self._small_talk(off_topic_text(self.audiences))
            return
        if turn.is_small_talk:
            yield from self._small_talk(site.current().text(f"bot.small_talk.{turn.kind}"))
            return
        if not turn.is_question:
            self.reply.retrieval = turn.retrieval
            reason = {TurnKind.PERSON: flow.Reason.ASKED_FOR_PERSON,
                      TurnKind.SENSITIVE: flow.Reason.SENSITIVE_TOPIC,
                      TurnKind.NOT_HELPFUL: flow.Reason.NOT_HELPFUL}[turn.kind]
            yield from self._handoff(reason, topic=turn.sensitive_topic)
            return
        retrieval = turn.retrieval
        self.reply.retrieval, self.reply.confidence = retrieval, retrieval.confidence
        decision = flow.decide(confidence=retrieval.confidence, thresholds=thresholds(),
                               has_passages=bool(retrieval.sources),
                               own_support=turn.own_support)
        if decision.outcome == flow.Outcome.SUGGEST:
            yield from self._suggest(retrieval)
            return
        if decision.outcome == flow.Outcome.HANDOFF:
            yield from self._handoff(decision.reason or flow.Reason.LOW_CONFIDENCE)
            return
        if _llm_usable():
            yield from self._llm(retrieval)
            return
        composed = compose(retrieval.query, retrieval.sources)
        if not composed.citations:
            yield from self._handoff(flow.Reason.LOW_CONFIDENCE)
            return
        self.reply.outcome, self.reply.text = flow.Outcome.ANSWER, composed.text
        self.reply.citations = composed.citations
        yield from stream_words(composed.text)

    def _small_talk(self, text: str) -> Iterator[str]:
        self.reply.outcome, self.reply.text = flow.Outcome.CHITCHAT, text
        yield text

    def _handoff(self, reason: flow.Reason, topic: str | None = None) -> Iterator[str]:
        self.reply.outcome, self.reply.reason, self.reply.topic = (
            flow.Outcome.HANDOFF, reason, topic)
        self.reply.text = handoff_text(reason)
        yield self.reply.text

    def _suggest(self, retrieval: Retrieval) -> Iterator[str]:
        """The closest articles, each cited at its best section; no composed answer."""
        self.reply.outcome, self.reply.reason = flow.Outcome.SUGGEST, flow.Reason.UNSURE
        self.reply.text = site.current().text("bot.suggest")
        self.reply.citations = [
            Citation(n, s.slug, s.title, s.passages[0].heading, s.passages[0].url)
            for n, s in enumerate(retrieval.sources[:SUGGESTED_ARTICLES], start=1)
        ]
        yield self.reply.text

    def _llm(self, retrieval: Retrieval) -> Iterator[str]:
        from portal.chat import llm

        prompt = llm.build_prompt(retrieval.query if self.reply.turn and
                                  self.reply.turn.kind == TurnKind.FOLLOW_UP else self.message,
                                  retrieval.sources)
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
            self.reply.outcome, self.reply.reason = flow.Outcome.HANDOFF, flow.Reason.LLM_FAILURE
            self.reply.text = handoff_text(flow.Reason.LLM_FAILURE)
            # A marker the page uses to drop the partial text it showed.
            yield "\n\x00"
            yield self.reply.text
            return
        self.reply.outcome, self.reply.text, self.reply.citations = (
            flow.Outcome.ANSWER, text, cited)


def answer_question(
    message: str, *, audiences: tuple[str, ...], history: list[PriorTurn] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> Reply:
    """The whole pipeline without streaming (the eval command and the ticket form use it)."""
    responder = Responder(message, audiences=audiences, history=history, exclude=exclude)
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


def prior_turns(
    conversation: Conversation, before_id: int, audiences: tuple[str, ...] = ("public",)
) -> tuple[Message, list[PriorTurn]]:
    """The customer message a pending reply answers, and the turns before it: each earlier
    customer message with how it was understood and what the bot replied."""
    turns: list[PriorTurn] = []
    users: list[Message] = []
    replies: list[Message | None] = []
    for m in conversation.messages:
        if m.id >= before_id:
            break
        if m.role == "user":
            users.append(m)
            replies.append(None)
        elif replies and replies[-1] is None and m.kind != "pending":
            replies[-1] = m
    for index, (question, reply) in enumerate(zip(users[:-1], replies[:-1], strict=True)):
        shown = ""
        if (reply is not None and index == len(users) - 2
                and reply.kind in understanding.ANSWER_KINDS):
            # Only the last answer is read back ("I did all that, still broken"), and with it
            # the articles it cited, which is where the customer read the steps.
            cited = list(dict.fromkeys(c["slug"] for c in reply.citations or []))
            shown = "\n".join([reply.text, *kb_services.section_texts(cited, audiences)])
        cited_slugs = tuple(dict.fromkeys(
            c["slug"] for c in ((reply.citations or []) if reply is not None else [])))
        turns.append(PriorTurn(question.text, question.kind, reply.kind if reply else None,
                               shown, cited_slugs))
    return users[-1], turns


def stream_reply(
    conversation: Conversation, message: Message, *, audiences: tuple[str, ...]
) -> Iterator[str]:
    """Stream the pending reply, then store it. A finished reply is replayed as stored."""
    if message.kind != "pending":
        yield message.text
        return
    question, history = prior_turns(conversation, message.id, audiences)
    responder = Responder(question.text, audiences=audiences, history=history)
    started = time.perf_counter()
    try:
        yield from responder
    except Exception:
        log.exception("chat reply failed")
        db.session.rollback()
        responder.reply = Reply(reason=flow.Reason.LLM_FAILURE,
                                text=handoff_text(flow.Reason.LLM_FAILURE))
        yield "\n\x00" + responder.reply.text
    finally:
        _store_reply(conversation, question, message, responder.reply)
        log.debug("reply in %.0f ms", (time.perf_counter() - started) * 1000)


def _store_reply(conversation: Conversation, question: Message, message: Message,
                 reply: Reply) -> None:
    turn = reply.turn
    if turn is not None:
        question.kind = str(turn.kind)
    message.text = reply.text
    message.confidence = round(reply.confidence, 4)
    message.mode = reply.mode
    message.citations = [{**c.as_dict(), "category": _category_of(reply, c.slug)}
                         for c in reply.citations]
    message.kind = str(reply.outcome)
    user_id, visitor_id = conversation.user_id, conversation.visitor_id
    topic = turn.topic if turn is not None else [question.text]
    if reply.outcome == flow.Outcome.ANSWER:
        conversation.state = flow.transition(conversation.state, flow.Event.ANSWER)
        emit(EventKind.ANSWER_GIVEN, conversation_id=conversation.id, visitor_id=visitor_id,
             user_id=user_id, category=reply.category,
             article_slugs=list(dict.fromkeys(c.slug for c in reply.citations)),
             confidence=round(reply.confidence, 4), mode=reply.mode)
    elif reply.outcome == flow.Outcome.CHITCHAT:
        if turn is not None and turn.kind == TurnKind.WORKED:
            _confirm_last_answer(conversation)
    else:
        reason = reply.reason or flow.Reason.LOW_CONFIDENCE
        if reason == flow.Reason.NOT_HELPFUL:
            _mark_last_answer_unhelpful(conversation)
        _enter_handoff(conversation, reason, reply.topic, category=reply.category,
                       questions=topic)
    db.session.commit()


def _last_answer(conversation: Conversation) -> Message | None:
    for m in reversed(conversation.messages):
        if m.role == "bot" and m.kind == "answer":
            return m
    return None


def _confirm_last_answer(conversation: Conversation) -> None:
    """"Thanks, that worked" typed after an answer says what the Yes button says."""
    answer = _last_answer(conversation)
    if answer is not None and not answer.feedback:
        _answer_feedback(conversation, answer, helpful=True)


def _mark_last_answer_unhelpful(conversation: Conversation) -> None:
    """Typed "that didn't work" says what the No button says (the hand-off follows)."""
    answer = _last_answer(conversation)
    if answer is not None and not answer.feedback:
        _answer_feedback(conversation, answer, helpful=False)


def _answer_feedback(conversation: Conversation, answer: Message, *, helpful: bool) -> None:
    """The customer's verdict on an answer, by button or in words; Yes confirms it."""
    answer.feedback = "yes" if helpful else "no"
    emit(EventKind.CHAT_FEEDBACK, conversation_id=conversation.id, helpful=helpful,
         visitor_id=conversation.visitor_id, user_id=conversation.user_id)
    if helpful:
        if flow.can(conversation.state, flow.Event.HELPFUL):
            conversation.state = flow.transition(conversation.state, flow.Event.HELPFUL)
        emit(EventKind.RESOLUTION_CONFIRMED, conversation_id=conversation.id,
             visitor_id=conversation.visitor_id, user_id=conversation.user_id)


def _category_of(reply: Reply, slug: str) -> str:
    if reply.retrieval:
        for source in reply.retrieval.sources:
            if source.slug == slug:
                return source.category
    return ""


def _enter_handoff(
    conversation: Conversation, reason: flow.Reason, topic: str | None = None, *,
    category: str | None = None, questions: list[str] | None = None,
) -> None:
    conversation.state = flow.transition(conversation.state, flow.Event.HANDOFF)
    conversation.handoff_reason = str(reason)
    data: dict[str, Any] = {"reason": str(reason)}
    if topic:
        data["topic"] = topic
    emit(EventKind.HANDOFF, conversation_id=conversation.id, visitor_id=conversation.visitor_id,
         user_id=conversation.user_id, category=category, **data)
    if conversation.draft is None or questions is not None or reason == flow.Reason.NOT_HELPFUL:
        # Each hand-off from the chat is about what is being asked now; what the customer
        # typed into the form for themselves (who they are) carries over.
        earlier = conversation.draft or {}
        draft = prefill_ticket(conversation, category=category, topic=topic,
                               questions=questions)
        draft.update({k: earlier[k] for k in ("email", "name") if earlier.get(k)})
        conversation.draft = draft


def record_feedback(conversation: Conversation, message_id: int, helpful: bool) -> None:
    message = db.session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id or message.kind != "answer":
        raise ChatError("That answer is no longer available.")
    _answer_feedback(conversation, message, helpful=helpful)
    category = message.citations[0].get("category") if message.citations else None
    if not helpful:
        if flow.can(conversation.state, flow.Event.NOT_HELPFUL):
            conversation.state = flow.transition(conversation.state, flow.Event.NOT_HELPFUL)
            conversation.state = flow.State.ANSWERED  # _enter_handoff moves it on
        _enter_handoff(conversation, flow.Reason.NOT_HELPFUL, category=category or None)
        db.session.add(Message(conversation_id=conversation.id, role="bot", kind="handoff",
                               text=handoff_text(flow.Reason.NOT_HELPFUL)))
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
