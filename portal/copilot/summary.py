"""A few lines on what the customer needs and what was already tried: written by the LLM
when one is configured, else taken word for word from what the customer wrote (the
description, the chat transcript, their replies), which an agent can trust as it stands."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from portal.chat.services import (
    CUSTOMER_LABEL,
    asks_something,
    sentences_of,
    summarise_with_llm,
    terms,
)
from portal.kb import services as kb_services

NEEDS_SENTENCES = 2
TRIED_SENTENCES = 3
MAX_SENTENCE_CHARS = 220
SAME_SENTENCE = 0.6
_TRIED = re.compile(
    r"\b(tried|trying|restarted|rebooted|reset|reinstall\w*|re-install\w*|already|followed"
    r"|checked|updated|upgraded|cleared|unplugged|replaced|turned (it |them )?(off|on)"
    r"|switched|changed|ran|did all|did everything|still)\b", re.I)
_CUSTOMER_LINE = re.compile(rf"^{CUSTOMER_LABEL}:\s*(.+)$", re.M)


def customer_sentences(description: str, transcript: str | None,
                       replies: Sequence[str]) -> list[str]:
    """Everything the customer wrote, sentence by sentence, oldest first, without repeats
    (a chat hand-off copies the chat's messages into the description)."""
    texts = _CUSTOMER_LINE.findall(transcript or "") + [description, *replies]
    kept: list[set[str]] = []
    sentences: list[str] = []
    for text in texts:
        for line in text.splitlines():
            for sentence in sentences_of(line):
                words = terms(sentence)
                if len(sentence.split()) < 3 or any(_same(words, other) for other in kept):
                    continue
                kept.append(words)
                sentences.append(_cut(sentence))
    return sentences


def _same(one: set[str], other: set[str]) -> bool:
    """The same sentence retold ("I tried that twice" in the chat, "I tried the reset link
    twice" in the form): most of the content words shared."""
    return bool(one) and len(one & other) >= SAME_SENTENCE * min(len(one), len(other))


def _cut(sentence: str) -> str:
    flat = " ".join(sentence.split())
    return flat if len(flat) <= MAX_SENTENCE_CHARS else flat[:MAX_SENTENCE_CHARS] + "…"


def needs(subject: str, sentences: Sequence[str]) -> list[str]:
    """What the customer asks for: their questions (else their other statements that are not
    reports of what they tried), nearest the subject first, shown in the order written."""
    subject_terms = terms(subject)
    asked = [i for i, s in enumerate(sentences) if asks_something(s)]
    pool = asked or [i for i, s in enumerate(sentences) if not _TRIED.search(s)]

    def weight(index: int) -> float:
        return len(subject_terms & terms(sentences[index])) - 0.1 * index

    best = sorted(pool, key=weight, reverse=True)[:NEEDS_SENTENCES]
    return [sentences[i] for i in sorted(best)]


def tried(sentences: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    found = [s for s in sentences if _TRIED.search(s) and s not in exclude]
    return found[:TRIED_SENTENCES]


def summarise(ticket: Any, thread: Sequence[Any], customer_texts: Sequence[str]) -> str:
    replies = list(customer_texts[1:])
    bot = [ref.title for ref in kb_services.article_refs(list(ticket.bot_article_slugs or []))
           if ref.title]
    written = "\n\n".join(part for part in (
        f"Subject: {ticket.subject}", f"Chat transcript:\n{ticket.transcript}"
        if ticket.transcript else "", f"Description:\n{ticket.description}",
        *(f"Customer reply:\n{text}" for text in replies)) if part)
    lines = (summarise_with_llm(written) or "").splitlines()
    if not lines:
        sentences = customer_sentences(ticket.description, ticket.transcript, replies)
        wanted = needs(ticket.subject, sentences) or [ticket.subject]
        lines.append("Needs: " + " ".join(wanted))
        done = tried(sentences, exclude=wanted)
        if done:
            lines.append("Already tried: " + " ".join(done))
        elif not bot:
            lines.append("Already tried: nothing mentioned.")
    if bot:
        lines.append("The bot already offered: " + "; ".join(bot) + ".")
    staff = [m for m in thread if m.from_staff and str(m.kind) == "reply"]
    if staff:
        lines.append(f"Agents replied {len(staff)} time{'s' if len(staff) != 1 else ''}; "
                     f"the customer wrote {len(replies)} time{'s' if len(replies) != 1 else ''}"
                     " since the ticket was opened.")
    return "\n".join(lines)
