"""Understanding a customer's turn before anything is retrieved.

Each message is one of: a new question, a follow-up of the current topic, a request for a
person, "that did not help", a sensitive request, or small talk (a greeting, thanks, "it
worked", goodbye, or something off-topic). The step sits between the chat's views/services
and retrieval: what it decides picks the reply's path, and for questions which text is
retrieved for (the message alone, or read together with its topic).

How it decides, in order:
1. Exact rules, where a phrase can only mean one thing: asking for a human by name, and the
   sensitive-topic phrases an operator configures (refunds, account deletion...).
2. The nearest labelled examples (`exemplars.yml`, generic phrasings of every kind of turn)
   through the embedding model the KB already uses: no rules written for any one sentence.
3. The conversation: "that didn't help" and "it worked" only mean that after an answer;
   something that reads as off-topic but that the KB covers closely is a question.
4. For questions, the KB itself: a message is read with its topic when it leans on it
   (pronouns, a connective, almost no words of its own) and the topic's reading is as well
   supported, or when only the topic's reading finds an answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from portal.chat import flow, ranking
from portal.kb import services as kb_services

EXEMPLARS_FILE = Path(__file__).with_name("exemplars.yml")
# Labels are scored by the mean cosine of their few nearest examples, which is steadier
# than the single nearest one when one example happens to share a word.
NEAREST_PER_LABEL = 3
# A label other than "question" wins only when it is this much nearer than the question
# examples and near enough in itself: a product question that happens to share a word with
# "talk to someone" or "that didn't work" stays a question. MiniLM cosines between short
# messages run low (0.2-0.5 for related ones), hence the small absolute figures.
LABEL_MARGIN = 0.06
LABEL_FLOOR = 0.35
# After an answer, a message saying the problem persists ("still", "again"...) that repeats
# at least this many of the answer's content words is reporting on the steps it was given.
ECHOED_ANSWER_WORDS = 2
_PERSISTS = re.compile(
    r"\b(still|again|same|nothing|no luck|no change|no difference|made no|didn'?t (work|help|fix)"
    r"|doesn'?t (work|help)|not working|tried|did all|did everything)\b", re.I)
# An off-topic reading gives way to the KB when one of its chunks is at least this close
# (pure-vector cosine); measured on the shared conversations, off-topic messages stayed
# below it and short product questions above it.
OFF_TOPIC_KB_COSINE = 0.45
# Nearer the off-topic examples than the questions by this much, a message is off-topic even
# where the KB shares its words ("my streaming service password" is not our password reset).
CLEAR_OFF_TOPIC_MARGIN = 0.1
# How much better supported (decision probability) the other reading must be to override
# what the wording suggests.
READING_MARGIN = 0.15


class TurnKind(StrEnum):
    QUESTION = "question"  # a question that stands on its own: a new topic
    FOLLOW_UP = "follow_up"  # continues the current topic ("and on Android?")
    PERSON = "person"  # asks for a human
    NOT_HELPFUL = "not_helpful"  # says the last answer did not work
    SENSITIVE = "sensitive"  # a refund, an account deletion, a vulnerability, a legal threat
    GREETING = "greeting"
    THANKS = "thanks"
    WORKED = "worked"  # thanks that confirms the answer solved it
    GOODBYE = "goodbye"
    OFF_TOPIC = "off_topic"


SMALL_TALK = frozenset({TurnKind.GREETING, TurnKind.THANKS, TurnKind.WORKED, TurnKind.GOODBYE,
                        TurnKind.OFF_TOPIC})
QUESTIONS = frozenset({TurnKind.QUESTION, TurnKind.FOLLOW_UP})
# Bot replies after which "that didn't help" / "it worked" refer to something.
ANSWER_KINDS = frozenset({"answer", "suggest"})


@dataclass(frozen=True)
class PriorTurn:
    """One earlier customer message, how it was understood and how the bot replied."""

    text: str
    kind: str
    reply_kind: str | None = None
    # What the customer was shown: the reply and the text of the articles it cited.
    reply_text: str = ""
    # The articles the reply cited (answers and suggestions alike).
    cited: tuple[str, ...] = ()


class Reading(Protocol):
    """What understanding needs of a retrieval: how sure it is and how close the KB came."""

    @property
    def confidence(self) -> float: ...

    @property
    def top_cosine(self) -> float: ...

    @property
    def slugs(self) -> list[str]: ...


@dataclass
class Turn:
    kind: TurnKind
    # The text retrieval used (the message, or the topic read with it) and its result.
    query: str = ""
    retrieval: Any = None
    sensitive_topic: str | None = None
    # The questions of the topic being helped with, oldest first (this one included).
    topic: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    # For a follow-up: how close the top article's nearest sentence comes to the message's
    # own words (cosine). The topic's question makes the topic's article rank first whatever
    # is asked next, so the reading's confidence alone cannot tell "and how long does that
    # take?" from "can you gift wrap it?"; this can (see flow.decide).
    own_support: float | None = None

    @property
    def is_question(self) -> bool:
        return self.kind in QUESTIONS

    @property
    def is_small_talk(self) -> bool:
        return self.kind in SMALL_TALK


# --- the nearest-examples classifier ----------------------------------------------------------


def load_exemplars(path: Path = EXEMPLARS_FILE) -> dict[str, list[str]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    labels = {str(label): [str(t) for t in texts if str(t).strip()]
              for label, texts in raw.items() if isinstance(texts, list)}
    unknown = set(labels) - {k.value for k in TurnKind} - {"question"}
    if unknown:
        raise ValueError(f"{path}: unknown labels {sorted(unknown)}")
    return labels


class ExemplarClassifier:
    """Scores a message against every label's examples by cosine similarity."""

    def __init__(self, exemplars: Mapping[str, Sequence[str]],
                 embed: Callable[[list[str]], np.ndarray]) -> None:
        self.labels = list(exemplars)
        texts = [t for label in self.labels for t in exemplars[label]]
        self.owner = np.asarray([i for i, label in enumerate(self.labels)
                                 for _ in exemplars[label]])
        self.matrix = embed(texts)

    def scores(self, vector: np.ndarray) -> dict[str, float]:
        cosines = self.matrix @ vector
        out: dict[str, float] = {}
        for index, label in enumerate(self.labels):
            mine = np.sort(cosines[self.owner == index])[::-1][:NEAREST_PER_LABEL]
            out[label] = float(mine.mean()) if len(mine) else -1.0
        return out


@functools.cache
def classifier() -> ExemplarClassifier:
    """The process's classifier, built on first use (embedding the examples, ~1 s)."""
    return ExemplarClassifier(load_exemplars(), kb_services.embed_texts)


# --- cues in the wording (exact rules only) ------------------------------------------------

# Words that point back at something said before.
_ANAPHORA = re.compile(
    r"\b(it|its|it's|that|this|these|those|they|them|their|there|same|one|ones|then)\b", re.I
)
# Pronouns standing for something said before ("what if they refuse to pay it"), unlike a
# demonstrative before a noun the message names itself ("one of those authenticator apps").
_PERSONAL_PRONOUN = re.compile(r"\b(it|its|it's|they|them|their)\b", re.I)
# A message opening like this continues the sentence before it.
_CONNECTIVE = re.compile(r"^\W*(and|or|but|so|what about|how about|what if|same for)\b", re.I)
# A customer announcing a change of subject.
_SWITCH = re.compile(
    r"\b(different|separate|unrelated|another|new|other) (question|thing|topic|issue|problem)\b"
    r"|\bunrelated\b|\bone more thing\b|\bon another note\b|\bchanging the subject\b", re.I
)
# "Did all of that" and "can't get it to work" open statements, not questions.
_QUESTION_OPENING = re.compile(
    r"^(how|what|where|when|why|which|who|can|could|do|does|is|are|will|would|should)\b"
    r"(?!'t|n't| not)", re.I)


def asks_something(message: str) -> bool:
    """Whether any sentence of the message is a question (a report of failure is not)."""
    sentences = [s.strip(" ,-") for s in re.split(r"(?<=[.!?])\s+", message) if s.strip()]
    return "?" in message or any(_QUESTION_OPENING.match(s) for s in sentences)


# In a longer message "it" usually points at something the message itself names.
ANAPHORA_WORDS = 25
# Fewer content words than this leaves a message leaning on its topic for what it is about.
OWN_CONTENT_WORDS = 2


def leans_on_topic(message: str) -> bool:
    """Whether the wording needs an earlier turn to be understood: it opens with a
    connective, points back ("it", "that"), or is a fragment naming almost nothing ("why?",
    "still orange"). A complete question naming its subject ("Where is my order?") does not."""
    if _SWITCH.search(message):
        return False
    words = message.split()
    own = len(kb_services.content_words(message))
    fragment = own == 0 or (own < OWN_CONTENT_WORDS
                            and not _QUESTION_OPENING.match(message.strip(" ,-")))
    return bool(
        _CONNECTIVE.match(message)
        or (len(words) <= ANAPHORA_WORDS and _ANAPHORA.search(message))
        or fragment
    )


# Content words a message needs to say on its own what it asks about.
OWN_SUBJECT_WORDS = 3


def names_own_subject(message: str) -> bool:
    """Whether a message that leans on its topic ("those", "that") also names what it asks
    about: several content words, no opening connective ("and on Android?") and no pronoun
    standing for the topic ("what if they refuse to pay it")."""
    return (len(kb_services.content_words(message)) >= OWN_SUBJECT_WORDS
            and not _CONNECTIVE.match(message) and not _PERSONAL_PRONOUN.search(message))


def retrieval_text(message: str) -> str:
    """The message as retrieval reads it: when a one-line message of several sentences
    asks in one of them ("We're away at Christmas. What's the best way to set the
    heating?"), that sentence becomes its subject line, which retrieval embeds on its own
    beside the whole (see kb.chunks.subject_line) as it does a forum post's title."""
    if "\n" in message.strip():
        return message
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", message.strip()) if s.strip()]
    if len(sentences) < 2:
        return message
    asking = next((s for s in sentences if s.endswith("?") or _QUESTION_OPENING.match(s)),
                  None)
    # "My furnace keeps kicking on and off all evening. Is the thermostat doing that?": a
    # question that points back at the rest of the message is no subject of its own; the
    # message is read whole.
    if asking is None or leans_on_topic(asking):
        return message
    return f"{asking}\n{message}"


def announces_new_topic(message: str) -> bool:
    return bool(_SWITCH.search(message))


# --- the step ------------------------------------------------------------------------------


def classify_wording(
    message: str, vector: np.ndarray, *, topics: dict[str, tuple[str, ...]],
) -> tuple[TurnKind, str | None, dict[str, float]]:
    """What the message is by its words alone: (kind, sensitive topic, label scores)."""
    scores = classifier().scores(vector)
    if flow.asks_for_person(message):
        return TurnKind.PERSON, None, scores
    topic = sensitive_request(message, topics)
    if topic:
        return TurnKind.SENSITIVE, topic, scores
    if asks_for_person_in_a_sentence(message):
        return TurnKind.PERSON, None, scores
    best = max((label for label in scores if label != "question"), key=lambda k: scores[k])
    if scores[best] < LABEL_FLOOR or scores[best] < scores["question"] + LABEL_MARGIN:
        return TurnKind.QUESTION, None, scores
    if best == TurnKind.SENSITIVE.value:
        return TurnKind.SENSITIVE, "other", scores
    return TurnKind(best), None, scores


def sentences_of(message: str) -> list[str]:
    return [s.strip(" ,-") for s in re.split(r"(?<=[.!?])\s+", message.strip()) if s.strip(" ,-")]


# A sentence asking for information ("what is your refund policy?", "what do I lose if I
# delete my account?") rather than for the thing itself ("I want that money back", "please
# delete my account", "can you refund me?").
_INFORMATION_QUESTION = re.compile(r"^\W*(what|how|where|when|why|which|who)\b", re.I)


def sensitive_request(message: str, topics: dict[str, tuple[str, ...]]) -> str | None:
    """The sensitive topic the message asks a person to act on, if any.

    A sensitive phrase hands off whatever the KB holds, so it must be a request: asked as a
    question about how it works, the subject is the KB's to answer (the hand-off stays
    offered). Read per sentence: "Why did you charge me twice? I want a refund." asks.
    """
    topic = flow.sensitive_topic(message, topics)
    if topic is None:
        return None
    phrases = {topic: topics[topic]}
    carrying = [s for s in sentences_of(message) if flow.sensitive_topic(s, phrases)]
    if carrying and all(_INFORMATION_QUESTION.match(s) for s in carrying):
        return None
    return topic


# A longer message describes a problem; its "can anyone help?" asks for an answer, not for
# a person (forum-style posts end that way).
PERSON_SENTENCE_MAX_WORDS = 30


def asks_for_person_in_a_sentence(message: str) -> bool:
    """"Can someone at your end just change it for me? I'm on my phone and can't find where
    to do it": the request for a person is one sentence, which the rest dilutes when the
    message is read as a whole. Asking for a person stands whatever else is said, so each
    sentence is read on its own for it (other kinds depend on the whole message)."""
    sentences = sentences_of(message)
    if len(sentences) < 2 or len(message.split()) > PERSON_SENTENCE_MAX_WORDS:
        return False
    # Only sentences that ask: "It is urgent." leans towards a person without asking for one.
    asking = [s for s in sentences if asks_something(s)]
    if not asking:
        return False
    for vector in kb_services.embed_texts(asking):
        scores = classifier().scores(vector)
        best = max((label for label in scores if label != "question"),
                   key=lambda k: scores[k])
        if (best == TurnKind.PERSON.value and scores[best] >= LABEL_FLOOR
                and scores[best] >= scores["question"] + LABEL_MARGIN):
            return True
    return False


def reports_answer_failed(message: str, answer_text: str) -> bool:
    """"Cleared the cache, reinstalled it, still crashes": the customer did what the answer
    said (its words come back) and the problem persists."""
    if not answer_text or not _PERSISTS.search(message) or asks_something(message):
        return False
    echoed = set(kb_services.search_terms(message)) & set(kb_services.search_terms(answer_text))
    return len(echoed) >= ECHOED_ANSWER_WORDS




def points_elsewhere(reading: Reading, articles: set[str]) -> bool:
    """Whether a reading found something close (a chunk past the KB's "nothing here"
    cosine) and it is not one of these articles."""
    return (bool(reading.slugs) and reading.top_cosine >= ranking.MIN_TOP_COSINE
            and reading.slugs[0] not in articles)


def topic_articles(history: Sequence[PriorTurn]) -> set[str]:
    """The articles cited while helping with the current topic."""
    starts = [i for i, turn in enumerate(history) if turn.kind == TurnKind.QUESTION]
    if not starts:
        return set()
    return {slug for turn in history[starts[-1]:] for slug in turn.cited}


def topic_questions(history: Sequence[PriorTurn]) -> list[str]:
    """The current topic: its latest standalone question and the follow-ups after it.

    Small talk and hand-off requests in between do not end it ("thanks" then "and on
    Android?" still follows the question before the thanks).
    """
    starts = [i for i, turn in enumerate(history) if turn.kind == TurnKind.QUESTION]
    if not starts:
        return []
    return [t.text for t in history[starts[-1]:]
            if t.kind in (TurnKind.QUESTION, TurnKind.FOLLOW_UP)]


def understand(
    message: str,
    history: Sequence[PriorTurn],
    *,
    retrieve: Callable[[str, list[float] | None], Reading],
    topics: dict[str, tuple[str, ...]],
    answer_threshold: float,
    condense: Callable[[list[str], str], str | None] | None = None,
) -> Turn:
    """Classify one customer message and, for a question, retrieve for the right reading.

    `retrieve(text, vector)` runs the KB retrieval (vector: the text's embedding if known);
    `condense(topic, message)` may rewrite a follow-up as a standalone question (an LLM).
    """
    try:
        vector = kb_services.embed_question(message)
    except kb_services.EmbeddingUnavailable:
        return _by_rules_alone(message, history, retrieve=retrieve, topics=topics)
    kind, sensitive, scores = classify_wording(message, vector, topics=topics)
    last_reply = history[-1].reply_kind if history else None
    topic = topic_questions(history)
    if (kind == TurnKind.QUESTION and last_reply in ANSWER_KINDS
            and reports_answer_failed(message, history[-1].reply_text)):
        kind = TurnKind.NOT_HELPFUL
    elif (kind == TurnKind.NOT_HELPFUL and asks_something(message)
          and scores[kind] < scores["question"] + 2 * LABEL_MARGIN):
        # "How long do I hold it, it still won't flash?" asks for more of the answer.
        kind = TurnKind.QUESTION
    if kind in (TurnKind.NOT_HELPFUL, TurnKind.WORKED) and last_reply not in ANSWER_KINDS:
        # Nothing was answered for it to refer to: a problem report, or plain thanks.
        kind = TurnKind.QUESTION if kind == TurnKind.NOT_HELPFUL else TurnKind.THANKS
    if kind == TurnKind.SENSITIVE:
        # A request of its own: the ticket is about it, not about what was asked before.
        # Retrieved all the same: the articles say which category (and team) it is for.
        return Turn(kind, message, retrieve(message, [float(x) for x in vector]),
                    sensitive_topic=sensitive, topic=[message], scores=scores)
    if kind in (TurnKind.PERSON, TurnKind.NOT_HELPFUL):
        return Turn(kind, topic=topic or [message], scores=scores)
    if kind in SMALL_TALK and kind != TurnKind.OFF_TOPIC:
        return Turn(kind, topic=topic, scores=scores)
    as_vector = [float(x) for x in vector]
    alone_text = retrieval_text(message)
    alone = retrieve(alone_text, as_vector)
    if kind == TurnKind.OFF_TOPIC:
        clearly = scores[kind] >= scores["question"] + CLEAR_OFF_TOPIC_MARGIN
        if clearly or alone.top_cosine < OFF_TOPIC_KB_COSINE:
            return Turn(kind, topic=topic, scores=scores)
        kind = TurnKind.QUESTION
    if not topic or announces_new_topic(message):
        return Turn(TurnKind.QUESTION, alone_text, alone, topic=[message], scores=scores)
    together_text = contextual_text(topic, message)
    together = retrieve(together_text, None)
    alone_sure = alone.confidence >= answer_threshold
    together_sure = together.confidence >= answer_threshold
    if leans_on_topic(message):
        # Read with the topic, unless alone it is clearly better answered, or it names its
        # own subject, leans only through a demonstrative, and alone is answered at least
        # as surely from an article the topic was not helped with ("do I need one of those
        # authenticator apps" after sign-in alerts: "those" picks out a kind of thing the
        # message names itself; "is that free?" names nothing and stays with the topic).
        helped_with = topic_articles(history)
        better_alone = alone.confidence > together.confidence + READING_MARGIN
        elsewhere = (names_own_subject(message)
                     and alone.confidence >= together.confidence
                     and points_elsewhere(alone, helped_with))
        follow = not (alone_sure and (better_alone or elsewhere))
    elif asks_something(message):
        # A question of its own, however short, is a new topic, unless only the topic
        # answers it, from the very article the topic was helped with ("where does the
        # power link go?" after the installation steps), and read alone it points nowhere
        # else: "do you sell radiator valves?" after a temperature answer finds other
        # articles closer than the topic's, which the topic's question only outweighs.
        helped_with = topic_articles(history)
        follow = (together_sure and not alone_sure and bool(together.slugs)
                  and together.slugs[0] in helped_with
                  and not points_elsewhere(alone, helped_with))
    else:
        # A statement ("the light is orange but the radiators are cold") continues the
        # topic when only the topic gives it an answer.
        follow = together_sure and not alone_sure
    if follow:
        rewritten = condense(topic, message) if condense else None
        if rewritten:
            together_text, together = rewritten, retrieve(rewritten, None)
        return Turn(TurnKind.FOLLOW_UP, together_text, together, topic=[*topic, message],
                    scores=scores, own_support=own_support(message, vector, together))
    return Turn(TurnKind.QUESTION, alone_text, alone, topic=[message], scores=scores)


# How much of the top article a follow-up is compared with: the sentences sharing the most
# words with it, then the first ones (halved from 48, the shared dev conversations decide the
# same; their vectors are read from the KB's sentence store, kb.sentences).
SUPPORT_SENTENCES = 24


def own_support(message: str, vector: np.ndarray, reading: Any) -> float | None:
    """The best cosine between the follow-up message alone and any sentence of the top
    article (all of it: the passages retrieved for the topic's reading are the topic's,
    not necessarily the ones about the follow-up); None when nothing was retrieved."""
    sources = getattr(reading, "sources", None)
    if not sources:
        return None
    top = sources[0]
    texts = kb_services.section_texts([top.slug], [top.passages[0].audience]) or [
        p.text for p in top.passages]
    sentences = kb_services.sentence_pieces(texts)
    if not sentences:
        return None
    if len(sentences) > SUPPORT_SENTENCES:
        words = set(kb_services.search_terms(message))
        # A stable sort: sentences sharing no word with the message stay in article order.
        sentences.sort(key=lambda s: -len(words & set(kb_services.search_terms(s))))
    try:
        matrix = kb_services.sentence_vectors(sentences[:SUPPORT_SENTENCES])
    except kb_services.EmbeddingUnavailable:
        return None
    return float((matrix @ np.asarray(vector, dtype=np.float32)).max())


def _by_rules_alone(
    message: str, history: Sequence[PriorTurn], *,
    retrieve: Callable[[str, list[float] | None], Reading], topics: dict[str, tuple[str, ...]],
) -> Turn:
    """Without the embedding model only the exact rules speak; everything else is a
    question, read with its topic when its wording leans on it."""
    topic = topic_questions(history)
    if flow.asks_for_person(message):
        return Turn(TurnKind.PERSON, topic=topic or [message])
    sensitive = sensitive_request(message, topics)
    if sensitive:
        return Turn(TurnKind.SENSITIVE, sensitive_topic=sensitive, topic=[message])
    if topic and leans_on_topic(message):
        text = contextual_text(topic, message)
        return Turn(TurnKind.FOLLOW_UP, text, retrieve(text, None), topic=[*topic, message])
    return Turn(TurnKind.QUESTION, message, retrieve(message, None), topic=[message])


def contextual_text(topic: Sequence[str], message: str) -> str:
    """The topic's opening question, its latest follow-up, then the message: the topic says
    what it is about (its first line is embedded on its own as the subject, see
    kb.chunks.subject_line), the latest follow-up where the conversation has got to ("which
    battery do I need?" before "how do I get the back off"), the message which part of it
    is asked now."""
    return "\n".join([topic[0], *topic[1:][-1:], message])
