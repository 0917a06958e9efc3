"""The copilot's three articles: the chat's ranking, re-read sentence by sentence.

A ticket says more than a chat message: a subject, then a description that tells the
problem in several sentences, quotes an error, says what was tried. One embedding of the
whole text averages all of it, while the article that answers is often close to two or
three of those sentences and far from the rest. So the chat's best articles (its
retrieval, unchanged) are ordered again by their score plus how close the ticket's best
sentences come to the article: for each sentence its nearest chunk of the article, and the
mean of the three nearest sentences.

Measured with `portal eval` on the TechQA dev set, the weight chosen on one half and checked
on the other (docs/copilot.md#evaluation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from portal.chat.services import Retrieval, Source
from portal.kb import services as kb_services

log = logging.getLogger(__name__)

# Only the head of the chat's list is re-read: on the dev set every gold article the
# re-reading lifted into the top three was among the chat's first ten.
RERANKED_ARTICLES = 10
MATCHED_SENTENCES = 3
# In units of the chat's article score: sentences 0.1 nearer are worth 0.8 of it. Chosen on
# one half of the TechQA dev set (the middle of the range, 5-12, that ranked best there; the
# other half's range was the same), see docs/copilot.md.
SENTENCE_WEIGHT = 8.0
# Bounds what a long description (a pasted log) costs in embeddings; its first lines
# state the problem.
MAX_SENTENCES = 12
MIN_SENTENCE_WORDS = 3


def ticket_sentences(text: str) -> list[str]:
    """The ticket's sentences and lines worth matching, first ones first, each once."""
    found = kb_services.sentence_pieces([text], min_words=MIN_SENTENCE_WORDS, max_words=None)
    return list(dict.fromkeys(found))[:MAX_SENTENCES] or ([text.strip()] if text.strip()
                                                          else [])


def reranked(text: str, found: Retrieval) -> list[Source]:
    """The retrieval's sources, the first `RERANKED_ARTICLES` ordered again; the chat's
    order when the index or the model cannot be read (the suggestions still show)."""
    sources = list(found.sources)
    head = sources[:RERANKED_ARTICLES]
    sentences = ticket_sentences(text)
    if len(head) < 2 or not sentences or found.degraded:
        return sources
    try:
        nearest = kb_services.nearest_chunk_cosines(kb_services.embed_texts(sentences),
                                                    [s.slug for s in head])
    except (kb_services.EngineUnavailable, kb_services.EmbeddingUnavailable,
            kb_services.EngineApiError):
        log.warning("copilot: articles left in the chat's order", exc_info=True)
        return sources
    head.sort(key=lambda s: s.score + SENTENCE_WEIGHT * closeness(nearest.get(s.slug, [])),
              reverse=True)
    return head + sources[RERANKED_ARTICLES:]


def closeness(sentence_cosines: Sequence[float]) -> float:
    """The mean of the `MATCHED_SENTENCES` best of the ticket's sentences' cosines to their
    nearest chunk of one article."""
    best = sorted(sentence_cosines, reverse=True)[:MATCHED_SENTENCES]
    return sum(best) / len(best) if best else 0.0
