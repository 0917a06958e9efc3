"""The copilot's articles: the chat's best ones, ordered again by the ticket's sentences."""

from __future__ import annotations

import numpy as np

from portal.chat.services import retrieve
from portal.copilot import ranking
from portal.kb import services as kb_services
from portal.kb.engine import SearchEngine, get_engine

TICKET = (
    "Can't get into my account\n"
    "Hi,\n"
    "I forgot my password last week. I asked for a reset link but the email never arrived. "
    "I forgot my password last week. Thanks!"
)


def test_a_ticket_is_read_line_by_line_and_sentence_by_sentence():
    assert ranking.ticket_sentences(TICKET) == [
        "Can't get into my account",
        "I forgot my password last week.",
        "I asked for a reset link but the email never arrived.",
    ]
    many = "\n".join(f"Line number {n} of the log" for n in range(30))
    assert len(ranking.ticket_sentences(many)) == ranking.MAX_SENTENCES
    assert ranking.ticket_sentences("Help!") == ["Help!"]


def test_closeness_is_the_mean_of_the_best_sentences_nearest_chunks():
    chunks = np.eye(4, dtype=np.float32)[:2]
    sentences = np.asarray([[1, 0, 0, 0], [0.6, 0.8, 0, 0], [0, 0, 1, 0], [0, 0.5, 0, 0]],
                           dtype=np.float32)
    # Each sentence's nearest chunk: 1.0, 0.8, 0.0, 0.5; the three best: 1.0, 0.8, 0.5.
    assert abs(ranking.sentence_closeness(sentences, chunks) - 2.3 / 3) < 1e-6
    assert ranking.sentence_closeness(sentences, None) == 0.0


def test_the_chats_best_articles_are_reordered_from_the_index_vectors(app, indexed_kb):
    vectors = kb_services.article_chunk_vectors(["reset-password"])
    rows = vectors["reset-password"]
    assert rows.shape[1] == 384 and np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-3)

    found = retrieve(TICKET, audiences=("public",), text_signals=False)
    ordered = ranking.reranked(TICKET, found)
    head = ranking.RERANKED_ARTICLES
    assert {s.slug for s in ordered[:head]} == {s.slug for s in found.sources[:head]}
    assert ordered[head:] == found.sources[head:]
    assert ordered[0].slug == "reset-password"


def test_without_the_index_the_chats_order_stands(app, indexed_kb):
    found = retrieve(TICKET, audiences=("public",), text_signals=False)
    real = get_engine()
    app.extensions["portal.search_engine"] = SearchEngine(
        "http://127.0.0.1:9", "", index_prefix=real.index_prefix, timeout=0.5)
    try:
        assert ranking.reranked(TICKET, found) == found.sources
    finally:
        app.extensions["portal.search_engine"] = real
