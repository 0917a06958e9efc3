"""The article ranker and the answer/hand-off model (pure logic over retrieved features)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.chat import ranking
from portal.kb.chunks import Passage, subject_line
from portal.kb.lexicon import Bm25


def chunk(slug: str, position: int = 0, **features: float) -> Passage:
    values = dict.fromkeys(ranking.ARTICLE_FEATURES, 0.0)
    values.update(cosine=0.6, subject_cosine=0.6, title_cosine=0.5, title_subject_cosine=0.5)
    values.update(features)
    passage = Passage(id=f"{slug}__{position}", slug=slug, title=slug, heading=slug, anchor="",
                      category="general", audience="public", text="text",
                      score=values["cosine"], url=f"/kb/{slug}")
    passage.extra.update(values)
    return passage


def test_articles_are_ranked_by_their_best_chunks_and_keep_them_in_order() -> None:
    ranked = ranking.rank_articles([
        chunk("pairing", 0, cosine=0.55),
        chunk("reset-password", 0, cosine=0.50, title_bm25=1.0, article_bm25=1.0),
        chunk("pairing", 1, cosine=0.70),
    ])
    # The title and whole-article keyword matches outweigh a slightly better cosine.
    assert [a.slug for a in ranked] == ["reset-password", "pairing"]
    pairing = ranked[1]
    assert [p.id for p in pairing.passages] == ["pairing__1", "pairing__0"]
    assert pairing.features["cosine"] == pytest.approx(0.70)


def test_one_clear_article_is_more_likely_answered_than_a_close_race() -> None:
    clear = ranking.rank_articles([
        chunk("reset-password", cosine=0.8, article_bm25=1.2, title_bm25=1.0),
        chunk("pairing", cosine=0.45), chunk("billing", cosine=0.44),
    ])
    race = ranking.rank_articles([
        chunk(slug, cosine=0.6 - index / 500)
        for index, slug in enumerate((
            "reset-password", "pairing", "billing", "plans", "wifi", "schedules"))
    ])
    assert ranking.answer_probability(clear) > ranking.DEFAULT_THRESHOLD
    assert ranking.answer_probability(race) < ranking.DEFAULT_THRESHOLD
    features = ranking.decision_features(clear)
    assert features["top_probability"] > 0.9 and features["agreement"] == 1.0


def test_nothing_close_in_the_kb_is_never_answered() -> None:
    off_topic = ranking.rank_articles([chunk("pairing", cosine=0.2, subject_cosine=0.2,
                                             article_bm25=2.0, title_bm25=2.0)])
    assert ranking.answer_probability(off_topic) == 0.0
    assert ranking.answer_probability([]) == 0.0


def test_passages_without_features_still_rank_in_retrieval_order() -> None:
    plain = [Passage(id=f"a{i}", slug=f"a{i}", title="t", heading="h", anchor="",
                     category="c", audience="public", text="x", score=1.0 - i / 10, url="/")
             for i in range(3)]
    assert [a.slug for a in ranking.rank_articles(plain)] == ["a0", "a1", "a2"]


@pytest.mark.parametrize(("message", "expected"), [
    ("How do I reset my password?", None),
    ("Hub will not pair\n\nI tried twice and the light keeps blinking.", "Hub will not pair"),
    ("\n  Subject line  \n\nbody", "Subject line"),
])
def test_the_subject_line_of_a_long_message_is_its_first_line(
    message: str, expected: Any
) -> None:
    assert subject_line(message) == expected


def test_bm25_prefers_rare_terms_and_is_normalised_by_the_question() -> None:
    from collections import Counter

    documents = [Counter(["error", "2035", "queue"]), Counter(["error", "login"]),
                 Counter(["error", "password"])]
    bm25 = Bm25.fit(documents)
    rare = bm25.score({"2035", "error"}, documents[0])
    common = bm25.score({"2035", "error"}, documents[1])
    assert rare > common > 0
    assert bm25.score({"unknown"}, documents[0]) == 0.0
