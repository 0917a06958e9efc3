"""The search box: keywords on Meilisearch's article index, questions by meaning over the
chunk index (the bot's retrieval), the database while Meilisearch is away."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select

from portal.extensions import db
from portal.kb import fallback, search_index
from portal.kb.chunks import search_passages, spelling_corrections
from portal.kb.documents import SLUG_RE
from portal.kb.embedding import EmbeddingUnavailable
from portal.kb.engine import EngineApiError, EngineUnavailable, get_engine
from portal.kb.lexicon import STOPWORDS, content_words
from portal.kb.models import KbArticle, visible_articles
from portal.kb.ranking import rank_articles
from portal.kb.sync import chunk_updates_waiting, replay_pending

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_PER_PAGE = 50
_SPACES = re.compile(r"\s+")


# --- returned data ------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    slug: str
    title: str
    category: str
    url: str
    summary: str
    title_html: Markup
    snippet_html: Markup
    position: int
    # The section the snippet comes from (the URL links to it); "" for the article's opening.
    section: str = ""


@dataclass(frozen=True)
class SearchResults:
    query: str
    hits: list[SearchHit]
    total: int
    page: int
    per_page: int
    facets: dict[str, int]
    category: str | None
    degraded: bool
    # Ranked by meaning (the bot's retrieval) rather than by matching words.
    natural: bool = False
    # Even the best result is not close: a failed search for the content-gap report.
    weak: bool = False
    # The query held only words too common to search for ("how do I").
    only_stop_words: bool = False
    # What was searched for when typos were corrected ("degres" -> "degrees").
    corrected_query: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


# --- search --------------------------------------------------------------------------------


def normalise_query(query: str | None) -> str:
    cleaned = _SPACES.sub(" ", (query or "").replace("\x00", "")).strip()
    # Meilisearch reads only the first ten words; a huge query must not cost more.
    return cleaned[:MAX_QUERY_CHARS].strip()


_PARTIAL_WORD = re.compile("\x03(\\w+)")


def _marked(value: str) -> Markup:
    # A typo-tolerant match can highlight part of a word; mark the whole word.
    value = _PARTIAL_WORD.sub(lambda m: m.group(1) + search_index.HIGHLIGHT_POST, value)
    escaped = fallback.escape(value)
    escaped = escaped.replace(search_index.HIGHLIGHT_PRE, "<mark>")
    escaped = escaped.replace(search_index.HIGHLIGHT_POST, "</mark>")
    return Markup(escaped)  # noqa: S704 - escaped above; only our own <mark> tags added


def is_natural_query(text: str) -> bool:
    """A question or a description of a problem, as opposed to a few keywords or a word
    being typed: several words, at least two of them content words, or a question."""
    words = text.split()
    content = content_words(text)
    if len(content) >= NATURAL_MIN_CONTENT_WORDS and len(words) >= NATURAL_MIN_WORDS:
        return True
    return text.rstrip().endswith("?") and len(words) >= 3 and bool(content)


# "How do I cancel my subscription" is natural; "cancel subscription", "thermostst" and
# "how do i canc" (still being typed) are for the keyword engine's prefix and typo matching.
NATURAL_MIN_WORDS = 4
NATURAL_MIN_CONTENT_WORDS = 2
# Chunks fetched for a natural query's first page, by meaning and in all (later pages fetch
# more, see `_semantic_depth`). Meilisearch's vector search costs about in proportion to how
# many chunks it returns (10,000 articles: 20 in ~3 ms, 60 in ~6 ms on this machine), the
# largest part of a question's time after the embedding, and the reranking is in proportion
# too. Against 60: search-dev hit@3 0.95 -> 0.975, WixQA search-box hit@5 0.988 -> 1.00,
# TechQA 0.930 -> 0.916 (two of 142 questions). 15 lost more: TechQA 0.909, search-dev
# hit@5 0.975.
SEMANTIC_CHUNKS = 20
# Below this cosine the best article is not close to what was asked (the chat hands off
# there too, see chat.ranking.MIN_TOP_COSINE, and its answerable questions sit above 0.35).
WEAK_COSINE = 0.35
# Meilisearch's ranking score of a keyword match that only shares a word or a typo.
WEAK_KEYWORD_SCORE = 0.35


def search_articles(
    query: str,
    *,
    audiences: Sequence[str],
    category: str | None = None,
    page: int = 1,
    per_page: int = 10,
) -> SearchResults:
    """Search over the articles the audiences may see (falls back to the database).

    Questions and descriptions of a problem are ranked by the bot's retrieval (meaning and
    keywords over sections, `rank_articles`); short queries, prefixes and typos by
    Meilisearch's keyword search, instant and highlighted. An empty query lists a category
    when one is given, otherwise finds nothing.
    """
    text = normalise_query(query)
    if category and not SLUG_RE.fullmatch(category):
        category = None
    page = max(1, min(int(page or 1), 100))
    per_page = max(1, min(int(per_page or 10), MAX_PER_PAGE))
    offset = (page - 1) * per_page
    if not text and not category:
        return SearchResults(text, [], 0, page, per_page, {}, category, False)
    only_stop_words = bool(text) and not category and not _has_search_word(text)
    engine = get_engine()
    if only_stop_words:
        # "how do I", "?" or emoji: nothing to search for; say so instead of listing noise.
        if engine.available():
            _replay_quietly()
        return SearchResults(text, [], 0, page, per_page, {}, category, not engine.available(),
                             only_stop_words=True)
    if engine.available():
        natural = bool(text) and is_natural_query(text)
        if natural:
            semantic = _by_meaning(text, audiences, category, page, per_page)
            # No passages yet (the chunk index is still being built): keywords answer.
            if semantic is not None and semantic.hits:
                _replay_quietly()
                return semantic
        try:
            raw = search_index.search(
                text, audiences=audiences, category=category, offset=offset, limit=per_page
            )
        except (EngineUnavailable, EngineApiError) as exc:
            log.warning("search fell back to the database: %s", exc)
        else:
            _replay_quietly()
            keyword = _from_engine(text, raw, page, per_page, category, offset)
            if keyword.weak and (natural or len(content_words(text)) >= 2):
                # Words that match nothing well ("uni student price"): try their meaning.
                semantic = _by_meaning(text, audiences, category, page, per_page)
                if semantic is not None and not semantic.weak:
                    return semantic
            return keyword
    return _from_database(text, audiences, category, page, per_page, offset)


_SEARCH_WORD = re.compile(r"\w", re.UNICODE)


def _by_meaning(
    text: str, audiences: Sequence[str], category: str | None, page: int, per_page: int
) -> SearchResults | None:
    # The embedding model reads a typo as another word; Meilisearch's typo tolerance
    # does not reach it.
    meant = _spelling_corrected(text)
    results = _semantic(meant, audiences, category, page, per_page)
    if results is None or meant == text:
        return results
    return replace(results, query=text, corrected_query=meant)


def _spelling_corrected(text: str) -> str:
    """The query with each word the KB never uses replaced by the KB word it most likely
    meant ("recipt for my order" -> "receipt for my order"); as typed when unsure."""
    try:
        corrections = spelling_corrections(text)
    except (EngineUnavailable, EngineApiError):
        return text
    for typed, meant in corrections.items():
        text = re.sub(rf"(?<!\w){re.escape(typed)}(?!\w)", meant, text, flags=re.IGNORECASE)
    return text


def _has_search_word(text: str) -> bool:
    """Words the stop list does not know (another script, a code like "E5") still search."""
    return any(_SEARCH_WORD.search(w) and w.lower() not in STOPWORDS for w in text.split())


def _semantic(
    text: str, audiences: Sequence[str], category: str | None, page: int, per_page: int
) -> SearchResults | None:
    """The bot's retrieval as a results page; None when it cannot run (keywords then)."""
    depth = _semantic_depth(page, per_page)
    try:
        passages = search_passages(text, audiences=tuple(audiences), limit=depth, depth=depth)
    except (EngineUnavailable, EngineApiError, EmbeddingUnavailable) as exc:
        log.warning("natural-language search fell back to keywords: %s", exc)
        return None
    ranked = [a for a in rank_articles(passages) if a.passages[0].audience in audiences]
    facets = dict(Counter(a.passages[0].category for a in ranked))
    if category:
        ranked = [a for a in ranked if a.passages[0].category == category]
    weak = not ranked or max(a.features["cosine"] for a in ranked) < WEAK_COSINE
    offset = (page - 1) * per_page
    shown = ranked[offset : offset + per_page]
    summaries = {a.slug: a.passages[0].summary for a in shown}
    # Chunks indexed before they carried the summary: read those from the database.
    summaries.update(_summaries([s for s, summary in summaries.items() if not summary],
                                audiences))
    words = content_words(text)
    pre, post = search_index.HIGHLIGHT_PRE, search_index.HIGHLIGHT_POST
    hits = []
    for position, article in enumerate(shown, start=offset + 1):
        best = article.passages[0]
        section = "" if best.heading == best.title else best.heading
        snippet = fallback.crop(best.text.replace("\n", " "), words, search_index.CROP_WORDS)
        hits.append(SearchHit(
            slug=article.slug, title=best.title, category=best.category, url=best.url,
            summary=summaries.get(article.slug, ""),
            title_html=_marked(fallback.highlight(best.title, words, pre, post)),
            snippet_html=_marked(fallback.highlight(snippet, words, pre, post)),
            position=position, section=section,
        ))
    return SearchResults(text, hits, len(ranked), page, per_page, facets, category, False,
                         natural=True, weak=weak)


def _semantic_depth(page: int, per_page: int) -> int:
    """Chunks to fetch: enough for the first page, and about two per article up to the
    page asked for (an article often has several chunks among the candidates)."""
    return max(SEMANTIC_CHUNKS, 2 * page * per_page)


def _summaries(slugs: Sequence[str], audiences: Sequence[str]) -> dict[str, str]:
    if not slugs:
        return {}
    rows = db.session.execute(
        select(KbArticle.slug, KbArticle.summary)
        .where(KbArticle.slug.in_(list(slugs)), visible_articles(audiences)))
    return {str(slug): str(summary or "") for slug, summary in rows}


def _replay_quietly() -> None:
    try:
        replay_pending(chunks=False)
    except (EngineUnavailable, EngineApiError):
        db.session.rollback()
        return
    if chunk_updates_waiting():
        _replay_chunks_in_background()


_chunk_replayer = threading.Lock()


def _replay_chunks_in_background() -> None:
    """Chunk updates embed text, too slow for a search request: one thread per process."""
    if not _chunk_replayer.acquire(blocking=False):
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def replay() -> None:
        try:
            with app.app_context():
                replay_pending(chunks=True)
        except Exception:  # noqa: BLE001 - the queue keeps them; the next search retries
            log.warning("chunk index replay failed", exc_info=True)
        finally:
            _chunk_replayer.release()

    threading.Thread(target=replay, name="chunk-replay", daemon=True).start()


def _from_engine(
    text: str, raw: dict[str, Any], page: int, per_page: int, category: str | None, offset: int
) -> SearchResults:
    hits = []
    for position, hit in enumerate(raw.get("hits", []), start=offset + 1):
        formatted = hit.get("_formatted") or {}
        body = str(formatted.get("body") or "")
        summary = str(formatted.get("summary") or hit.get("summary") or "")
        snippet = body if search_index.HIGHLIGHT_PRE in body or not summary else summary
        hits.append(SearchHit(
            slug=hit["slug"], title=hit["title"], category=hit["category"], url=hit["url"],
            summary=hit.get("summary", ""),
            title_html=_marked(str(formatted.get("title") or hit["title"])),
            snippet_html=_marked(snippet), position=position,
        ))
    facets = {
        str(k): int(v) for k, v in (raw.get("facetDistribution") or {}).get("category", {}).items()
    }
    total = int(raw.get("estimatedTotalHits") or raw.get("totalHits") or len(hits))
    scores = [float(h.get("_rankingScore", 1.0)) for h in raw.get("hits", [])]
    weak = bool(text) and (not scores or max(scores) < WEAK_KEYWORD_SCORE)
    return SearchResults(text, hits, total, page, per_page, facets, category, False, weak=weak)


def _from_database(
    text: str, audiences: Sequence[str], category: str | None, page: int, per_page: int,
    offset: int,
) -> SearchResults:
    words = fallback.terms(text)
    if not words:
        rows = db.session.scalars(
            select(KbArticle).where(visible_articles(audiences), KbArticle.category == category)
            .order_by(KbArticle.title).offset(offset).limit(per_page)
        ).all()
        total = db.session.scalar(
            select(func.count()).select_from(KbArticle)
            .where(visible_articles(audiences), KbArticle.category == category)
        ) or 0
        hits = [
            SearchHit(r.slug, r.title, r.category, f"/kb/{r.slug}", r.summary,
                      _marked(r.title), _marked(r.summary), offset + n)
            for n, r in enumerate(rows, start=1)
        ]
        return SearchResults(text, hits, int(total), page, per_page, {}, category, True)
    found, total, facets = fallback.search(
        text, audiences=audiences, category=category, offset=offset, limit=per_page
    )
    pre, post = search_index.HIGHLIGHT_PRE, search_index.HIGHLIGHT_POST
    hits = []
    for n, hit in enumerate(found, start=offset + 1):
        snippet = fallback.crop(hit.search_text, words) or hit.summary
        hits.append(SearchHit(
            hit.slug, hit.title, hit.category, f"/kb/{hit.slug}", hit.summary,
            _marked(fallback.highlight(hit.title, words, pre, post)),
            _marked(fallback.highlight(snippet, words, pre, post)), n,
        ))
    return SearchResults(text, hits, total, page, per_page, facets, category, True)
