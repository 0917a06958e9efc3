"""How upset or pressed a customer's message reads: stored on the ticket for the queue's
marker and the routing rules (`when: sentiment: negative`).

The scoring itself (an embedding model on labelled examples, plus exact rules) lives in the
copilot, which sits above tickets; it registers itself here when the app is built, so
tickets never import it. Without a scorer, tickets are simply not marked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

log = logging.getLogger(__name__)

NEGATIVE = "negative"
NEUTRAL = "neutral"
SENTIMENTS = (NEGATIVE, NEUTRAL)
MAX_WHY = 300
_SCORER_KEY = "portal.tickets.mood_scorer"


@dataclass(frozen=True)
class Mood:
    label: str  # NEGATIVE or NEUTRAL
    score: float  # 0 (calm) to 1 (furious or on fire)
    why: str  # the words that triggered it, shown on hover

    @property
    def negative(self) -> bool:
        return self.label == NEGATIVE


def register_scorer(app: Flask, scorer: Callable[[str], Mood]) -> None:
    app.extensions[_SCORER_KEY] = scorer


def score(text: str) -> Mood | None:
    """The message's mood, or None when no scorer is registered or it failed: a ticket is
    never refused because its tone could not be read."""
    scorer = current_app.extensions.get(_SCORER_KEY)
    if scorer is None or not text.strip():
        return None
    try:
        mood: Mood = scorer(text)
    except Exception:  # noqa: BLE001 - the embedding model is optional to a ticket
        log.warning("could not score a message's sentiment", exc_info=True)
        return None
    return Mood(mood.label, round(float(mood.score), 3), mood.why[:MAX_WHY])
