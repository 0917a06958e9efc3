"""Ranking a question's candidate chunks into articles: the bot's and the search box's order.

A linear score over per-article features of the retrieved chunks (computed in
`portal.kb.chunks.rerank`): each feature is the best value among the article's chunks. The
weights were fitted by `bench/chat_calibrate.py` on one half of each shared dev set (a fixed
seeded split) and checked on the other half; docs/chat.md gives the held-out figures. Refit
them when the features or the embedding model change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portal.kb.chunks import Passage

# Per article: the best value among its retrieved chunks.
ARTICLE_FEATURES = (
    "cosine", "subject_cosine", "title_cosine", "title_subject_cosine", "bm25",
    "article_bm25", "title_bm25",
)
RANKER_WEIGHTS: dict[str, float] = {
    "cosine": 1.558, "subject_cosine": 1.591, "title_cosine": 1.407,
    "title_subject_cosine": 1.497, "bm25": 1.625, "article_bm25": 2.521, "title_bm25": 1.325,
}


@dataclass(frozen=True)
class RankedArticle:
    slug: str
    score: float
    features: dict[str, float]
    passages: tuple[Passage, ...]


def article_features(passages: Sequence[Passage]) -> dict[str, float]:
    return {
        name: max(float(p.extra.get(name, 0.0)) for p in passages) for name in ARTICLE_FEATURES
    }


def article_score(
    features: Mapping[str, float], weights: Mapping[str, float] | None = None
) -> float:
    weights = RANKER_WEIGHTS if weights is None else weights
    return sum(weights[name] * features[name] for name in ARTICLE_FEATURES)


def rank_articles(passages: Sequence[Passage]) -> list[RankedArticle]:
    """Articles of the retrieved chunks, best first; each with its chunks, best first."""
    by_article: dict[str, list[Passage]] = {}
    for passage in sorted(passages, key=lambda p: p.score, reverse=True):
        by_article.setdefault(passage.slug, []).append(passage)
    ranked = []
    for slug, article_passages in by_article.items():
        features = article_features(article_passages)
        ranked.append(RankedArticle(slug, article_score(features), features,
                                    tuple(article_passages)))
    ranked.sort(key=lambda a: a.score, reverse=True)
    return ranked


