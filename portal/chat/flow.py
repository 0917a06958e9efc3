"""The conversation's state machine and the answer-or-hand-off decision.

Pure functions over plain values, so every path is unit-tested without a
database, a search engine or an LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    OPEN = "open"  # waiting for a question
    ANSWERED = "answered"  # an answer was given; waiting for "did this solve it?"
    RESOLVED = "resolved"  # the customer confirmed it did
    HANDOFF = "handoff"  # a prefilled ticket form is offered
    ESCALATED = "escalated"  # the ticket was created


class Event(StrEnum):
    ANSWER = "answer"
    HANDOFF = "handoff"
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    RETRY = "retry"
    TICKET_CREATED = "ticket_created"


class Reason(StrEnum):
    LOW_CONFIDENCE = "low_confidence"
    ASKED_FOR_PERSON = "asked_for_person"
    NOT_HELPFUL = "not_helpful"
    SENSITIVE_TOPIC = "sensitive_topic"
    LLM_FAILURE = "llm_failure"
    USER_ACTION = "user_action"
    # Not sure the closest articles answer it: they are shown, with the hand-off offered.
    UNSURE = "unsure"


class Outcome(StrEnum):
    """What one reply does; only ANSWER counts as the bot answering (and as a deflection)."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    HANDOFF = "handoff"
    CHITCHAT = "chitchat"


class InvalidTransition(ValueError):
    pass


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.OPEN, Event.ANSWER): State.ANSWERED,
    (State.OPEN, Event.HANDOFF): State.HANDOFF,
    (State.ANSWERED, Event.ANSWER): State.ANSWERED,
    (State.ANSWERED, Event.HANDOFF): State.HANDOFF,
    (State.ANSWERED, Event.HELPFUL): State.RESOLVED,
    (State.ANSWERED, Event.NOT_HELPFUL): State.HANDOFF,
    (State.ANSWERED, Event.RETRY): State.OPEN,
    (State.RESOLVED, Event.ANSWER): State.ANSWERED,
    (State.RESOLVED, Event.HANDOFF): State.HANDOFF,
    (State.HANDOFF, Event.ANSWER): State.ANSWERED,
    (State.HANDOFF, Event.HANDOFF): State.HANDOFF,
    (State.HANDOFF, Event.RETRY): State.OPEN,
    (State.HANDOFF, Event.TICKET_CREATED): State.ESCALATED,
    (State.ESCALATED, Event.ANSWER): State.ANSWERED,
    (State.ESCALATED, Event.HANDOFF): State.HANDOFF,
}


def transition(state: State | str, event: Event) -> State:
    key = (State(state), event)
    if key not in TRANSITIONS:
        raise InvalidTransition(f"{event} is not possible while the conversation is {state}")
    return TRANSITIONS[key]


def can(state: State | str, event: Event) -> bool:
    return (State(state), event) in TRANSITIONS


DEFAULT_SENSITIVE_TOPICS: dict[str, tuple[str, ...]] = {
    "refund": ("refund", "money back", "chargeback", "reimburse"),
    "account_deletion": ("delete my account", "delete account", "close my account",
                         "erase my data", "remove my account", "gdpr"),
    # Reporting a vulnerability, not asking about a published one ("is X affected by CVE-…").
    "security_report": ("found a vulnerability", "found a security", "report a vulnerability",
                        "report a security", "reporting a vulnerability", "discovered a "
                        "vulnerability", "security hole", "hacked", "breach", "security report",
                        "exploit", "compromised",
                        # Seeing another customer's data is a vulnerability, whatever it is
                        # called.
                        "someone else's", "somebody else's", "another customer's",
                        "another user's", "other people's data", "other customers' data"),
    "legal": ("lawyer", "solicitor", "legal action", "sue", "suing", "to court"),
}
_PERSON = re.compile(
    r"\b(talk|speak|chat|connect)\w*\s+(to|with)\s+(a\s+|an\s+|some\s*one|somebody|your\s+)?"
    r"(human|person|agent|real|support|someone|representative|operator|staff)"
    r"|\b(human|real person|live agent|representative)\b(?!\s+resources)"
    r"|\bcontact (support|an agent)\b|\b(connect|transfer|put) me (to|through)\b",
    re.IGNORECASE,
)


def asks_for_person(message: str) -> bool:
    return bool(_PERSON.search(message))


def sensitive_topic(message: str, topics: dict[str, tuple[str, ...]]) -> str | None:
    """The first topic one of whose phrases appears as whole words ("sue" is not in "issue";
    "refunded" and "refunds" are "refund")."""
    text = message.lower()
    for topic, phrases in topics.items():
        if any(re.search(rf"(?<!\w){re.escape(phrase.strip())}(?:s|es|d|ed|ing)?(?!\w)", text)
               for phrase in phrases if phrase.strip()):
            return topic
    return None


@dataclass(frozen=True)
class Thresholds:
    """Decision probabilities: at `answer` or above the bot answers; from `suggest` it shows
    the closest articles and offers the hand-off; below, it hands off."""

    answer: float
    suggest: float


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: Reason | None = None

    @property
    def answer(self) -> bool:
        return self.outcome == Outcome.ANSWER


# A follow-up is answered only when some sentence of the article comes at least this close
# to the follow-up's own words (MiniLM cosine). Unrelated sentence pairs score about 0.0-0.2;
# on the shared dev conversations every follow-up the KB answers had a sentence at 0.28 or
# more, the ones it does not ("can you gift wrap it?" after a shipping answer) 0.22 or less.
FOLLOW_UP_SUPPORT_FLOOR = 0.235


def decide(*, confidence: float, thresholds: Thresholds, has_passages: bool,
           own_support: float | None = None) -> Decision:
    """Answer, suggest or hand off a question by how sure retrieval is that the KB answers it.

    `own_support` (follow-ups only): how close the article comes to the follow-up itself.
    Read with its topic, a follow-up finds the topic's article whatever it asks, so an
    article that says nothing near it is shown, not answered from."""
    if not has_passages:
        return Decision(Outcome.HANDOFF, Reason.LOW_CONFIDENCE)
    unsupported = own_support is not None and own_support < FOLLOW_UP_SUPPORT_FLOOR
    if confidence >= thresholds.answer and not unsupported:
        return Decision(Outcome.ANSWER)
    if unsupported and confidence >= thresholds.suggest:
        return Decision(Outcome.SUGGEST, Reason.UNSURE)
    if confidence >= thresholds.suggest:
        return Decision(Outcome.SUGGEST, Reason.UNSURE)
    return Decision(Outcome.HANDOFF, Reason.LOW_CONFIDENCE)
