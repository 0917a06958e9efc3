"""Article passages for the chatbot: chunking, embedding, and a hybrid chunk index.

Articles are cut along their level 2/3 headings (the same anchors as the article
page), long sections into pieces of about `CHUNK_WORDS` words at line boundaries.
Each chunk is stored in its own Meilisearch index with a `userProvided` vector.
Vectors are cached in that index by a hash of the embedded text, so re-syncing an
article whose text did not change never runs the model again.

Search runs a keyword query (shaped: Meilisearch reads at most ten words) and a
vector query (the full text) in one multi-search, then reranks the union by
vector similarity + BM25 over the whole question + similarity to the title
(measured better than Meilisearch's score blend or reciprocal rank fusion).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

import numpy as np
from flask import current_app

from portal.kb.documents import FENCE_RE, HEADING_RE, ParsedArticle
from portal.kb.embedding import DIMENSIONS, MAX_WORD_PIECES, get_embedder, text_hash
from portal.kb.engine import get_engine
from portal.kb.rendering import plain_text, slugify_heading

log = logging.getLogger(__name__)

INDEX = "chunks"
EMBEDDER = "minilm"
CHUNK_WORDS = 120
MIN_TAIL_WORDS = 30
RRF_K = 60
KEYWORD_WORDS = 10
TASK_TIMEOUT_MS = 120_000

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can cannot could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in into
    is it its itself just let me more most my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    im i'm ive i've dont don't doesnt doesn't cant can't wont won't please thanks thank hi hello
    hey get got also still want need know tell way using use used like one would could us via
    anyone someone something anything help question problem issue trying try tried""".split()
)
_WORD = re.compile(r"[\w][\w.'/+-]*[\w]|[\w]", re.UNICODE)


@dataclass(frozen=True)
class Chunk:
    id: str
    slug: str
    title: str
    heading: str
    anchor: str
    category: str
    audience: str
    position: int
    text: str

    @property
    def embed_text(self) -> str:
        prefix = self.title if self.heading == self.title else f"{self.title} — {self.heading}"
        return f"{prefix}\n{self.text}"


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk with where it comes from (for citations)."""

    id: str
    slug: str
    title: str
    heading: str
    anchor: str
    category: str
    audience: str
    text: str
    score: float
    url: str
    keyword_rank: int | None = None
    vector_rank: int | None = None
    vector_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


# --- chunking ------------------------------------------------------------------------


def _sections(title: str, body: str) -> list[tuple[str, str, list[str]]]:
    """(anchor, heading, plain lines) per level 2/3 section; anchors match the article page."""
    out: list[tuple[str, str, list[str]]] = []
    heading, anchor = title, ""
    lines: list[str] = []
    used: dict[str, int] = {}
    in_fence = False
    for line in body.split("\n"):
        if FENCE_RE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING_RE.match(line)
        if match and len(match.group(1)) in (2, 3):
            out.append((anchor, heading, lines))
            heading = plain_text(match.group(2)) or match.group(2)
            base = slugify_heading(heading)
            count = used.get(base, 0)
            used[base] = count + 1
            anchor = base if count == 0 else f"{base}-{count}"
            lines = []
            continue
        if match and len(match.group(1)) == 1 and plain_text(match.group(2)) == title:
            continue  # a repeated title adds nothing
        text = plain_text(line)
        if text:
            # Keep list items recognisable for the extractive answerer.
            lines.append(("- " if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+", line) else "") + text)
    out.append((anchor, heading, lines))
    return [(a, h, ls) for a, h, ls in out if ls or a]


def _pieces(lines: list[str], max_words: int) -> list[list[str]]:
    """Consecutive lines grouped into pieces of at most max_words (long lines are split)."""
    units: list[str] = []
    for line in lines:
        words = line.split()
        if len(words) <= max_words:
            units.append(line)
            continue
        sentences = re.split(r"(?<=[.!?])\s+", line)
        current: list[str] = []
        for sentence in sentences:
            for start in range(0, len(sentence.split()), max_words):
                part = " ".join(sentence.split()[start : start + max_words])
                if current and len(" ".join(current).split()) + len(part.split()) > max_words:
                    units.append(" ".join(current))
                    current = []
                current.append(part)
        if current:
            units.append(" ".join(current))
    pieces: list[list[str]] = []
    count = 0
    for unit in units:
        size = len(unit.split())
        if pieces and count + size <= max_words:
            pieces[-1].append(unit)
            count += size
        else:
            pieces.append([unit])
            count = size
    # A short tail reads better with the piece before it.
    if len(pieces) > 1 and sum(len(u.split()) for u in pieces[-1]) < MIN_TAIL_WORDS:
        pieces[-2].extend(pieces.pop())
    return pieces


def build_chunks(article: ParsedArticle, max_words: int = CHUNK_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for anchor, heading, lines in _sections(article.title, article.body):
        if not lines:
            lines = [heading]
        for piece in _pieces(lines, max_words):
            position = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{_safe_id(article.slug)}__{position}",
                    slug=article.slug,
                    title=article.title,
                    heading=heading,
                    anchor=anchor,
                    category=article.category,
                    audience=article.audience,
                    position=position,
                    text="\n".join(piece),
                )
            )
    return chunks


def _safe_id(slug: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", slug)


# --- query shaping -------------------------------------------------------------------


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def keyword_query(text: str, max_words: int = KEYWORD_WORDS) -> str:
    """At most `max_words` distinct content words, first ones first.

    Meilisearch ignores words after the tenth, so a long question must be
    condensed; the opening of a message (its subject line) carries the most.
    """
    seen: list[str] = []
    for word in content_words(text):
        if word not in seen:
            seen.append(word)
        if len(seen) == max_words:
            break
    return " ".join(seen) if seen else text.strip()[:200]


# --- the index -----------------------------------------------------------------------


def _index_uid() -> str:
    return get_engine().index_name(INDEX)


_ready: set[str] = set()


def ensure_index() -> None:
    """Create the index and its settings once per process and prefix."""
    uid = _index_uid()
    if uid in _ready:
        return

    def setup(client: Any) -> None:
        task = client.create_index(uid, {"primaryKey": "id"})
        client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        task = client.index(uid).update_settings(
            {
                "searchableAttributes": ["title", "heading", "text"],
                "filterableAttributes": ["audience", "slug", "category"],
                "displayedAttributes": [
                    "id", "slug", "title", "heading", "anchor", "category", "audience",
                    "position", "text", "text_hash",
                ],
                "embedders": {EMBEDDER: {"source": "userProvided", "dimensions": DIMENSIONS}},
            }
        )
        client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)

    get_engine().call(setup)
    _ready.add(uid)


def _filter_in(attribute: str, values: Iterable[str]) -> str:
    quoted = ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return f"{attribute} IN [{quoted}]"


def _fetch_documents(client: Any, *, uid: str, params: dict[str, Any]) -> Any:
    return client.index(uid).get_documents(params)


def _cached_vectors(slugs: Sequence[str]) -> dict[str, list[float]]:
    """Vectors already in the index, by text hash."""
    uid = _index_uid()
    cached: dict[str, list[float]] = {}
    for start in range(0, len(slugs), 100):
        batch = slugs[start : start + 100]
        offset = 0
        while True:
            params = {
                "filter": _filter_in("slug", batch),
                "fields": ["text_hash", "_vectors"],
                "retrieveVectors": True,
                "limit": 1000,
                "offset": offset,
            }
            result = get_engine().call(partial(_fetch_documents, uid=uid, params=params))
            for doc in result.results:
                data = dict(doc)
                vectors = data.get("_vectors") or {}
                entry = vectors.get(EMBEDDER)
                embeddings = entry.get("embeddings") if isinstance(entry, dict) else entry
                if embeddings and data.get("text_hash"):
                    first = embeddings[0] if isinstance(embeddings[0], list) else embeddings
                    cached[data["text_hash"]] = first
            offset += len(result.results)
            if offset >= result.total or not result.results:
                break
    return cached


def index_article_chunks(articles: list[ParsedArticle]) -> None:
    """Replace the chunks of these articles (only published ones are kept)."""
    if not articles:
        return
    ensure_index()
    uid = _index_uid()
    slugs = [a.slug for a in articles]
    chunks = [c for a in articles if a.status == "published" for c in build_chunks(a)]
    cached = _cached_vectors(slugs)
    hashes = [text_hash(c.embed_text) for c in chunks]
    missing = [i for i, h in enumerate(hashes) if h not in cached]
    if missing:
        vectors = get_embedder().encode([chunks[i].embed_text for i in missing])
        for row, i in enumerate(missing):
            cached[hashes[i]] = [float(x) for x in vectors[row]]
    documents = [
        {
            "id": c.id,
            "slug": c.slug,
            "title": c.title,
            "heading": c.heading,
            "anchor": c.anchor,
            "category": c.category,
            "audience": c.audience,
            "position": c.position,
            "text": c.text,
            "text_hash": h,
            "_vectors": {EMBEDDER: cached[h]},
        }
        for c, h in zip(chunks, hashes, strict=True)
    ]

    def replace(client: Any) -> None:
        index = client.index(uid)
        tasks = [index.delete_documents(filter=_filter_in("slug", slugs))]
        for start in range(0, len(documents), 500):
            tasks.append(index.add_documents(documents[start : start + 500]))
        for task in tasks:
            done = client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
            if done.status != "succeeded":
                raise RuntimeError(f"chunk index update failed: {done.error}")

    get_engine().call(replace)
    _stats.pop(uid, None)
    log.info("indexed %d chunks (%d embedded) for %d articles", len(chunks), len(missing),
             len(articles))


def delete_article_chunks(slugs: list[str]) -> None:
    if not slugs:
        return
    ensure_index()
    uid = _index_uid()

    def delete(client: Any) -> None:
        task = client.index(uid).delete_documents(filter=_filter_in("slug", slugs))
        client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)

    get_engine().call(delete)


def _passage(hit: dict[str, Any], score: float) -> Passage:
    anchor = hit.get("anchor") or ""
    slug = hit["slug"]
    return Passage(
        id=hit["id"],
        slug=slug,
        title=hit.get("title", slug),
        heading=hit.get("heading", ""),
        anchor=anchor,
        category=hit.get("category", ""),
        audience=hit.get("audience", "public"),
        text=hit.get("text", ""),
        score=score,
        url=f"/kb/{slug}" + (f"#{anchor}" if anchor else ""),
    )


def search_passages(
    query: str,
    *,
    audiences: tuple[str, ...],
    limit: int = 8,
    vector: list[float] | None = None,
    depth: int | None = None,
    keyword_words: int | None = None,
) -> list[Passage]:
    """The best chunks for a question among the given audiences, fused keyword + vector.

    `vector` is the embedding of the question (computed here when omitted).
    Raises EngineUnavailable when Meilisearch cannot be reached.
    """
    if not audiences or not query.strip():
        return []
    ensure_index()
    uid = _index_uid()
    depth = depth or max(limit * 4, int(current_app.config.get("CHAT_RETRIEVAL_DEPTH", 40)))
    words = keyword_words or KEYWORD_WORDS
    if vector is None:
        vector = get_embedder().encode_one(query)
    audience_filter = _filter_in("audience", audiences)

    def run(client: Any) -> list[dict[str, Any]]:
        return client.multi_search(
            [
                {
                    "indexUid": uid,
                    "q": keyword_query(query, words),
                    "filter": audience_filter,
                    "limit": depth,
                    "matchingStrategy": "frequency",
                    "showRankingScore": True,
                },
                {
                    "indexUid": uid,
                    "q": "",
                    "vector": vector,
                    "hybrid": {"embedder": EMBEDDER, "semanticRatio": 1.0},
                    "filter": audience_filter,
                    "limit": depth,
                    "showRankingScore": True,
                },
            ]
        )["results"]

    keyword_result, vector_result = get_engine().call(run)
    return rerank(query, keyword_result["hits"][:20], vector_result["hits"], vector, limit=limit)


# --- reranking -----------------------------------------------------------------------
# Measured on the shared dev sets (docs/chat.md): the vector ranking alone beats
# Meilisearch's keyword and hybrid rankings on long questions; adding a BM25 score
# over the whole question (no ten-word limit) and the similarity of the question
# to the article title lifts hit@1 further. Weights were fitted on those sets.
BM25_WEIGHT = 0.3
TITLE_WEIGHT = 0.1
STATS_TTL_SECONDS = 60.0


def stem(word: str) -> str:
    for suffix in ("ing", "es", "s", "ed"):
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    return [stem(w) for w in content_words(text)]


@dataclass
class _CorpusStats:
    idf: dict[str, float]
    average_length: float
    loaded_at: float


_stats: dict[str, _CorpusStats] = {}
_stats_lock = threading.Lock()


def _corpus_stats() -> _CorpusStats:
    """Document frequencies over every chunk, cached per index for a minute."""
    uid = _index_uid()
    cached = _stats.get(uid)
    if cached and time.monotonic() - cached.loaded_at < STATS_TTL_SECONDS:
        return cached
    with _stats_lock:
        frequencies: dict[str, int] = {}
        total_length = count = offset = 0
        while True:
            params = {"fields": ["title", "heading", "text"], "limit": 1000, "offset": offset}
            page = get_engine().call(partial(_fetch_documents, uid=uid, params=params))
            for doc in page.results:
                data = dict(doc)
                words = terms(f"{data.get('title', '')} {data.get('heading', '')} "
                              f"{data.get('text', '')}")
                total_length += len(words)
                count += 1
                for word in set(words):
                    frequencies[word] = frequencies.get(word, 0) + 1
            offset += len(page.results)
            if not page.results or offset >= page.total:
                break
        idf = {
            w: math.log(1 + (count - df + 0.5) / (df + 0.5)) for w, df in frequencies.items()
        }
        stats = _CorpusStats(idf, total_length / max(count, 1), time.monotonic())
        _stats[uid] = stats
        return stats


def _bm25(query_terms: set[str], chunk_terms: list[str], stats: _CorpusStats) -> float:
    k1, b = 1.2, 0.75
    tf: dict[str, int] = {}
    for word in chunk_terms:
        tf[word] = tf.get(word, 0) + 1
    norm = k1 * (1 - b + b * len(chunk_terms) / max(stats.average_length, 1.0))
    return sum(
        stats.idf.get(w, 0.0) * tf[w] * (k1 + 1) / (tf[w] + norm) for w in query_terms if w in tf
    )


@lru_cache(maxsize=4096)
def _title_vector(title: str) -> tuple[float, ...]:
    return tuple(get_embedder().encode_one(title))


def rerank(
    query: str,
    keyword_hits: list[dict[str, Any]],
    vector_hits: list[dict[str, Any]],
    vector: list[float],
    *,
    limit: int,
) -> list[Passage]:
    hits: dict[str, dict[str, Any]] = {}
    cosine: dict[str, float] = {}
    for hit in vector_hits:
        hits[hit["id"]] = hit
        cosine[hit["id"]] = float(hit.get("_rankingScore", 0.0))
    floor = min(cosine.values(), default=0.0)
    for hit in keyword_hits:
        hits.setdefault(hit["id"], hit)
    if not hits:
        return []
    stats = _corpus_stats()
    query_terms = set(terms(query))
    query_weight = sum(stats.idf.get(w, 0.0) for w in query_terms) or 1.0
    query_vector = np.asarray(vector, dtype=np.float32)
    titles = {hit.get("title", "") for hit in hits.values()}
    title_cos = {t: float(np.dot(query_vector, _title_vector(t))) for t in titles}
    scored: list[Passage] = []
    for chunk_id, hit in hits.items():
        chunk_terms = terms(f"{hit.get('title', '')} {hit.get('heading', '')} "
                            f"{hit.get('text', '')}")
        lexical = _bm25(query_terms, chunk_terms, stats) / query_weight
        semantic = cosine.get(chunk_id, floor)
        title_similarity = title_cos[hit.get("title", "")]
        score = semantic + BM25_WEIGHT * lexical + TITLE_WEIGHT * title_similarity
        passage = _passage(hit, score)
        passage.extra.update(cosine=semantic, bm25=lexical, title_cos=title_similarity)
        scored.append(passage)
    scored.sort(key=lambda p: p.score, reverse=True)
    return scored[:limit]


def word_pieces(text: str) -> int:
    return get_embedder().count_word_pieces(text)


__all__ = [
    "Chunk", "Passage", "build_chunks", "delete_article_chunks", "index_article_chunks",
    "keyword_query", "search_passages", "MAX_WORD_PIECES",
]
