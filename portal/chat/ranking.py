"""Ranking the retrieved articles and judging whether they hold the answer.

Both are small linear models over features of the retrieved chunks (computed in
`portal.kb.chunks.rerank`). Their weights were fitted by `bench/chat_calibrate.py`
on one half of each shared dev set (a fixed seeded split) and checked on the other
half; docs/chat.md gives the held-out figures. Refit them when the features or the
embedding model change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portal.kb import services as kb_services

# Per article: the best value among its retrieved chunks.
ARTICLE_FEATURES = (
    "cosine", "subject_cosine", "title_cosine", "title_subject_cosine", "bm25",
    "article_bm25", "title_bm25",
)
RANKER_WEIGHTS: dict[str, float] = {
    "cosine": 1.558, "subject_cosine": 1.591, "title_cosine": 1.407,
    "title_subject_cosine": 1.497, "bm25": 1.625, "article_bm25": 2.521, "title_bm25": 1.325,
}

# What the decision looks at: how sure the ranking is (the top article's share, its lead,
# its cosine, whether vector and keyword agree) and whether the top article's text holds
# the answer (the best single sentence's cosine, the share of the question's rare words).
# Trained against simulated gaps (`portal eval --gap`) as well as unanswerable questions,
# the text signals earn their place; on unanswerable questions alone they did not.
DECISION_FEATURES = ("top_probability", "margin", "top_cosine", "agreement",
                     "sentence_cosine", "rare_coverage")
# Computed by retrieval from the top article's text (they need the embedding model and the
# index's word statistics), not from the ranking alone.
TEXT_FEATURES = ("sentence_cosine", "rare_coverage")


@dataclass(frozen=True)
class DecisionModel:
    """Logistic regression on standardised features: P(the KB answers the question)."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(
            w * (features[name] - m) / s
            for name, m, s, w in zip(self.features, self.means, self.scales, self.weights,
                                     strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


DECISION_MODEL = DecisionModel(
    features=DECISION_FEATURES,
    means=(0.48714, 1.91376, 0.62549, 0.54598, 0.61713, 0.4383),
    scales=(0.29539, 2.07144, 0.1622, 0.49788, 0.13999, 0.25181),
    weights=(0.77274, 0.58731, 0.33188, 0.10703, 0.43362, -0.51083),
    bias=0.40798,
)
# Fitted by `portal eval --calibrate` on the WixQA dev set (with --gap) and the TechQA dev
# set together: the answer threshold is the highest at which each set still gets confident
# answers on 0.85 of its answerable questions, the suggest threshold keeps 0.95 of them at
# least shown articles. docs/chat.md has the figures; a KB of its own is recalibrated with
# the same command (see portal/chat/calibration.py).
DEFAULT_THRESHOLD = 0.2943
DEFAULT_SUGGEST_THRESHOLD = 0.1858
# The share of the top article is relative: an off-topic question can still have one
# article ahead of the rest. Below this cosine nothing in the KB is close (every
# answerable dev question but one had a chunk above 0.35).
MIN_TOP_COSINE = 0.3
# What the margin is taken to be when only one article was retrieved.
SOLE_ARTICLE_MARGIN = 0.3


@dataclass(frozen=True)
class RankedArticle:
    slug: str
    score: float
    features: dict[str, float]
    passages: tuple[kb_services.Passage, ...]


def article_features(passages: Sequence[kb_services.Passage]) -> dict[str, float]:
    return {
        name: max(float(p.extra.get(name, 0.0)) for p in passages) for name in ARTICLE_FEATURES
    }


def article_score(
    features: Mapping[str, float], weights: Mapping[str, float] | None = None
) -> float:
    weights = RANKER_WEIGHTS if weights is None else weights
    return sum(weights[name] * features[name] for name in ARTICLE_FEATURES)


def rank_articles(passages: Sequence[kb_services.Passage]) -> list[RankedArticle]:
    """Articles of the retrieved chunks, best first; each with its chunks, best first."""
    by_article: dict[str, list[kb_services.Passage]] = {}
    for passage in sorted(passages, key=lambda p: p.score, reverse=True):
        by_article.setdefault(passage.slug, []).append(passage)
    ranked = []
    for slug, article_passages in by_article.items():
        features = article_features(article_passages)
        ranked.append(RankedArticle(slug, article_score(features), features,
                                    tuple(article_passages)))
    ranked.sort(key=lambda a: a.score, reverse=True)
    return ranked


def decision_features(
    ranked: Sequence[RankedArticle], text_features: Mapping[str, float] | None = None
) -> dict[str, float]:
    """How sure the ranking is: the top article's share, its lead, its cosine, and whether
    the vector and keyword signals point at the same article."""
    top = ranked[0]
    peak = top.score
    total = sum(math.exp(a.score - peak) for a in ranked)
    margin = top.score - ranked[1].score if len(ranked) > 1 else SOLE_ARTICLE_MARGIN
    by_vector = max(ranked, key=lambda a: a.features["cosine"])
    by_keywords = max(ranked, key=lambda a: a.features["article_bm25"])
    return {
        "top_probability": 1.0 / total,
        "margin": margin,
        "top_cosine": top.features["cosine"],
        "agreement": 1.0 if by_vector.slug == by_keywords.slug else 0.0,
        **{name: 0.0 for name in TEXT_FEATURES},
        **(text_features or {}),
    }


def answer_probability(
    ranked: Sequence[RankedArticle], model: DecisionModel | None = None,
    text_features: Mapping[str, float] | None = None,
) -> float:
    if not ranked or max(a.features["cosine"] for a in ranked) < MIN_TOP_COSINE:
        return 0.0
    return (model or DECISION_MODEL).probability(decision_features(ranked, text_features))
