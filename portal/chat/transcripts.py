"""A ticket's chat as the agent reads it: who said what, when, and which articles the bot cited.

Ticket pages call `chat_transcript(conversation_id, stored_text)` from their template (a
Jinja global this package registers), so `tickets` never imports `chat`. The conversation's
rows give times and citations; when they are gone, the text stored on the ticket is read
line by line instead. That text is written by `transcript_of` below, so its format is
known here only:

    Customer: what the customer wrote
    Bot: the answer
        [1] Article title — Section heading (/kb/slug#anchor)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from portal.chat.models import Conversation
from portal.extensions import db
from portal.web import safe_next_url

# Enough to see how the chat ended; the rest is one click away.
LAST_TURNS = 4
CUSTOMER_LABEL, BOT_LABEL = "Customer", "Bot"
CITATION_INDENT = "    "
# Stored text may also name the speakers You and Assistant; read as the customer and the bot.
_SPEAKERS = {CUSTOMER_LABEL: "customer", "You": "customer", BOT_LABEL: "bot", "Assistant": "bot"}
_SPEAKER = re.compile(r"^(" + "|".join(_SPEAKERS) + r")\s*:\s?(.*)$", re.IGNORECASE)
_CITED_LINE = re.compile(r"^\s+\[(\d{1,2})\]\s+(.*?)(?:\s+\((/[^)\s]*)\))?\s*$")


@dataclass(frozen=True)
class Source:
    number: int
    title: str
    url: str | None


@dataclass
class Turn:
    speaker: str  # "customer" or "bot"
    text: str
    at: datetime | None = None
    sources: list[Source] = field(default_factory=list)

    @property
    def who(self) -> str:
        return CUSTOMER_LABEL if self.speaker == "customer" else BOT_LABEL


@dataclass(frozen=True)
class Transcript:
    turns: list[Turn]

    @property
    def earlier(self) -> list[Turn]:
        return self.turns[:-LAST_TURNS] if len(self.turns) > LAST_TURNS else []

    @property
    def latest(self) -> list[Turn]:
        return self.turns[-LAST_TURNS:]


def for_ticket(conversation_id: int | None, stored_text: str | None) -> Transcript | None:
    """The chat a ticket came from, or None when it came from no chat."""
    conversation = db.session.get(Conversation, conversation_id) if conversation_id else None
    turns = _from_rows(conversation) if conversation is not None else []
    if not turns and stored_text:
        turns = _from_text(stored_text)
    return Transcript(turns) if turns else None


def _from_rows(conversation: Conversation) -> list[Turn]:
    turns = []
    for message in conversation.messages:
        if message.kind == "pending" or not message.text.strip():
            continue
        sources = [Source(int(c.get("n", 0)), _cited_title(c), _own_path(c.get("url")))
                   for c in message.citations or [] if isinstance(c, dict)]
        turns.append(Turn("customer" if message.role == "user" else "bot", message.text,
                          message.created_at, sources))
    return turns


def _own_path(url: str | None) -> str | None:
    """Citations point into the help center: anything else is shown unlinked."""
    return safe_next_url(url, "") or None


def _cited_title(citation: dict[str, str]) -> str:
    title, heading = citation.get("title") or "", citation.get("heading") or ""
    return f"{title} — {heading}" if heading and heading != title else title


def transcript_of(conversation: Conversation) -> str:
    """The conversation as the text stored on the ticket it is handed off to."""
    lines = []
    for m in conversation.messages:
        if m.kind == "pending":
            continue
        who = CUSTOMER_LABEL if m.role == "user" else BOT_LABEL
        lines.append(f"{who}: {m.text}")
        for c in m.citations or []:
            lines.append(f"{CITATION_INDENT}[{c['n']}] {c['title']} — {c['heading']} "
                         f"({c['url']})")
    return "\n".join(lines)


def _from_text(text: str) -> list[Turn]:
    """Read the text `transcript_of` stored, line by line."""
    turns: list[Turn] = []
    for line in text.splitlines():
        cited = _CITED_LINE.match(line)
        spoken = _SPEAKER.match(line)
        if cited and turns:
            # The stored text holds the customer's own lines too: a line they typed to
            # look like a citation must not become a link off the portal.
            turns[-1].sources.append(Source(int(cited.group(1)), cited.group(2),
                                            _own_path(cited.group(3))))
        elif spoken:
            turns.append(Turn(_SPEAKERS[spoken.group(1).capitalize()], spoken.group(2)))
        elif turns:
            turns[-1].text += "\n" + line
        elif line.strip():
            turns.append(Turn("customer", line))
    return turns
