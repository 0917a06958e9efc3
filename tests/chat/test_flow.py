from __future__ import annotations

import pytest

from portal.chat import flow
from portal.chat.flow import Event, Reason, State

THRESHOLDS = flow.Thresholds(answer=0.5, suggest=0.2)


def decide(confidence: float, has_passages: bool = True) -> flow.Decision:
    return flow.decide(confidence=confidence, thresholds=THRESHOLDS, has_passages=has_passages)


def test_confident_retrieval_is_answered() -> None:
    assert decide(0.9) == flow.Decision(flow.Outcome.ANSWER)
    assert decide(0.5).answer


def test_unsure_retrieval_suggests_articles_and_offers_a_person() -> None:
    assert decide(0.3) == flow.Decision(flow.Outcome.SUGGEST, Reason.UNSURE)
    assert not decide(0.3).answer


def test_low_confidence_or_nothing_found_hands_off() -> None:
    assert decide(0.1) == flow.Decision(flow.Outcome.HANDOFF, Reason.LOW_CONFIDENCE)
    assert decide(0.9, has_passages=False).outcome == flow.Outcome.HANDOFF


@pytest.mark.parametrize("message", [
    "Can I talk to a person?", "I want to speak with a human", "connect me to an agent please",
    "real person please",
])
def test_asking_for_a_person_by_name_is_an_exact_rule(message: str) -> None:
    assert flow.asks_for_person(message)


@pytest.mark.parametrize(("message", "topic"), [
    ("I want a refund for my thermostat", "refund"),
    ("I want the second charge refunded", "refund"),
    ("Please delete my account and all data", "account_deletion"),
    ("I found a security vulnerability in your app", "security_report"),
    ("Changing the number in the address shows me someone else's invoices", "security_report"),
    ("I'll take you to court over this", "legal"),
])
def test_sensitive_topics_are_found_with_their_inflections(message: str, topic: str) -> None:
    assert flow.sensitive_topic(message, flow.DEFAULT_SENSITIVE_TOPICS) == topic


def test_sensitive_topics_are_configurable() -> None:
    assert flow.sensitive_topic("my invoice is wrong",
                                {"billing_dispute": ("invoice is wrong",)}) == "billing_dispute"


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


def test_reporting_a_vulnerability_or_a_hacked_account_is_sensitive() -> None:
    for message in ("I want to report a vulnerability in your login page",
                    "My account was hacked yesterday", "I will sue you", "we sued them"):
        assert flow.sensitive_topic(message, flow.DEFAULT_SENSITIVE_TOPICS) is not None
    assert flow.sensitive_topic("there is an issue with my pursuer", flow.DEFAULT_SENSITIVE_TOPICS
                                ) is None


def test_a_follow_up_the_article_says_nothing_about_is_only_suggested() -> None:
    # Read with its topic, "can you gift wrap it?" finds the shipping article confidently.
    unsupported = flow.decide(confidence=0.9, thresholds=THRESHOLDS, has_passages=True,
                              own_support=flow.FOLLOW_UP_SUPPORT_FLOOR - 0.05)
    assert unsupported == flow.Decision(flow.Outcome.SUGGEST, Reason.UNSURE)
    supported = flow.decide(confidence=0.9, thresholds=THRESHOLDS, has_passages=True,
                            own_support=flow.FOLLOW_UP_SUPPORT_FLOOR + 0.05)
    assert supported.answer
