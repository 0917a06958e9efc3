"""Article passages for the chatbot: embedding and a hybrid chunk index.

Articles are cut into passages by `kb.chunking`; each chunk is stored in its own
Meilisearch index with a `userProvided` vector.
Vectors are cached in that index by a hash of the embedded text, so re-syncing an
article whose text did not change never runs the model again. Their sentences are
embedded alongside, into the database (`kb.sentences`).

Search runs a keyword query (shaped: Meilisearch reads at most ten words) and a
vector query (the full text) in one multi-search and returns the union with the
features the chat's article ranker uses (`rerank`): exact cosines to the question
and its subject line, BM25 over the whole question on the chunk, its article and
its title, and title similarity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from flask import current_app

from portal.kb.chunking import build_chunks
from portal.kb.documents import ParsedArticle
from portal.kb.embedding import DIMENSIONS, MAX_WORD_PIECES, get_embedder, text_hash
from portal.kb.engine import get_engine
from portal.kb.lexicon import Bm25, content_words, stem, terms
from portal.kb.sentences import delete_sentence_vectors, store_sentence_vectors
from portal.kb.spelling import Speller

log = logging.getLogger(__name__)

INDEX = "chunks"
EMBEDDER = "minilm"
KEYWORD_WORDS = 10
TASK_TIMEOUT_MS = 120_000

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
    # The article's summary ("" in an index synced before chunks carried it).
    summary: str = ""


# --- query shaping -------------------------------------------------------------------


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
    ensure_vector_index(_index_uid(), {
        "searchableAttributes": ["title", "heading", "text"],
        "filterableAttributes": ["audience", "slug", "category"],
        "displayedAttributes": [
            "id", "slug", "title", "heading", "anchor", "category", "audience",
            "position", "text", "text_hash", "summary",
        ],
    })


def ensure_vector_index(uid: str, settings: dict[str, Any]) -> None:
    """An index of documents with a MiniLM `userProvided` vector (the KB's passages, the
    copilot's solved tickets), created with its settings once per process."""
    if uid in _ready:
        return

    def setup(client: Any) -> None:
        task = client.create_index(uid, {"primaryKey": "id"})
        client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        task = client.index(uid).update_settings({
            **settings,
            "embedders": {EMBEDDER: {"source": "userProvided", "dimensions": DIMENSIONS}},
        })
        done = client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if done.status != "succeeded":
            raise RuntimeError(f"index {uid} settings failed: {done.error}")

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
    summaries = {a.slug: a.summary for a in articles}
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
            # The search box shows it under the title without reading the article's row.
            "summary": summaries.get(c.slug, ""),
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
    # Their sentences too, so that no reply embeds KB text while the customer waits.
    sentences = store_sentence_vectors(articles)
    log.info("indexed %d chunks (%d embedded, %d sentences embedded) for %d articles",
             len(chunks), len(missing), sentences, len(articles))


def delete_article_chunks(slugs: list[str]) -> None:
    if not slugs:
        return
    ensure_index()
    uid = _index_uid()

    def delete(client: Any) -> None:
        task = client.index(uid).delete_documents(filter=_filter_in("slug", slugs))
        client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)

    get_engine().call(delete)
    delete_sentence_vectors(slugs)


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
        summary=hit.get("summary", ""),
    )


def subject_line(query: str) -> str | None:
    """The first line of a multi-line message: a forum post's or an email's subject.

    It states the problem in a few words while the body adds logs and context, so
    it is embedded on its own as a second view of the question.
    """
    lines = [line.strip() for line in query.splitlines() if line.strip()]
    return lines[0] if len(lines) > 1 else None


def search_passages(
    query: str,
    *,
    audiences: tuple[str, ...],
    limit: int = 8,
    vector: list[float] | None = None,
    depth: int | None = None,
    keyword_words: int | None = None,
) -> list[Passage]:
    """The best chunks for a question among the given audiences, keyword + vector candidates.

    `vector` is the embedding of the question (computed here when omitted). Each
    passage carries the ranking features in `extra` (see `rerank`).
    Raises EngineUnavailable when Meilisearch cannot be reached.
    """
    if not audiences or not query.strip():
        return []
    ensure_index()
    uid = _index_uid()
    depth = depth or max(limit * 4, int(current_app.config.get("CHAT_RETRIEVAL_DEPTH", 40)))
    words = keyword_words or KEYWORD_WORDS
    embedder = get_embedder()
    engine = get_engine()
    audience_filter = _filter_in("audience", audiences)
    keyword = {
        "q": keyword_query(query, words), "filter": audience_filter,
        "limit": KEYWORD_CANDIDATES, "matchingStrategy": "frequency",
        "attributesToRetrieve": RETRIEVE,
    }
    # The keyword search needs no vector: it runs while the question is embedded.
    keyword_search = _searches.submit(engine.post_json, f"indexes/{uid}/search", keyword)
    try:
        if vector is None:
            vector = embedder.encode_query(query)
        subject = subject_line(query)
        subject_vector = embedder.encode_query(subject) if subject else vector
        searches = [
            {
                "indexUid": uid, "q": "", "vector": view,
                "hybrid": {"embedder": EMBEDDER, "semanticRatio": 1.0},
                "filter": audience_filter, "limit": depth, "showRankingScore": True,
                "attributesToRetrieve": RETRIEVE,
            }
            for view in ([vector, subject_vector] if subject else [vector])
        ]
        results = engine.post_json("multi-search", {"queries": searches})["results"]
    finally:
        keyword_hits = keyword_search.result()["hits"]
    vector_hits = results[0]["hits"]
    subject_hits = results[1]["hits"] if subject else vector_hits
    return rerank(query, keyword_hits, vector_hits, subject_hits, vector, subject_vector,
                  limit=limit)


def nearest_chunk_cosines(vectors: Sequence[Sequence[float]], slugs: Sequence[str]
                          ) -> dict[str, list[float]]:
    """Each vector's cosine to its nearest chunk of each article: one vector search per
    vector among those articles' chunks (no vector leaves the index)."""
    searches = [{"indexUid": _index_uid(), "q": "", "vector": [float(x) for x in vector],
                 "hybrid": {"embedder": EMBEDDER, "semanticRatio": 1.0},
                 "filter": _filter_in("slug", slugs), "limit": 50 * len(slugs),
                 "showRankingScore": True, "attributesToRetrieve": ["slug"]} for vector in vectors]
    nearest = {slug: [-1.0] * len(searches) for slug in slugs}
    for row, result in enumerate(get_engine().post_json("multi-search", {"queries": searches})
                                 ["results"] if searches else []):
        for hit in result["hits"]:
            cosines = nearest[hit["slug"]]
            cosines[row] = max(cosines[row], 2.0 * float(hit["_rankingScore"]) - 1.0)
    return nearest


# What a passage needs (not the vector, the text's hash or position).
RETRIEVE = ["id", "slug", "title", "heading", "anchor", "category", "audience", "text",
            "summary"]
# Threads for the keyword search beside the question's embedding (one per request at a time).
_searches = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chunk-search")


# --- ranking features ----------------------------------------------------------------
# Each candidate chunk gets the features the chat's article ranker and answer/hand-off
# model were fitted on (portal/chat/ranking.py, bench/chat_calibrate.py): cosine to the
# question and to its subject line (one vector search each), BM25 over the whole question
# (Meilisearch reads only ten words) on the chunk, on its whole article and on the
# article's title, and the cosine of the question to the title. Document frequencies come
# from the whole chunk index, cached per process for a minute.
KEYWORD_CANDIDATES = 20
CHUNK_COSINE_WEIGHT = 0.5
CHUNK_BM25_WEIGHT = 0.3
CHUNK_TITLE_WEIGHT = 0.1
STATS_TTL_SECONDS = 60.0


@dataclass
class _CorpusStats:
    chunks: Bm25
    articles: Bm25
    titles: Bm25
    article_terms: dict[str, Counter[str]]
    title_terms: dict[str, Counter[str]]
    chunk_terms: dict[str, Counter[str]]
    loaded_at: float
    index_updated_at: str = ""
    # Every content word as written, for spelling correction (built on first use).
    words: Counter[str] = field(default_factory=Counter)
    speller: Speller | None = None
    # Terms per chunk (by id) and per article (by slug), counted once here.
    chunk_lengths: dict[str, int] = field(default_factory=dict)
    article_lengths: dict[str, int] = field(default_factory=dict)


_stats: dict[str, _CorpusStats] = {}
_stats_lock = threading.Lock()


def _index_updated_at(client: Any, *, uid: str) -> str:
    return str(client.get_raw_index(uid).get("updatedAt", ""))


def _corpus_stats() -> _CorpusStats:
    """Term statistics over every chunk, article and title of the index.

    Rebuilt only when the index changed (another process may have synced), which is
    checked at most once a minute.
    """
    uid = _index_uid()
    cached = _stats.get(uid)
    if cached and time.monotonic() - cached.loaded_at < STATS_TTL_SECONDS:
        return cached
    with _stats_lock:
        updated_at = get_engine().call(partial(_index_updated_at, uid=uid))
        if cached and cached.index_updated_at == updated_at:
            cached.loaded_at = time.monotonic()
            return cached
        chunk_terms: dict[str, Counter[str]] = {}
        article_terms: dict[str, Counter[str]] = {}
        title_terms: dict[str, Counter[str]] = {}
        titles: set[str] = set()
        words: Counter[str] = Counter()
        offset = 0
        while True:
            params = {"fields": ["id", "slug", "title", "heading", "text"], "limit": 1000,
                      "offset": offset}
            page = get_engine().call(partial(_fetch_documents, uid=uid, params=params))
            for doc in page.results:
                data = dict(doc)
                slug = str(data.get("slug", ""))
                written = content_words(f"{data.get('title', '')} {data.get('heading', '')} "
                                        f"{data.get('text', '')}")
                words.update(written)
                counts = Counter(stem(w) for w in written)
                chunk_terms[str(data.get("id", ""))] = counts
                article_terms.setdefault(slug, Counter()).update(counts)
                title_terms.setdefault(slug, Counter(terms(str(data.get("title", "")))))
                titles.add(str(data.get("title", "")))
            offset += len(page.results)
            if not page.results or offset >= page.total:
                break
        chunk_bm25 = Bm25.fit(chunk_terms.values())
        # Titles are scored with the chunks' word rarity: among a few hundred titles a word
        # every article body uses ("heating" in a heating KB) looks rare, and a title
        # holding it would outrank the article that answers.
        title_bm25 = Bm25(chunk_bm25.idf, Bm25.fit(title_terms.values()).average_length)
        stats = _CorpusStats(
            chunk_bm25, Bm25.fit(article_terms.values()),
            title_bm25, article_terms, title_terms, chunk_terms,
            time.monotonic(), updated_at, words,
            chunk_lengths={key: sum(c.values()) for key, c in chunk_terms.items()},
            article_lengths={key: sum(c.values()) for key, c in article_terms.items()},
        )
        # Embedding every title now (short texts, well under a second for 2,000 articles)
        # spares the first questions from embedding their candidates' titles one by one.
        _title_matrix(list(titles))
        _stats[uid] = stats
        return stats


_title_vectors: dict[str, np.ndarray] = {}
TITLE_CACHE_SIZE = 20_000


def _title_matrix(titles: list[str]) -> np.ndarray:
    """Title embeddings, one row per title; titles not seen before are embedded in one batch."""
    if not titles:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    missing = [t for t in dict.fromkeys(titles) if t not in _title_vectors]
    if missing:
        if len(_title_vectors) + len(missing) > TITLE_CACHE_SIZE:
            _title_vectors.clear()
        for title, row in zip(missing, get_embedder().encode(missing), strict=True):
            _title_vectors[title] = row
    return np.stack([_title_vectors[t] for t in titles])


def _cosines(hits: list[dict[str, Any]]) -> dict[str, float]:
    """Cosine per chunk id from a pure vector search (Meilisearch scores it (1 + cos) / 2)."""
    return {hit["id"]: 2.0 * float(hit.get("_rankingScore", 0.5)) - 1.0 for hit in hits}


def rerank(
    query: str,
    keyword_hits: list[dict[str, Any]],
    vector_hits: list[dict[str, Any]],
    subject_hits: list[dict[str, Any]],
    vector: list[float],
    subject_vector: list[float],
    *,
    limit: int,
) -> list[Passage]:
    """Candidates with their features, best chunk first (cosine + BM25 + title similarity).

    A keyword-only candidate, outside the vector search's depth, is given the lowest cosine
    the vector search returned: it is at most that similar.
    """
    hits: dict[str, dict[str, Any]] = {}
    for hit in [*vector_hits, *keyword_hits]:
        hits.setdefault(hit["id"], hit)
    if not hits:
        return []
    cosine, subject_cosine = _cosines(vector_hits), _cosines(subject_hits)
    floor, subject_floor = min(cosine.values(), default=0.0), min(subject_cosine.values(),
                                                                  default=0.0)
    stats = _corpus_stats()
    query_terms = set(terms(query))
    chunk_bm25, article_bm25, title_bm25 = (bm25.for_query(query_terms) for bm25 in (
        stats.chunks, stats.articles, stats.titles))
    titles = [hit.get("title", "") for hit in hits.values()]
    title_cosines = _title_matrix(titles) @ np.asarray([vector, subject_vector],
                                                       dtype=np.float32).T
    scored: list[Passage] = []
    # The article's and the title's BM25 depend on the article alone: scored once per
    # article, not per candidate chunk (a question's ~250 candidates share far fewer).
    per_article: dict[str, dict[str, float]] = {}
    for row, (chunk_id, hit) in enumerate(hits.items()):
        slug, title = hit["slug"], titles[row]
        counts = stats.chunk_terms.get(chunk_id) or Counter(
            terms(f"{title} {hit.get('heading', '')} {hit.get('text', '')}"))
        features = {
            "cosine": cosine.get(chunk_id, floor),
            "subject_cosine": subject_cosine.get(chunk_id, subject_floor),
            "title_cosine": float(title_cosines[row, 0]),
            "title_subject_cosine": float(title_cosines[row, 1]),
            "bm25": chunk_bm25(counts, stats.chunk_lengths.get(chunk_id)),
        }
        if slug not in per_article or slug not in stats.article_terms:
            per_article[slug] = {
                "article_bm25": article_bm25(stats.article_terms.get(slug, counts),
                                             stats.article_lengths.get(slug)),
                "title_bm25": title_bm25(stats.title_terms.get(slug, Counter())),
            }
        features.update(per_article[slug])
        score = (CHUNK_COSINE_WEIGHT * features["cosine"] + CHUNK_BM25_WEIGHT * features["bm25"]
                 + CHUNK_TITLE_WEIGHT * features["title_cosine"])
        passage = _passage(hit, score)
        passage.extra.update(features)
        scored.append(passage)
    scored.sort(key=lambda p: p.score, reverse=True)
    return scored[:limit]


def word_pieces(text: str) -> int:
    return get_embedder().count_word_pieces(text)


__all__ = [
    "Passage", "nearest_chunk_cosines", "delete_article_chunks", "index_article_chunks",
    "keyword_query", "search_passages", "MAX_WORD_PIECES",
]


def rare_word_coverage(query: str, texts: Sequence[str]) -> float:
    """The share of the question's rare words (weighted by their IDF over the chunk index)
    that appear in the texts: a question about something the KB never mentions scores low
    even when its common words match well."""
    wanted = set(terms(query))
    if not wanted:
        return 0.0
    idf = _corpus_stats().chunks.idf
    # A word the index has never seen is as rare as the rarest word it holds.
    ceiling = max(idf.values(), default=1.0)
    found = set(terms(" ".join(texts)))
    total = sum(idf.get(w, ceiling) for w in wanted)
    return sum(idf.get(w, ceiling) for w in wanted & found) / total if total else 0.0


def articles_holding(words: Iterable[str]) -> dict[str, set[str]]:
    """The articles whose text holds each word (in `lexicon.terms` form), from the index's
    term counts: the copilot finds the few articles naming a ticket's error code exactly."""
    wanted = set(words)
    found: dict[str, set[str]] = {w: set() for w in wanted}
    if wanted:
        for slug, counts in _corpus_stats().article_terms.items():
            for word in wanted & counts.keys():
                found[word].add(slug)
    return found


def unknown_words(text: str) -> list[str]:
    """The query's content words the KB never uses: usually typos ("recipt", "degres"),
    which the keyword engine forgives and the embedding model does not."""
    known = _corpus_stats().chunks.idf
    return [w for w in content_words(text) if stem(w) not in known and not w.isdigit()]


def spelling_corrections(text: str) -> dict[str, str]:
    """The query's words the KB never uses, each with the KB word it most likely meant
    ("degres" -> "degrees"); words with no close KB word are not listed."""
    unknown = unknown_words(text)
    if not unknown:
        return {}
    stats = _corpus_stats()
    if stats.speller is None:
        stats.speller = Speller(stats.words)
    return stats.speller.corrections(unknown)

