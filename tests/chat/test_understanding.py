"""The turn step: what kind of message this is, and which reading of it is retrieved.

The classifier runs on the real embedding model (it is what is under test); retrieval is
stood in for by readings of known confidence, so each choice between the message alone and
the message read with its topic is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from portal.chat import flow
from portal.chat.understanding import PriorTurn, TurnKind, leans_on_topic, understand

THRESHOLD = 0.5


@dataclass
class Reading:
    confidence: float
    top_cosine: float = 0.6
    slugs: list[str] = field(default_factory=list)


class Retrieval:
    """Confidence per text: `alone` for the message itself, `together` for the topic
    reading (the text that carries a newline)."""

    def __init__(self, alone: float = 0.9, together: float = 0.9, cosine: float = 0.6,
                 together_top: str = "reset-hub", alone_top: str = "somewhere-else",
                 alone_cosine: float | None = None) -> None:
        self.alone, self.together, self.cosine = alone, together, cosine
        self.together_top, self.alone_top = together_top, alone_top
        self.alone_cosine = cosine if alone_cosine is None else alone_cosine
        self.texts: list[str] = []

    def __call__(self, text: str, vector: Any) -> Reading:
        self.texts.append(text)
        if "\n" in text:
            return Reading(self.together, self.cosine, [self.together_top])
        return Reading(self.alone, self.alone_cosine, [self.alone_top])


def turn(message: str, history: list[PriorTurn] | None = None, **retrieval: Any) -> Any:
    return understand(message, history or [], retrieve=Retrieval(**retrieval),
                      topics=flow.DEFAULT_SENSITIVE_TOPICS, answer_threshold=THRESHOLD)


ANSWERED = [PriorTurn("How do I reset the hub?", "question", "answer",
                      "Hold the reset button for ten seconds until the light flashes. [1]",
                      ("reset-hub",))]


@pytest.mark.parametrize(("message", "kind"), [
    ("hiya!", TurnKind.GREETING),
    ("good morning to you", TurnKind.GREETING),
    ("many thanks", TurnKind.THANKS),
    ("cheers, bye for now", TurnKind.GOODBYE),
    ("what's the forecast for Leeds on Saturday", TurnKind.OFF_TOPIC),
    ("can you recommend a restaurant for tonight", TurnKind.OFF_TOPIC),
    ("please let me talk to a human being", TurnKind.PERSON),
    ("is there anybody from your staff I could phone", TurnKind.PERSON),
    ("I demand my money back for the broken unit", TurnKind.SENSITIVE),
    ("My lawyer will hear about this", TurnKind.SENSITIVE),
    ("How do I set a weekly schedule?", TurnKind.QUESTION),
    ("the screen flickers every few seconds", TurnKind.QUESTION),
])
def test_messages_nobody_wrote_a_rule_for_are_understood(message: str, kind: TurnKind,
                                                          app: Any) -> None:
    with app.app_context():
        assert turn(message).kind == kind


def test_it_worked_confirms_only_after_an_answer(app: Any) -> None:
    with app.app_context():
        assert turn("brilliant, that fixed it", ANSWERED).kind == TurnKind.WORKED
        assert turn("brilliant, that fixed it").kind == TurnKind.THANKS


def test_that_did_not_help_needs_an_answer_to_refer_to(app: Any) -> None:
    with app.app_context():
        assert turn("nope, didn't help at all", ANSWERED).kind == TurnKind.NOT_HELPFUL
        # A first message describing a persisting problem is a question.
        assert turn("my app still crashes every time").kind == TurnKind.QUESTION


def test_doing_what_the_answer_said_without_luck_is_not_helpful(app: Any) -> None:
    with app.app_context():
        report = "held the reset button for well over ten seconds, the light still won't flash"
        assert turn(report, ANSWERED).kind == TurnKind.NOT_HELPFUL
        # The same words asked as a new question are a question.
        assert turn("how long do I hold the reset button, it still won't flash?",
                    ANSWERED).kind != TurnKind.NOT_HELPFUL


def test_a_new_question_however_short_is_read_alone(app: Any) -> None:
    with app.app_context():
        result = turn("Where is my order?", ANSWERED, alone=0.9, together=0.4)
        assert result.kind == TurnKind.QUESTION
        assert result.query == "Where is my order?" and result.topic == ["Where is my order?"]


def test_a_follow_up_is_read_with_its_topic(app: Any) -> None:
    with app.app_context():
        result = turn("and what if it fails?", ANSWERED, alone=0.2, together=0.8)
        assert result.kind == TurnKind.FOLLOW_UP
        assert result.query.startswith("How do I reset the hub?")
        assert result.topic == ["How do I reset the hub?", "and what if it fails?"]


def test_a_follow_up_is_read_where_the_conversation_has_got_to(app: Any) -> None:
    history = [*ANSWERED,
               PriorTurn("Which button is the reset one?", "follow_up", "answer",
                         "The small one on the back. [1]", ("reset-hub",)),
               PriorTurn("What colour is it then?", "follow_up", "answer",
                         "It flashes blue. [1]", ("reset-hub",))]
    with app.app_context():
        result = turn("and how long does it take", history, alone=0.2, together=0.8)
        # The topic's opening question says what it is about, the latest follow-up where it
        # got to; the follow-ups in between add nothing the reading needs.
        assert result.query.splitlines() == ["How do I reset the hub?",
                                             "What colour is it then?",
                                             "and how long does it take"]


def test_only_the_topic_reading_finding_an_answer_makes_a_follow_up(app: Any) -> None:
    with app.app_context():
        # No pronoun or connective, but on its own the KB has nothing sure for it.
        assert turn("the light goes amber afterwards", ANSWERED, alone=0.1,
                    together=0.9).kind == TurnKind.FOLLOW_UP
        assert turn("the light goes amber afterwards", ANSWERED, alone=0.9,
                    together=0.9).kind == TurnKind.QUESTION


def test_an_announced_change_of_subject_is_a_new_question(app: Any) -> None:
    with app.app_context():
        result = turn("different question: how do I change it?", ANSWERED, alone=0.3,
                      together=0.9)
        assert result.kind == TurnKind.QUESTION


def test_off_topic_words_the_kb_covers_closely_are_a_question(app: Any) -> None:
    with app.app_context():
        assert turn("will it rain this weekend", cosine=0.2).kind == TurnKind.OFF_TOPIC


def test_small_talk_between_questions_keeps_the_topic(app: Any) -> None:
    history = [*ANSWERED, PriorTurn("thanks", "thanks", "chitchat", "You're welcome.")]
    with app.app_context():
        result = turn("and on the second hub?", history, alone=0.1, together=0.9)
        assert result.kind == TurnKind.FOLLOW_UP
        assert result.topic[0] == "How do I reset the hub?"


def test_a_sensitive_request_is_its_own_topic(app: Any) -> None:
    with app.app_context():
        result = turn("please delete my account", ANSWERED)
        assert result.kind == TurnKind.SENSITIVE and result.topic == ["please delete my account"]


def test_wording_cues_for_leaning_on_the_topic() -> None:
    assert leans_on_topic("and on Android?")
    assert leans_on_topic("does that cost anything")
    assert leans_on_topic("why?")
    assert not leans_on_topic("How do I pair the hub with the thermostat?")
    assert not leans_on_topic("unrelated, but how do I change it")


def test_without_the_embedding_model_the_exact_rules_still_work(app: Any,
                                                                  monkeypatch: Any) -> None:
    from portal.kb import services as kb_services

    def broken(texts: Any) -> Any:
        raise kb_services.EmbeddingUnavailable("model file missing")

    monkeypatch.setattr(kb_services, "embed_texts", broken)
    monkeypatch.setattr(kb_services, "embed_question", broken)
    with app.app_context():
        # Only the rules speak: a question is never told apart from small talk.
        assert turn("hello there").kind == TurnKind.QUESTION
        assert turn("can I speak to a human").kind == TurnKind.PERSON
        assert turn("I want a refund").kind == TurnKind.SENSITIVE
        assert turn("and if it fails?", ANSWERED).kind == TurnKind.FOLLOW_UP
        assert turn("How do I set a schedule?").kind == TurnKind.QUESTION


def test_a_request_for_a_person_in_one_sentence_of_two_is_heard(app: Any) -> None:
    with app.app_context():
        assert turn("could somebody on your side just update it for me? I'm stuck on a "
                    "train and the page won't load", ANSWERED).kind == TurnKind.PERSON
        # A long description ending "can anyone help?" asks for an answer.
        post = ("Since the update last week our hub drops off the network every evening at "
                "about the same time, the light turns orange and the schedule stops running "
                "until we unplug it. We have tried a different socket and a new cable. "
                "Can anyone help?")
        assert turn(post).kind == TurnKind.QUESTION


def test_a_short_question_only_the_topic_article_answers_follows_the_topic(app: Any) -> None:
    with app.app_context():
        # Asked as a question, but alone the KB is unsure, and the topic's reading is sure
        # from the article the topic was answered with.
        result = turn("where does the little pin go?", ANSWERED, alone=0.2, together=0.8,
                      alone_top="reset-hub")
        assert result.kind == TurnKind.FOLLOW_UP
        # Alone it finds nothing close at all: the topic is all it can be about.
        result = turn("where does the little pin go?", ANSWERED, alone=0.2, together=0.8,
                      alone_cosine=0.2)
        assert result.kind == TurnKind.FOLLOW_UP
        # Alone it points at another article, unsure: the topic's question is what makes
        # the topic's reading sure ("do you sell radiator valves?" after a temperature
        # answer), so it is a question of its own.
        result = turn("do you sell smart radiator valves?", ANSWERED, alone=0.2, together=0.8)
        assert result.kind == TurnKind.QUESTION
        # The topic's reading finding some other article is no reason to follow it.
        result = turn("where does the little pin go?", ANSWERED, alone=0.2, together=0.8,
                      together_top="another-article")
        assert result.kind == TurnKind.QUESTION


def test_a_demonstrative_before_its_own_noun_does_not_hold_a_sure_question_to_the_topic(
        app: Any) -> None:
    with app.app_context():
        # "those" picks out a kind of thing the message names; alone the KB is as sure of
        # another article as the topic's reading is of its own: a question of its own.
        result = turn("is a text message enough or do I need one of those authenticator apps",
                      ANSWERED, alone=0.9, together=0.85)
        assert result.kind == TurnKind.QUESTION
        # A pronoun standing for the topic keeps it, however sure the message alone is.
        result = turn("what happens if they refuse to pay the customs fees", ANSWERED,
                      alone=0.9, together=0.85)
        assert result.kind == TurnKind.FOLLOW_UP
        # Alone sure of the very article the topic was helped with: still the topic.
        result = turn("is a paperclip enough or do I need one of those reset pins", ANSWERED,
                      alone=0.9, together=0.85, alone_top="reset-hub")
        assert result.kind == TurnKind.FOLLOW_UP
        # Unsure alone: the topic's reading is kept.
        result = turn("do I need one of those authenticator apps", ANSWERED, alone=0.3,
                      together=0.85)
        assert result.kind == TurnKind.FOLLOW_UP
        # Naming nothing of its own, or continuing the sentence before, it stays with the
        # topic even when some other article answers its few words surely.
        for message in ("is that free?", "and on Android?", "how much does this cost"):
            assert turn(message, ANSWERED, alone=0.9, together=0.85).kind == \
                TurnKind.FOLLOW_UP, message


def test_an_articles_sentences_are_embedded_once_per_process(app: Any, monkeypatch: Any) -> None:
    import numpy as np

    from portal.kb import sentences as kb_sentences
    from portal.kb import services as kb_services
    from portal.kb.embedding import Embedder

    # Sentences of no indexed article: the database has no vectors for them.
    sentences = ["Hold the reset button for ten seconds.", "The light flashes blue when ready."]
    embedded: list[str] = []
    real = Embedder.encode

    def counting(self: Embedder, texts: Any) -> Any:
        embedded.extend(texts)
        return real(self, texts)

    kb_sentences.forget_remembered()
    with app.app_context():
        expected = kb_services.embed_texts(sentences)
        monkeypatch.setattr(Embedder, "encode", counting)
        first = kb_services.sentence_vectors(sentences)
        again = kb_services.sentence_vectors(list(reversed(sentences)))
    assert np.allclose(first, expected, atol=1e-6)
    assert np.allclose(again, expected[::-1], atol=1e-6)
    # The follow-up after the next one finds the article's sentences already embedded.
    assert embedded == sentences


@pytest.mark.parametrize("message", [
    "what is your policy on refunds for Plus?",
    "What do I lose if I delete my account for good?",
    "how long does a refund take to reach my card",
])
def test_asking_how_a_sensitive_subject_works_is_a_question(app: Any, message: str) -> None:
    # The KB answers these; the hand-off stays offered with the answer.
    with app.app_context():
        assert turn(message, alone=0.9).kind == TurnKind.QUESTION


@pytest.mark.parametrize(("message", "topic"), [
    ("You took 44 pounds off me for a renewal I never asked for. I want that money back.",
     "refund"),
    ("Why did you charge me twice? I want the second one refunded.", "refund"),
    ("can you refund the renewal please", "refund"),
    ("right, please delete my account and everything you hold on me", "account_deletion"),
])
def test_asking_for_a_sensitive_thing_hands_off(app: Any, message: str, topic: str) -> None:
    with app.app_context():
        result = turn(message, alone=0.9)
        assert result.kind == TurnKind.SENSITIVE and result.sensitive_topic == topic


def test_a_question_pointing_back_at_its_own_message_is_no_subject_line() -> None:
    from portal.chat.understanding import retrieval_text

    asked = "We're away over Christmas. What's the best way to set the heating?"
    assert retrieval_text(asked) == f"What's the best way to set the heating?\n{asked}"
    described = ("My furnace keeps kicking on and off all evening. Is the thermostat doing "
                 "that?")
    assert retrieval_text(described) == described
