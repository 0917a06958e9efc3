"""The copilot's articles: the chat's best ones, ordered again by the ticket's sentences."""

from __future__ import annotations

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


def test_closeness_is_the_mean_of_the_best_sentences():
    assert abs(ranking.closeness([1.0, 0.8, 0.0, 0.5]) - 2.3 / 3) < 1e-9
    assert ranking.closeness([0.4]) == 0.4
    assert ranking.closeness([]) == 0.0


def test_the_chats_best_articles_are_reordered_by_the_tickets_sentences(app, indexed_kb):
    sentences = ranking.ticket_sentences(TICKET)
    vectors = kb_services.embed_texts(sentences)
    nearest = kb_services.nearest_chunk_cosines(vectors, ["reset-password", "vat-and-tax"])
    assert len(nearest["reset-password"]) == len(sentences)
    # "I forgot my password" is nearer the password article than the tax one.
    assert nearest["reset-password"][1] > nearest["vat-and-tax"][1] + 0.2
    assert all(-1.0 <= c <= 1.0 for c in nearest["reset-password"])

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
