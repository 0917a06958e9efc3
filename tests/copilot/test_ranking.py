"""The copilot's articles: the chat's best ones, ordered again by the ticket's sentences."""

from __future__ import annotations

from portal.chat.services import retrieve
from portal.copilot import ranking
from portal.copilot import services as copilot
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


def test_a_tickets_codes_are_its_tokens_of_letters_and_digits():
    assert ranking.ticket_codes(
        "Upgrade to 8.5 fails with SRVE0199E after fix pack CF29 (see CVE-2017-1741), "
        "db2 logs attached"
    ) == {"srve0199e", "cf29", "cve-2017-1741", "db2"}


# The app quotes the code; what the customer describes (cooling that cannot keep up) reads
# like the cooling and comfort articles, and only the error codes page names E22.
CODE_TICKET = (
    "Too warm in the afternoon\n"
    "The air conditioning runs all afternoon but the living room stays warm and sticky. "
    "The app shows E22."
)


def test_an_article_naming_the_tickets_rare_code_is_suggested(app, indexed_kb, kb_articles):
    found = retrieve(CODE_TICKET, audiences=kb_services.STAFF_AUDIENCES, text_signals=False)
    by_meaning = [s.slug for s in found.sources]
    assert "error-codes" not in by_meaning[:3]
    suggested = copilot.suggest(CODE_TICKET, retrieval=found)
    assert "error-codes" in [a.slug for a in suggested.articles]
    assert "error-codes" in suggested.cited
    # The same complaint without the code is left to the meaning.
    plain = CODE_TICKET.replace(" The app shows E22.", "")
    assert "error-codes" not in [a.slug for a in copilot.suggest(plain).articles]


def test_an_article_the_chat_did_not_retrieve_joins_with_its_section_naming_the_code(
        app, indexed_kb, kb_articles):
    # The chat's retrieval as if the error codes page were not among its candidates at all:
    # the copilot reads it from the database, the section that names the code first.
    found = retrieve(CODE_TICKET, audiences=kb_services.STAFF_AUDIENCES, text_signals=False,
                     exclude=frozenset({"error-codes"}))
    assert "error-codes" not in found.slugs
    ordered = ranking.reranked(CODE_TICKET, found)
    [joined] = [s for s in ordered if s.slug == "error-codes"]
    assert "E22" in joined.passages[0].text
    assert joined.passages[0].url.startswith("/kb/error-codes")
