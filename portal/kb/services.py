"""The knowledge base as other packages (and this package's views) see it."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

import numpy as np
from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal import site
from portal.accounts import services as accounts
from portal.events import EventKind, emit, emit_batched
from portal.extensions import db
from portal.kb import sync
from portal.kb.categories import category_name, category_names, in_site_order
from portal.kb.chunks import (  # noqa: F401
    EMBEDDER,
    TASK_TIMEOUT_MS,
    Passage,
    articles_holding,
    ensure_vector_index,
    nearest_chunk_cosines,
    rare_word_coverage,
    search_passages,
    spelling_corrections,
)
from portal.kb.documents import SLUG_RE, ParsedArticle
from portal.kb.embedding import EmbeddingUnavailable, RememberedVectors, get_embedder
from portal.kb.engine import EngineApiError, EngineUnavailable, get_engine  # noqa: F401
from portal.kb.lexicon import STOPWORDS, content_words, sentence_pieces  # noqa: F401
from portal.kb.lexicon import terms as search_terms  # noqa: F401
from portal.kb.models import KbArticle, KbSection, KbVote, visible_articles
from portal.kb.ranking import (  # noqa: F401
    ARTICLE_FEATURES,
    RANKER_WEIGHTS,
    RankedArticle,
    article_features,
    article_score,
    rank_articles,
)
from portal.kb.rendering import is_table_row, render_markdown
from portal.kb.searching import (  # noqa: F401 - the search box, importable from here as before
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    SEMANTIC_CHUNKS,
    WEAK_COSINE,
    SearchHit,
    SearchResults,
    is_natural_query,
    normalise_query,
    search_articles,
)
from portal.kb.sentences import sentence_vectors  # noqa: F401
from portal.kb.sync import (
    SyncReport,
    pending_count,
    replay_pending,
    sync_content,
)

__all__ = [
    "ARTICLE_FEATURES", "RANKER_WEIGHTS", "RankedArticle", "article_features", "article_score",
    "rank_articles",
    "ArticleRef", "ArticleView", "CategoryRef", "Passage", "SearchHit", "SearchResults",
    "EmbeddingUnavailable", "SyncReport", "article_refs", "categories", "category_name",
    "category_names", "content_words",
    "RememberedVectors", "embed_question", "embed_texts", "get_article",
    # the KB's sentences, embedded when their article was indexed
    "sentence_vectors",
    "is_table_row", "rare_word_coverage", "search_terms",
    "section_texts",
    "popular_articles",
    "recent_articles", "record_search", "record_search_click", "record_view", "record_vote",
    "related_articles", "search_articles", "search_degraded", "search_health",
    "search_passages", "sync_content", "visible_audiences", "pending_count", "replay_pending",
    # the copilot re-reads the chat's best articles sentence by sentence, and looks up the
    # articles naming a ticket's error codes
    "nearest_chunk_cosines", "articles_holding",
    # a Meilisearch index embedded as the passages are (the copilot's solved tickets)
    "EMBEDDER", "TASK_TIMEOUT_MS", "EngineApiError", "EngineUnavailable", "ensure_vector_index",
    "get_embedder", "get_engine",
]

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000


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




def _ref(row: KbArticle) -> ArticleRef:
    return ArticleRef(row.slug, row.title, row.category, f"/kb/{row.slug}", row.summary,
                      row.updated)


def new_search_id() -> str:
    return secrets.token_urlsafe(9)


def record_search(
    query: str, results: int, *, source: str = "kb", visitor_id: str | None = None,
    user_id: int | None = None, search_id: str | None = None, batched: bool = False,
) -> str:
    """Record one search for the content-gap metrics; returns its search_id.

    `batched`: written with the process's other searches a moment later (`emit_batched`),
    for the search box, where each search's own transaction slowed the next search.
    A staff member's search is not recorded (see `_searched_by_staff`)."""
    search_id = search_id or new_search_id()
    if _searched_by_staff(user_id):
        return search_id
    record = emit_batched if batched else partial(emit, commit=True)
    record(EventKind.SEARCH, visitor_id=visitor_id, user_id=user_id,
           query=normalise_query(query), results=int(results), search_id=search_id,
           source=source)
    return search_id


def _searched_by_staff(user_id: int | None) -> bool:
    """Agents and editors search to work, not because the help center failed them: their
    searches and clicks stay out of the content-gap figures (and so out of the event table)."""
    user = accounts.get_user(user_id) if user_id is not None else None
    return user is not None and user.is_staff


def record_search_click(
    slug: str, *, search_id: str, query: str, position: int, visitor_id: str | None,
    user_id: int | None = None,
) -> None:
    if _searched_by_staff(user_id):
        return
    emit(EventKind.SEARCH_CLICK, commit=True, article_slug=slug, visitor_id=visitor_id,
         user_id=user_id, search_id=search_id[:40], query=normalise_query(query),
         position=int(position))


# --- articles -------------------------------------------------------------------------------


def _row(slug: str, audiences: Sequence[str]) -> KbArticle | None:
    if not SLUG_RE.fullmatch(slug or ""):
        return None
    return db.session.scalar(
        select(KbArticle).where(KbArticle.slug == slug, visible_articles(audiences)))


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
    # The sections' text alone: a follow-up's check reads it, and loading the articles'
    # rows (body, rendered HTML) then their sections took two queries and a few ms.
    return list(db.session.scalars(
        select(KbSection.text).join(KbArticle, KbArticle.id == KbSection.article_id)
        .where(KbArticle.slug.in_(list(slugs)), visible_articles(audiences))
        .order_by(KbSection.article_id, KbSection.position)))


def article_refs(slugs: Sequence[str], audiences: Sequence[str] | None = None) -> list[ArticleRef]:
    """Refs in the order given; slugs that do not exist or are not visible are left out."""
    wanted = [s for s in slugs if isinstance(s, str)]
    if not wanted:
        return []
    rows = {
        r.slug: r for r in db.session.scalars(
            select(KbArticle).where(KbArticle.slug.in_(wanted),
                                    visible_articles(audiences or STAFF_AUDIENCES))
        )
    }
    return [_ref(rows[s]) for s in dict.fromkeys(wanted) if s in rows]


def categories(audiences: Sequence[str] = ("public",)) -> list[CategoryRef]:
    counts = dict(db.session.execute(
        select(KbArticle.category, func.count()).where(visible_articles(audiences))
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
        select(KbArticle).where(visible_articles(audiences))
        .order_by(KbArticle.views.desc(), KbArticle.helpful_yes.desc(), KbArticle.title)
        .limit(limit)
    )
    return [_ref(r) for r in rows]


def recent_articles(audiences: Sequence[str], limit: int = 6) -> list[ArticleRef]:
    rows = db.session.scalars(
        select(KbArticle).where(visible_articles(audiences))
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
        select(KbArticle).where(visible_articles(audiences), KbArticle.slug != slug)
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


def embed_question(text: str) -> Any:
    """One customer message's unit vector, as `embed_texts` gives it, on the model's
    single-thread session (a short text is too little work to share between threads) and
    remembered for when the same words come again."""
    return np.asarray(get_embedder().encode_query(text), dtype=np.float32)


def embed_texts(texts: Sequence[str]) -> Any:
    """Unit vectors of the texts (a numpy array, one row each) from the KB's embedding model,
    so other packages compare text in the same space as the index."""
    return get_embedder().encode(list(texts))


