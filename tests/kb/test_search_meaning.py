"""The search box on the bot's retrieval: questions by meaning, keywords as typed, and what
happens when a part of it fails. Real Meilisearch, the demo KB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from portal.events import Event, EventKind
from portal.extensions import db
from portal.kb import services, sync
from portal.kb.embedding import get_embedder

REPO = Path(__file__).resolve().parents[2]
HTMX = {"HX-Request": "true", "HX-Target": "search-results"}


@pytest.fixture
def demo(app: Any) -> None:
    sync.sync_content(REPO / "content", chunks=True, wait=True)


def first_slugs(query: str, n: int = 3) -> list[str]:
    return [h.slug for h in services.search_articles(query, audiences=("public",)).hits[:n]]


def test_a_plain_english_question_finds_its_article_by_meaning(demo: None, client: Any) -> None:
    results = services.search_articles("how do I cancel my subscription", audiences=("public",))
    assert results.natural and results.hits[0].slug == "cancel-subscription"
    # The result names and links the section that matched.
    hit = results.hits[0]
    assert hit.url.startswith("/kb/cancel-subscription")
    page = client.get("/kb/search?q=how+do+I+cancel+my+subscription").text
    assert "slug=cancel-subscription" in page
    # Stop words are neither matched nor highlighted.
    assert "<mark>how</mark>" not in page.lower() and "<mark>do</mark>" not in page.lower()
    assert "/chat/suggest?q=how" in page  # the bot's answer card is asked for


def test_a_capital_i_is_a_stop_word_too(demo: None) -> None:
    # Meilisearch compared stop words with the query's case: "I" ranked noise first.
    assert first_slugs("I cancel subscription", 1) == ["cancel-subscription"]


def test_keywords_prefixes_and_typos_stay_on_the_keyword_engine(demo: None) -> None:
    for query in ("cancel subscription", "passw", "thermostst ofline"):
        results = services.search_articles(query, audiences=("public",))
        assert not results.natural and results.hits, query
    assert "reset-password" in first_slugs("passw")


def test_a_misspelt_question_is_forgiven(demo: None) -> None:
    assert "invoices-receipts" in first_slugs("where do i find the recipt for my plus plan")


def test_a_question_with_a_typo_is_ranked_by_what_it_meant(demo: None, client: Any) -> None:
    # "degres" embeds as another word; corrected against the KB's own words it finds the
    # article about wrong readings, which keyword matching alone ranked fifth.
    query = "my thermostat temp is off by 3 degres"
    results = services.search_articles(query, audiences=("public",))
    # "degree" and "degrees" are both one edit away; the KB's more frequent word wins.
    assert results.natural and results.corrected_query == "my thermostat temp is off by 3 degree"
    assert results.hits[0].slug == "temperature-reading-wrong"
    page = client.get("/kb/search", query_string={"q": query}, headers=HTMX).text
    assert "Showing results for “my thermostat temp is off by 3 degree”" in page
    # A word the KB does not use but that is no typo of one of its words stays as typed.
    results = services.search_articles("someone logged into my account who isnt me",
                                       audiences=("public",))
    assert results.natural and not results.corrected_query
    assert "suspicious-sign-in-alerts" in [h.slug for h in results.hits[:3]]


@pytest.mark.parametrize("query", ["how do I", "?!", "🔥🔥🔥", "a " * 100])
def test_queries_with_nothing_to_search_for_say_so(demo: None, client: Any, query: str) -> None:
    response = client.get("/kb/search", query_string={"q": query})
    assert response.status_code == 200
    assert "too common to search for" in response.text or "No articles match" in response.text


@pytest.mark.parametrize("query", ["Как сбросить пароль?", "パスワードを忘れました", "E15 " * 60])
def test_other_scripts_and_long_repeats_give_a_page(demo: None, client: Any, query: str) -> None:
    response = client.get("/kb/search", query_string={"q": query}, headers=HTMX)
    assert response.status_code == 200


def test_nonsense_with_some_matching_words_is_a_failed_search(demo: None, client: Any) -> None:
    response = client.get("/kb/search",
                          query_string={"q": "purple elephants juggling marmalade sandwiches"})
    response.close()
    assert "matches “purple" in response.text or "No articles match" in response.text
    (event,) = db.session.scalars(db.select(Event).where(Event.kind == str(EventKind.SEARCH)))
    assert event.data["results"] == 0


def test_the_embedding_model_failing_leaves_keyword_results(
    demo: None, monkeypatch: Any
) -> None:
    from portal.kb import chunks

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise services.EmbeddingUnavailable("model file missing")

    monkeypatch.setattr(chunks, "get_embedder", broken)
    results = services.search_articles("how do I cancel my subscription", audiences=("public",))
    assert not results.natural and "cancel-subscription" in [h.slug for h in results.hits]


def test_meilisearch_down_ranks_any_content_word_in_the_database(
    demo: None, app: Any
) -> None:
    from portal.kb.engine import SearchEngine, get_engine

    real = get_engine()
    app.extensions["portal.search_engine"] = SearchEngine(
        "http://127.0.0.1:9", "", index_prefix=real.index_prefix, timeout=0.5)
    try:
        results = services.search_articles("how do I cancel my subscription",
                                           audiences=("public",))
        assert results.degraded and "cancel-subscription" in [h.slug for h in results.hits[:3]]
        assert "<mark>how</mark>" not in "".join(str(h.snippet_html) for h in results.hits)
    finally:
        app.extensions["portal.search_engine"] = real


def test_ticket_suggestions_name_the_section_once_per_article(demo: None, client: Any) -> None:
    html = client.get("/tickets/new/suggestions",
                      query_string={"subject": "Thermostat shows E15 after router change"}).text
    links = [line for line in html.splitlines() if "<li><a href=" in line]
    hrefs = [line.split('href="')[1].split('"')[0].split("#")[0] for line in links]
    assert hrefs and len(hrefs) == len(set(hrefs))
    assert "beta-program" not in hrefs[0]


def test_related_articles_are_the_nearest_in_meaning(demo: None) -> None:
    related = [r.slug for r in services.related_articles("reset-password",
                                                         audiences=("public",))]
    assert related and "reset-password" not in related
    assert {"sign-in-problems", "change-email", "two-step-verification"} & set(related)


def test_a_typed_question_gets_the_vector_its_passages_were_compared_with() -> None:
    # The search box embeds a question on a session of its own (one thread, fewer graph
    # fusions, faster); its vector must be the one the passages' session would give.
    embedder = get_embedder()
    question = "how do I get my money back for a broken thermostat"
    assert np.allclose(embedder.encode_query(question), embedder.encode_one(question),
                       atol=1e-5)
