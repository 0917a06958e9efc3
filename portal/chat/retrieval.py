"""Retrieval for the chatbot: a llama-index retriever over the KB's chunk index.

The retriever is built with everything it needs passed in (no global llama-index
Settings, which would silently reach for OpenAI).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from portal.chat import calibration, ranking
from portal.kb import services as kb_services

log = logging.getLogger(__name__)

# Every candidate chunk (vector and keyword halves) is kept: the article ranker and the
# answer/hand-off model look at the whole candidate list.
CANDIDATE_CHUNKS = 60


@dataclass(frozen=True)
class Source:
    """One article as the answer may cite it: its best sections in rank order."""

    slug: str
    title: str
    category: str
    score: float
    url: str
    passages: tuple[kb_services.Passage, ...]


@dataclass
class Retrieval:
    query: str
    sources: list[Source]
    confidence: float
    degraded: bool = False
    nodes: list[NodeWithScore] = field(default_factory=list)
    # What the answer / suggest / hand-off decision read (ranking.decision_features).
    decision_features: dict[str, float] = field(default_factory=dict)

    @property
    def slugs(self) -> list[str]:
        return [s.slug for s in self.sources]

    @property
    def top_cosine(self) -> float:
        """How close the KB's nearest chunk came to the question (pure-vector cosine)."""
        return max((float(p.extra.get("cosine", 0.0)) for s in self.sources for p in s.passages),
                   default=0.0)


class KnowledgeBaseRetriever(BaseRetriever):
    """Hybrid (keyword + vector, reranked) search over KB chunks the visitor may see."""

    def __init__(self, *, audiences: tuple[str, ...], limit: int = CANDIDATE_CHUNKS,
                 vector: list[float] | None = None, exclude: frozenset[str] = frozenset()
                 ) -> None:
        super().__init__()
        self.audiences = audiences
        self.limit = limit
        self.vector = vector
        # Articles treated as missing from the KB (`portal eval --gap`).
        self.exclude = exclude
        self.degraded = False

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        try:
            passages = kb_services.search_passages(
                query_bundle.query_str, audiences=self.audiences, limit=self.limit,
                vector=self.vector,
            )
            self.degraded = False
        except kb_services.EngineUnavailable:
            log.warning("chunk index unreachable; answering from database search")
            passages = self._database_passages(query_bundle.query_str)
            self.degraded = True
        return [
            NodeWithScore(
                node=TextNode(
                    id_=p.id,
                    text=p.text,
                    metadata={
                        "slug": p.slug, "title": p.title, "heading": p.heading,
                        "anchor": p.anchor, "url": p.url, "category": p.category,
                        "audience": p.audience, "features": dict(p.extra),
                    },
                ),
                score=p.score,
            )
            for p in passages
            if p.audience in self.audiences and p.slug not in self.exclude
        ]

    def _database_passages(self, query: str) -> list[kb_services.Passage]:
        """Sections of the articles the database full-text search finds."""
        results = kb_services.search_articles(query, audiences=self.audiences, per_page=3)
        passages: list[kb_services.Passage] = []
        for rank, hit in enumerate(results.hits):
            article = kb_services.get_article(hit.slug, audiences=self.audiences)
            if article is None:
                continue
            passages += section_passages(article, [1.0 / (rank + 1) - position * 0.01
                                                   for position in range(4)])
        return passages


def section_passages(article: kb_services.ArticleView, scores: Sequence[float],
                     first: Sequence[int] = ()) -> list[kb_services.Passage]:
    """An article's sections read from the database as passages, one per score: the
    sections at the positions in `first` first, then the others in the article's order."""
    positions = list(dict.fromkeys([*first, *range(len(article.sections))]))
    return [
        kb_services.Passage(
            id=f"{article.slug}__db{position}", slug=article.slug, title=article.title,
            heading=article.sections[position][1], anchor=article.sections[position][0],
            category=article.category, audience=article.audience,
            text=article.sections[position][2], score=score,
            url=f"/kb/{article.slug}" + (f"#{article.sections[position][0]}"
                                          if article.sections[position][0] else ""),
        )
        for position, score in zip(positions, scores, strict=False)
    ]


def retrieve(
    query: str, *, audiences: tuple[str, ...], vector: list[float] | None = None,
    exclude: frozenset[str] = frozenset(), text_signals: bool = True,
) -> Retrieval:
    """The KB's articles for one question text, best first, with the decision's confidence.

    `vector` is the text's embedding when the caller already has it. Without `text_signals`
    the top article's sentences are not read: for callers that want the ranking, not the
    answer/hand-off decision (the agent copilot).
    """
    if vector is None:
        vector = _embedding(query)
    retriever = KnowledgeBaseRetriever(audiences=audiences, vector=vector, exclude=exclude)
    nodes = retriever.retrieve(query)
    ranked = ranking.rank_articles([_passage_of(n) for n in nodes])
    sources = [
        Source(
            slug=article.slug, title=article.passages[0].title,
            category=article.passages[0].category, score=article.score, url=f"/kb/{article.slug}",
            passages=article.passages,
        )
        for article in ranked
    ]
    text_features = (answer_text_features(query, vector, ranked)
                     if ranked and vector and text_signals and not retriever.degraded else {})
    confidence = ranking.answer_probability(ranked, calibration.current().model, text_features)
    features = ranking.decision_features(ranked, text_features) if ranked else {}
    if retriever.degraded:
        # Keyword-only fallback scores are ranks, not similarities: answer only the top hit.
        confidence = 1.0 if sources else 0.0
    return Retrieval(query, sources, confidence, retriever.degraded, nodes, features)


def _embedding(text: str) -> list[float] | None:
    try:
        return [float(x) for x in kb_services.embed_question(text)]
    except kb_services.EmbeddingUnavailable:
        # Retrieval then degrades to keywords on its own.
        return None


# How much of the top article the text signals read: its best chunks, sentence by sentence.
TEXT_FEATURE_PASSAGES = 2


def answer_text_features(
    query: str, vector: list[float], ranked: list[ranking.RankedArticle]
) -> dict[str, float]:
    """Does the top article's text hold the answer, beyond ranking first?

    The best cosine between the question and any one sentence of its top chunks (an answer
    is usually one or two sentences, while a chunk's cosine averages over a whole section),
    and the share of the question's rare words those chunks contain.
    """
    passages = ranked[0].passages[:TEXT_FEATURE_PASSAGES]
    sentences = kb_services.sentence_pieces(p.text for p in passages)
    features = {"sentence_cosine": 0.0,
                "rare_coverage": kb_services.rare_word_coverage(query, [p.text for p in passages])}
    if sentences:
        # Stored when their article was indexed: a retrieval embeds no KB text.
        matrix = kb_services.sentence_vectors(sentences[:MAX_FEATURE_SENTENCES])
        features["sentence_cosine"] = float((matrix @ np.asarray(vector, dtype=np.float32)).max())
    return features


MAX_FEATURE_SENTENCES = 16


def _passage_of(node: NodeWithScore) -> kb_services.Passage:
    meta = node.node.metadata
    return kb_services.Passage(
        id=node.node.node_id, slug=meta["slug"], title=meta["title"], heading=meta["heading"],
        anchor=meta["anchor"], category=meta["category"], audience=meta["audience"],
        text=node.node.get_content(), score=node.score or 0.0, url=meta["url"],
        extra=dict(meta.get("features") or {}),
    )
