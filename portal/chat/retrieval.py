"""Retrieval for the chatbot: a llama-index retriever over the KB's chunk index.

The retriever is built with everything it needs passed in (no global llama-index
Settings, which would silently reach for OpenAI).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from portal.chat import ranking
from portal.kb import services as kb_services

log = logging.getLogger(__name__)

# Every candidate chunk (vector and keyword halves) is kept: the article ranker and the
# answer/hand-off model look at the whole candidate list.
CANDIDATE_CHUNKS = 60
FOLLOW_UP_WORDS = 6
# A short message naming fewer things than this leans on the previous question for them.
FOLLOW_UP_CONTENT_WORDS = 2
_ANAPHORA = re.compile(r"\b(it|its|that|this|these|those|they|them|there|same|one)\b", re.I)
_CONNECTIVE = re.compile(r"\s*(and|or|but|also|what about|how about)\b", re.I)


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

    @property
    def slugs(self) -> list[str]:
        return [s.slug for s in self.sources]


def is_follow_up(message: str, previous_user_messages: list[str]) -> bool:
    """Whether a message continues the previous question instead of asking a new one.

    "and on Android?", "what about Alexa?", "doesn't work" and "how do I reset it?" do;
    "How do I pair the hub?" is short but names what it is about, so it does not.
    """
    if not previous_user_messages:
        return False
    words = message.split()
    return bool(
        _CONNECTIVE.match(message)
        or (len(words) <= 15 and _ANAPHORA.search(message))
        or (len(words) <= FOLLOW_UP_WORDS
            and len(kb_services.content_words(message)) < FOLLOW_UP_CONTENT_WORDS)
    )


def contextual_query(message: str, previous_user_messages: list[str]) -> str:
    """A follow-up is read together with the previous question."""
    if is_follow_up(message, previous_user_messages):
        return f"{previous_user_messages[-1]} {message}"
    return message


class KnowledgeBaseRetriever(BaseRetriever):
    """Hybrid (keyword + vector, reranked) search over KB chunks the visitor may see."""

    def __init__(self, *, audiences: tuple[str, ...], limit: int = CANDIDATE_CHUNKS) -> None:
        super().__init__()
        self.audiences = audiences
        self.limit = limit
        self.degraded = False

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        try:
            passages = kb_services.search_passages(
                query_bundle.query_str, audiences=self.audiences, limit=self.limit
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
            if p.audience in self.audiences
        ]

    def _database_passages(self, query: str) -> list[kb_services.Passage]:
        """Sections of the articles the database full-text search finds."""
        results = kb_services.search_articles(query, audiences=self.audiences, per_page=3)
        passages: list[kb_services.Passage] = []
        for rank, hit in enumerate(results.hits):
            article = kb_services.get_article(hit.slug, audiences=self.audiences)
            if article is None:
                continue
            for position, (anchor, heading, text) in enumerate(article.sections[:4]):
                passages.append(
                    kb_services.Passage(
                        id=f"{article.slug}__db{position}", slug=article.slug,
                        title=article.title, heading=heading, anchor=anchor,
                        category=article.category, audience=article.audience, text=text,
                        score=1.0 / (rank + 1) - position * 0.01,
                        url=f"/kb/{article.slug}" + (f"#{anchor}" if anchor else ""),
                    )
                )
        return passages


def retrieve(
    message: str, *, audiences: tuple[str, ...], history: list[str] | None = None
) -> Retrieval:
    query = contextual_query(message, history or [])
    retriever = KnowledgeBaseRetriever(audiences=audiences)
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
    confidence = ranking.answer_probability(ranked)
    if retriever.degraded:
        # Keyword-only fallback scores are ranks, not similarities: answer only the top hit.
        confidence = 1.0 if sources else 0.0
    return Retrieval(query, sources, confidence, retriever.degraded, nodes)


def _passage_of(node: NodeWithScore) -> kb_services.Passage:
    meta = node.node.metadata
    return kb_services.Passage(
        id=node.node.node_id, slug=meta["slug"], title=meta["title"], heading=meta["heading"],
        anchor=meta["anchor"], category=meta["category"], audience=meta["audience"],
        text=node.node.get_content(), score=node.score or 0.0, url=meta["url"],
        extra=dict(meta.get("features") or {}),
    )
