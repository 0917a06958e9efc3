"""Judging whether the retrieved articles hold the answer.

The articles are ranked by the KB's own ranker (`portal.kb.ranking`, shared with the search
box); this module is the decision on top of it: a small logistic model over how sure that
ranking is and what the top article's text holds, fitted by `portal eval --calibrate`
(docs/chat.md). Refit it when the features or the embedding model change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portal.kb import services as kb_services

ARTICLE_FEATURES = kb_services.ARTICLE_FEATURES
RANKER_WEIGHTS = kb_services.RANKER_WEIGHTS
RankedArticle = kb_services.RankedArticle
article_features = kb_services.article_features
article_score = kb_services.article_score
rank_articles = kb_services.rank_articles

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


def decision_features(
    ranked: Sequence[kb_services.RankedArticle], text_features: Mapping[str, float] | None = None
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
    ranked: Sequence[kb_services.RankedArticle], model: DecisionModel | None = None,
    text_features: Mapping[str, float] | None = None,
) -> float:
    if not ranked or max(a.features["cosine"] for a in ranked) < MIN_TOP_COSINE:
        return 0.0
    return (model or DECISION_MODEL).probability(decision_features(ranked, text_features))
