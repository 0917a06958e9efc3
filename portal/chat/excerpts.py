"""Read-only views of stored conversations for other packages (answer review in metrics)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from portal.chat.models import Conversation, Message
from portal.extensions import db
from portal.web import safe_next_url

REVIEWABLE_KINDS = ("answer", "suggest")


@dataclass(frozen=True)
class CitedSection:
    slug: str
    title: str
    heading: str
    url: str


@dataclass(frozen=True)
class AnswerExcerpt:
    """A conversation's last bot answer (or suggestion), what led to it and what followed."""

    conversation_id: int
    question: str
    answer: str
    kind: str
    citations: tuple[CitedSection, ...]
    feedback: str | None
    # The customer's messages after the answer, in order: what happened next in their words.
    afterwards: tuple[str, ...]
    ticket_id: int | None


def _cited(raw: dict[str, object]) -> CitedSection:
    def text(key: str) -> str:
        value = raw.get(key)
        return value if isinstance(value, str) else ""

    # Citations link inside the portal; anything else stored there is not followed.
    url = safe_next_url(text("url"), "")
    return CitedSection(text("slug"), text("title"), text("heading"), url)


def _excerpt(conversation: Conversation, messages: list[Message]) -> AnswerExcerpt | None:
    last = max((i for i, m in enumerate(messages)
                if m.role == "bot" and m.kind in REVIEWABLE_KINDS), default=None)
    if last is None:
        return None
    answer = messages[last]
    question = next((m.text for m in reversed(messages[:last]) if m.role == "user"), "")
    later = tuple(m.text for m in messages[last + 1:] if m.role == "user" and m.text)
    return AnswerExcerpt(conversation.id, question, answer.text, answer.kind,
                         tuple(_cited(c) for c in answer.citations or [] if isinstance(c, dict)),
                         answer.feedback, later, conversation.ticket_id)


def answer_excerpts(conversation_ids: Iterable[int]) -> dict[int, AnswerExcerpt]:
    """The last answer of each conversation that has one, keyed by conversation id."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    conversations = {c.id: c for c in db.session.scalars(
        select(Conversation).where(Conversation.id.in_(ids)))}
    by_conversation: dict[int, list[Message]] = {cid: [] for cid in conversations}
    for message in db.session.scalars(select(Message).where(Message.conversation_id.in_(ids))
                                      .order_by(Message.conversation_id, Message.id)):
        by_conversation[message.conversation_id].append(message)
    found = {}
    for cid, conversation in conversations.items():
        excerpt = _excerpt(conversation, by_conversation[cid])
        if excerpt is not None:
            found[cid] = excerpt
    return found
