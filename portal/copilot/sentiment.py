"""How frustrated or pressed a customer's message reads: a score from 0 to 1 and the words
that triggered it.

Two sources, the stronger wins:
- exact rules, for wording that can only mean one thing ("unacceptable", "asap", "third
  time", a run of "!!!", shouting in capitals);
- the embedding model the KB already uses, through the chat's nearest-examples classifier
  (`understanding.ExemplarClassifier`) on the labelled examples in `sentiment.yml`, sentence by
  sentence, so one angry sentence in a long, polite message still counts.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from portal.chat.services import ExemplarClassifier, sentences_of
from portal.kb import services as kb_services
from portal.tickets.services import NEGATIVE, NEUTRAL, Mood

EXEMPLARS_FILE = Path(__file__).with_name("sentiment.yml")
LABELS = ("calm", "frustrated", "urgent")
# Marked "negative" from this score up (the rules give at least RULE_SCORE).
NEGATIVE_FROM = 0.5
RULE_SCORE = 0.75
# An embedding reading counts when the nearest upset label is this much nearer than the calm
# examples; MiniLM cosines between short messages run low, hence the small figures. The
# score rises from NEGATIVE_FROM at the margin to ~0.9 at three times it.
EMBEDDING_MARGIN = 0.08
EMBEDDING_SCALE = 0.04
MAX_SENTENCES = 8

_FRUSTRATION = re.compile(
    r"\b(unacceptable|ridiculous|disgusting|appalling|terrible|horrible|awful|useless|pathetic"
    r"|furious|angry|livid|fed up|sick of|tired of|had enough|disappointed|frustrat\w*"
    r"|worst|joke|waste of (my )?time|still (not|no|doesn'?t|isn'?t|hasn'?t|haven'?t)"
    r"|(second|third|fourth|fifth|\d+(st|nd|rd|th)) time|again and again|over and over"
    r"|no one|nobody|never (got|received|had) (a |an )?(reply|answer|response)"
    r"|cancel (my|the|our) (account|subscription|order|contract)|lawyer|complain\w*)\b", re.I)
_URGENCY = re.compile(
    r"\b(urgent\w*|asap|a\.s\.a\.p|immediately|emergency|critical|right now|right away"
    r"|as soon as possible|hurry|quickly|fast as|today|tonight|deadline|outage"
    r"|(is|are|went|goes) down"
    r"|blocked|blocking|losing (money|customers|sales|data)|production|can'?t work"
    r"|no heat(ing)?|no hot water|leak\w*|flood\w*|freezing|unsafe|danger\w*)\b", re.I)
# A single word in capitals that is shouted, not an acronym.
_SHOUTED_WORD = re.compile(r"\b(NOW|HELP|PLEASE|URGENT|STILL|NEVER|NOTHING|AGAIN)\b")
_EXCLAIMS = re.compile(r"[!?]*![!?]*!+[!?]*")
# Shouting is a run of capitalised words; one or two in a row are product names, acronyms
# and error codes (SQLCODE, CWWKF0001E), which technical messages are full of.
_SHOUTED = re.compile(r"\b[A-Z']{2,}(?:[ ,]+[A-Z']{2,}\b){2,}")


@dataclass(frozen=True)
class Reading:
    score: float
    triggers: tuple[str, ...]


def _load_exemplars(path: Path = EXEMPLARS_FILE) -> dict[str, list[str]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    exemplars = {str(label): [str(t) for t in texts] for label, texts in raw.items()}
    if set(exemplars) != set(LABELS):
        raise ValueError(f"{path}: labels must be exactly {', '.join(LABELS)}")
    return exemplars


@functools.cache
def classifier() -> ExemplarClassifier:
    """Built on first use (embedding the examples takes about a second)."""
    return ExemplarClassifier(_load_exemplars(), kb_services.embed_texts)


def by_rules(text: str) -> Reading:
    words = [m.group(0) for pattern in (_FRUSTRATION, _URGENCY) for m in pattern.finditer(text)]
    words.extend(_SHOUTED_WORD.findall(text))
    if _EXCLAIMS.search(text):
        words.append("!!")
    runs = [m.group(0) for m in _SHOUTED.finditer(text)]
    # A log pasted in capitals is not shouting; a message mostly in capitals is.
    if runs and sum(len(r.split()) for r in runs) * 2 >= len(text.split()):
        words.extend(runs[:2])
    triggers = tuple(dict.fromkeys(w.lower() if w != w.upper() else w for w in words))
    return Reading(RULE_SCORE + 0.05 * min(len(triggers) - 1, 4) if triggers else 0.0, triggers)


def by_examples(text: str) -> Reading:
    """The most upset sentence as the examples read it."""
    sentences = [s for s in sentences_of(text) if len(s.split()) >= 2][:MAX_SENTENCES] or [text]
    model = classifier()
    best, trigger = 0.0, ""
    for sentence, vector in zip(sentences, kb_services.embed_texts(sentences), strict=True):
        scores = model.scores(vector)
        margin = max(scores["frustrated"], scores["urgent"]) - scores["calm"]
        if margin < EMBEDDING_MARGIN:
            continue
        score = 1 / (1 + math.exp(-(margin - EMBEDDING_MARGIN) / EMBEDDING_SCALE)) * 0.9
        score = max(score, NEGATIVE_FROM)
        if score > best:
            best, trigger = score, sentence
    if not trigger:
        return Reading(0.0, ())
    return Reading(best, (f"“{trigger[:80]}”",))


def score_message(text: str) -> Mood:
    """The message's frustration/urgency; the embedding half is skipped when the model is
    missing, so the exact rules still mark the obvious cases."""
    rules = by_rules(text)
    try:
        examples = by_examples(text)
    except kb_services.EmbeddingUnavailable:
        examples = Reading(0.0, ())
    score = max(rules.score, examples.score)
    label = NEGATIVE if score >= NEGATIVE_FROM else NEUTRAL
    triggers = rules.triggers + examples.triggers if label == NEGATIVE else ()
    return Mood(label, min(score, 1.0), ", ".join(triggers))
