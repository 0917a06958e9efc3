from __future__ import annotations

import pytest

from portal.chat import flow
from portal.chat.flow import Event, Reason, State


def decide(message: str, confidence: float = 2.0, has_passages: bool = True) -> flow.Decision:
    return flow.decide(message, confidence=confidence, threshold=1.0,
                       has_passages=has_passages, topics=flow.DEFAULT_SENSITIVE_TOPICS)


def test_confident_retrieval_is_answered() -> None:
    assert decide("How do I reset my password?") == flow.Decision(True)


def test_low_confidence_or_nothing_found_hands_off() -> None:
    assert decide("How do I reset my password?", confidence=0.5).reason == Reason.LOW_CONFIDENCE
    assert decide("How do I reset my password?", has_passages=False).reason == Reason.LOW_CONFIDENCE


@pytest.mark.parametrize("message", [
    "Can I talk to a person?", "I want to speak with a human", "connect me to an agent please",
    "real person please",
])
def test_asking_for_a_person_hands_off_even_when_confident(message: str) -> None:
    assert decide(message).reason == Reason.ASKED_FOR_PERSON


@pytest.mark.parametrize(("message", "topic"), [
    ("I want a refund for my thermostat", "refund"),
    ("Please delete my account and all data", "account_deletion"),
    ("I found a security vulnerability in your app", "security_report"),
])
def test_sensitive_topics_hand_off_with_the_topic(message: str, topic: str) -> None:
    decision = decide(message)
    assert (decision.answer, decision.reason, decision.topic) == (
        False, Reason.SENSITIVE_TOPIC, topic)


def test_sensitive_topics_are_configurable() -> None:
    decision = flow.decide("my invoice is wrong", confidence=2, threshold=1, has_passages=True,
                           topics={"billing_dispute": ("invoice is wrong",)})
    assert decision.topic == "billing_dispute"


def test_the_whole_story_of_states() -> None:
    state = flow.transition(State.OPEN, Event.ANSWER)
    assert state == State.ANSWERED
    assert flow.transition(state, Event.HELPFUL) == State.RESOLVED
    state = flow.transition(state, Event.NOT_HELPFUL)
    assert state == State.HANDOFF
    assert flow.transition(state, Event.RETRY) == State.OPEN
    assert flow.transition(state, Event.TICKET_CREATED) == State.ESCALATED


def test_impossible_transitions_are_refused() -> None:
    with pytest.raises(flow.InvalidTransition):
        flow.transition(State.OPEN, Event.HELPFUL)
    with pytest.raises(flow.InvalidTransition):
        flow.transition(State.RESOLVED, Event.TICKET_CREATED)
    assert not flow.can(State.OPEN, Event.TICKET_CREATED)


@pytest.mark.parametrize("message", [
    "The configuration service is hung, is this a known issue?",
    "Is WebSphere affected by the vulnerability CVE-2014-3566 in SSLv3?",
    "Help with Security Bulletin: a security vulnerability in the admin console",
])
def test_ordinary_questions_do_not_trip_a_sensitive_topic(message: str) -> None:
    assert flow.sensitive_topic(message, flow.DEFAULT_SENSITIVE_TOPICS) is None
    assert decide(message).answer


def test_reporting_a_vulnerability_or_a_hacked_account_hands_off() -> None:
    for message in ("I want to report a vulnerability in your login page",
                    "My account was hacked yesterday", "I will sue you"):
        assert decide(message).reason == Reason.SENSITIVE_TOPIC
