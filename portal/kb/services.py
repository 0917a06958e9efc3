"""The knowledge base as other packages (and this package's views) see it."""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal import site
from portal.accounts import services as accounts
from portal.events import EventKind, emit
from portal.extensions import db
from portal.kb import fallback, search_index, sync
from portal.kb.categories import category_name, in_site_order
from portal.kb.chunks import (  # noqa: F401
    STOPWORDS,
    Passage,
    content_words,
    rare_word_coverage,
    search_passages,
    spelling_corrections,
)
from portal.kb.chunks import terms as search_terms  # noqa: F401
from portal.kb.documents import SLUG_RE, ParsedArticle
from portal.kb.embedding import EmbeddingUnavailable, get_embedder
from portal.kb.engine import EngineApiError, EngineUnavailable, get_engine
from portal.kb.models import KbArticle, KbVote
from portal.kb.ranking import (  # noqa: F401
    ARTICLE_FEATURES,
    RANKER_WEIGHTS,
    RankedArticle,
    article_features,
    article_score,
    rank_articles,
)
from portal.kb.rendering import is_table_row, render_markdown
from portal.kb.sync import (
    SyncReport,
    chunk_updates_waiting,
    pending_count,
    replay_pending,
    sync_content,
)

__all__ = [
    "ARTICLE_FEATURES", "RANKER_WEIGHTS", "RankedArticle", "article_features", "article_score",
    "rank_articles",
    "ArticleRef", "ArticleView", "CategoryRef", "Passage", "SearchHit", "SearchResults",
    "EmbeddingUnavailable", "SyncReport", "article_refs", "categories", "content_words",
    "embed_texts", "get_article", "is_table_row", "rare_word_coverage", "search_terms",
    "section_texts",
    "popular_articles",
    "recent_articles", "record_search", "record_search_click", "record_view", "record_vote",
    "related_articles", "search_articles", "search_degraded", "search_health",
    "search_passages", "sync_content", "visible_audiences", "pending_count", "replay_pending",
]

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_COMMENT_CHARS = 2000
MAX_PER_PAGE = 50
_SPACES = re.compile(r"\s+")


# --- returned data ------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleRef:
    slug: str
    title: str
    category: str
    url: str
    summary: str = ""
    updated: date | None = None


@dataclass(frozen=True)
class CategoryRef:
    slug: str
    name: str
    count: int
    url: str
    description: str = ""
    icon: str = ""


@dataclass(frozen=True)
class ArticleView:
    slug: str
    title: str
    category: str
    summary: str
    url: str
    html: Markup
    sections: list[tuple[str, str, str]]
    updated: date | None
    category_name: str = ""
    tags: tuple[str, ...] = ()
    toc: list[tuple[int, str, str]] = field(default_factory=list)
    changed_at: datetime | None = None
    audience: str = "public"


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


# --- visibility ----------------------------------------------------------------------------


STAFF_AUDIENCES = ("public", "customers", "internal")


def visible_audiences(user: Any) -> tuple[str, ...]:
    if user is None or not getattr(user, "is_authenticated", False):
        return ("public",)
    if getattr(user, "is_staff", False):
        return STAFF_AUDIENCES
    # Anyone can register with any address: customer articles wait until the customer
    # has proven the address is theirs.
    if not accounts.is_verified(user):
        return ("public",)
    return ("public", "customers")


def _visible(audiences: Sequence[str]) -> Any:
    return (KbArticle.status == "published") & KbArticle.audience.in_(list(audiences))


def _ref(row: KbArticle) -> ArticleRef:
    return ArticleRef(row.slug, row.title, row.category, f"/kb/{row.slug}", row.summary,
                      row.updated)


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
# Chunks fetched for a natural query, by meaning and in all: enough for three pages of
# distinct articles. The chat's default depth (four times the passages kept) fetched 240
# and ranked no better on the dev sets (search-dev hit@3 0.95 either way, TechQA
# search-box hit@5 0.930 against 0.923) while moving four times the text.
SEMANTIC_CHUNKS = 60
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
    try:
        passages = search_passages(text, audiences=tuple(audiences), limit=SEMANTIC_CHUNKS,
                                   depth=SEMANTIC_CHUNKS)
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
    summaries = {r.slug: r.summary for r in article_refs([a.slug for a in shown], audiences)}
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
            select(KbArticle).where(_visible(audiences), KbArticle.category == category)
            .order_by(KbArticle.title).offset(offset).limit(per_page)
        ).all()
        total = db.session.scalar(
            select(func.count()).select_from(KbArticle)
            .where(_visible(audiences), KbArticle.category == category)
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


def new_search_id() -> str:
    return secrets.token_urlsafe(9)


def record_search(
    query: str, results: int, *, source: str = "kb", visitor_id: str | None = None,
    user_id: int | None = None, search_id: str | None = None,
) -> str:
    """Record one search for the content-gap metrics; returns its search_id."""
    search_id = search_id or new_search_id()
    emit(EventKind.SEARCH, commit=True, visitor_id=visitor_id, user_id=user_id,
         query=normalise_query(query), results=int(results), search_id=search_id, source=source)
    return search_id


def record_search_click(
    slug: str, *, search_id: str, query: str, position: int, visitor_id: str | None,
    user_id: int | None = None,
) -> None:
    emit(EventKind.SEARCH_CLICK, commit=True, article_slug=slug, visitor_id=visitor_id,
         user_id=user_id, search_id=search_id[:40], query=normalise_query(query),
         position=int(position))


# --- articles -------------------------------------------------------------------------------


def _row(slug: str, audiences: Sequence[str]) -> KbArticle | None:
    if not SLUG_RE.fullmatch(slug or ""):
        return None
    return db.session.scalar(select(KbArticle).where(KbArticle.slug == slug, _visible(audiences)))


def cached_html(row: KbArticle) -> tuple[str, list[tuple[int, str, str]]]:
    """The article's sanitised HTML and TOC, rendered once per content version."""
    if row.html is None or row.html_hash != row.content_hash:
        rendered = render_markdown(row.body)
        row.html = rendered.html
        row.toc = [[t.level, t.anchor, t.text] for t in rendered.toc]
        row.html_hash = row.content_hash
        db.session.commit()
    return row.html, [(int(t[0]), str(t[1]), str(t[2])) for t in (row.toc or [])]


def get_article(slug: str, *, audiences: Sequence[str]) -> ArticleView | None:
    row = _row(slug, audiences)
    if row is None:
        return None
    html, toc = cached_html(row)
    return ArticleView(
        slug=row.slug, title=row.title, category=row.category, summary=row.summary,
        url=f"/kb/{row.slug}", html=Markup(html),  # noqa: S704 - sanitised by nh3
        sections=[(s.anchor, s.heading, s.text) for s in row.sections],
        updated=row.updated, category_name=category_name(row.category), tags=tuple(row.tags),
        toc=toc, changed_at=row.changed_at, audience=row.audience,
    )


def section_texts(slugs: Sequence[str], audiences: Sequence[str]) -> list[str]:
    """The plain text of every section of the visible articles, in one query."""
    if not slugs:
        return []
    rows = db.session.scalars(
        select(KbArticle).where(KbArticle.slug.in_(list(slugs)), _visible(audiences)))
    return [section.text for row in rows for section in row.sections]


def article_refs(slugs: Sequence[str], audiences: Sequence[str] | None = None) -> list[ArticleRef]:
    """Refs in the order given; slugs that do not exist or are not visible are left out."""
    wanted = [s for s in slugs if isinstance(s, str)]
    if not wanted:
        return []
    rows = {
        r.slug: r for r in db.session.scalars(
            select(KbArticle).where(KbArticle.slug.in_(wanted),
                                    _visible(audiences or ("public", "customers", "internal")))
        )
    }
    return [_ref(rows[s]) for s in dict.fromkeys(wanted) if s in rows]


def categories(audiences: Sequence[str] = ("public",)) -> list[CategoryRef]:
    counts = dict(db.session.execute(
        select(KbArticle.category, func.count()).where(_visible(audiences))
        .group_by(KbArticle.category)
    ).all())
    current = site.current()
    refs = []
    for slug in in_site_order(list(counts)):
        listed = current.category(slug)
        refs.append(CategoryRef(slug, category_name(slug), int(counts[slug]),
                                f"/kb/search?category={slug}",
                                listed.description if listed else "",
                                listed.icon if listed else ""))
    return refs


def popular_articles(audiences: Sequence[str], limit: int = 6) -> list[ArticleRef]:
    rows = db.session.scalars(
        select(KbArticle).where(_visible(audiences))
        .order_by(KbArticle.views.desc(), KbArticle.helpful_yes.desc(), KbArticle.title)
        .limit(limit)
    )
    return [_ref(r) for r in rows]


def recent_articles(audiences: Sequence[str], limit: int = 6) -> list[ArticleRef]:
    rows = db.session.scalars(
        select(KbArticle).where(_visible(audiences))
        .order_by(KbArticle.updated.desc().nulls_last(), KbArticle.changed_at.desc())
        .limit(limit)
    )
    return [_ref(r) for r in rows]


def related_articles(slug: str, *, audiences: Sequence[str], limit: int = 4) -> list[ArticleRef]:
    """The articles nearest in meaning to this one (its title and summary through the same
    retrieval as search and the bot); while that cannot run, those sharing the most tags,
    then the same category, most read first."""
    row = _row(slug, audiences)
    if row is None:
        return []
    try:
        passages = search_passages(f"{row.title}\n{row.summary or row.title}",
                                   audiences=tuple(audiences), limit=SEMANTIC_CHUNKS)
    except Exception:  # noqa: BLE001 - a sidebar must never fail the article page
        # A Meilisearch killed mid-request fails in more ways than EngineUnavailable (a
        # fault test saw the article page answer 500).
        log.warning("related articles fell back to tags", exc_info=True)
        passages = []
    nearest = [a.slug for a in rank_articles(passages)
               if a.slug != slug and a.features["cosine"] >= WEAK_COSINE]
    refs = article_refs(nearest, audiences)[:limit]
    return refs or _related_by_tags(row, slug, audiences, limit)


def _related_by_tags(
    row: KbArticle, slug: str, audiences: Sequence[str], limit: int
) -> list[ArticleRef]:
    tags = set(row.tags or ())
    candidates = db.session.scalars(
        select(KbArticle).where(_visible(audiences), KbArticle.slug != slug)
        .order_by(KbArticle.views.desc()).limit(400)
    ).all()

    def score(other: KbArticle) -> tuple[int, int, int]:
        return (len(tags & set(other.tags or ())), int(other.category == row.category),
                other.views)

    ranked = sorted((c for c in candidates if score(c)[:2] != (0, 0)), key=score, reverse=True)
    return [_ref(r) for r in ranked[:limit]]


def record_view(
    slug: str, *, visitor_id: str | None, user_id: int | None, category: str | None
) -> None:
    db.session.execute(
        update(KbArticle).where(KbArticle.slug == slug).values(views=KbArticle.views + 1)
    )
    emit(EventKind.ARTICLE_VIEW, article_slug=slug, category=category, visitor_id=visitor_id,
         user_id=user_id)
    db.session.commit()


@dataclass(frozen=True)
class VoteOutcome:
    recorded: bool
    helpful: bool


def record_vote(
    slug: str, *, helpful: bool, comment: str | None, visitor_id: str, user_id: int | None,
    audiences: Sequence[str],
) -> VoteOutcome | None:
    """One vote per visitor per article; None if the article is not visible."""
    row = _row(slug, audiences)
    if row is None:
        return None
    existing = db.session.scalar(
        select(KbVote).where(KbVote.article_id == row.id, KbVote.visitor_id == visitor_id)
    )
    if existing is not None:
        return VoteOutcome(False, existing.helpful)
    note = (comment or "").strip()[:MAX_COMMENT_CHARS] or None
    db.session.add(KbVote(article_id=row.id, visitor_id=visitor_id, user_id=user_id,
                          helpful=helpful, comment=note))
    column = KbArticle.helpful_yes if helpful else KbArticle.helpful_no
    db.session.execute(
        update(KbArticle).where(KbArticle.id == row.id).values({column: column + 1})
    )
    data: dict[str, Any] = {"helpful": helpful}
    if note:
        data["comment"] = note
    emit(EventKind.ARTICLE_VOTE, article_slug=slug, category=row.category,
         visitor_id=visitor_id, user_id=user_id, **data)
    try:
        db.session.commit()
    except IntegrityError:
        # The same visitor voted twice at once; the first vote stands.
        db.session.rollback()
        return VoteOutcome(False, helpful)
    return VoteOutcome(True, helpful)


def content_problems_for(article: ParsedArticle) -> list[str]:
    """Plain messages for an article's links to missing slugs (used by the editor)."""
    from portal.kb.documents import link_problems

    known = set(db.session.scalars(select(KbArticle.slug)))
    return [p.message for p in link_problems(article, known)]


# --- search engine state ----------------------------------------------------------------------


def search_health() -> dict[str, Any]:
    state = get_engine().health()
    try:
        state["pending_index_updates"] = pending_count()
    except Exception:  # noqa: BLE001 - health reports, never raises
        db.session.rollback()
    return state


def search_degraded() -> bool:
    """True while search answers from the database because Meilisearch is unreachable."""
    return not get_engine().available()


def sync_demo_content() -> None:
    """The demo step: sync content/ with a progress bar and wait until it is searchable."""
    import click

    report = sync.sync_content(
        current_app.config["CONTENT_DIR"], progress=True, wait=True
    )
    for problem in report.problems:
        click.echo(f"  {problem}")
    click.echo(f"  {report.summary()}")


def visitor_vote(slug: str, visitor_id: str) -> bool | None:
    """The visitor's vote on the article (True helpful), or None if they have not voted."""
    return db.session.scalar(
        select(KbVote.helpful).join(KbArticle, KbArticle.id == KbVote.article_id)
        .where(KbArticle.slug == slug, KbVote.visitor_id == visitor_id)
    )


def embed_texts(texts: Sequence[str]) -> Any:
    """Unit vectors of the texts (a numpy array, one row each) from the KB's embedding model,
    so other packages compare text in the same space as the index."""
    return get_embedder().encode(list(texts))
