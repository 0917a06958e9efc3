"""Database full-text search, used while Meilisearch cannot answer.

SQLite: an FTS5 table kept beside kb_article (created here on first use, since it
is not a model). PostgreSQL: `to_tsvector(...) @@ to_tsquery(...)` computed on
the fly, which is fine for a fallback. Both match word prefixes, so results still
appear as the visitor types; neither forgives typos.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text

from portal.extensions import db
from portal.kb.lexicon import STOPWORDS

FTS_TABLE = "kb_article_fts"
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12
_ready_databases: set[str] = set()


@dataclass(frozen=True)
class FallbackHit:
    slug: str
    title: str
    summary: str
    category: str
    search_text: str


def _dialect() -> str:
    return db.engine.dialect.name


def ensure_fts() -> None:
    """Create the SQLite FTS5 table once per database engine (idempotent)."""
    key = str(db.engine.url)
    if _dialect() != "sqlite" or key in _ready_databases:
        return
    db.session.execute(
        text(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
            "slug UNINDEXED, content_hash UNINDEXED, title, tags, body, "
            "tokenize = 'porter unicode61')"
        )
    )
    _ready_databases.add(key)


def index_rows(rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    """(slug, content_hash, title, tags, body) rows replace those slugs' entries."""
    if _dialect() != "sqlite" or not rows:
        return
    ensure_fts()
    remove([row[0] for row in rows])
    db.session.execute(
        text(
            f"INSERT INTO {FTS_TABLE} (slug, content_hash, title, tags, body) "  # noqa: S608
            "VALUES (:slug, :hash, :title, :tags, :body)"
        ),
        [dict(zip(("slug", "hash", "title", "tags", "body"), row, strict=True)) for row in rows],
    )


def remove(slugs: Sequence[str]) -> None:
    if _dialect() != "sqlite" or not slugs:
        return
    ensure_fts()
    for start in range(0, len(slugs), 500):
        chunk = list(slugs[start : start + 500])
        marks = ", ".join(f":s{i}" for i in range(len(chunk)))
        db.session.execute(
            text(f"DELETE FROM {FTS_TABLE} WHERE slug IN ({marks})"),  # noqa: S608 - placeholders
            {f"s{i}": slug for i, slug in enumerate(chunk)},
        )


def terms(query: str) -> list[str]:
    """The query's words that say what it is about, as the search engine reads it: the
    stop words ("how", "do", "a") are left out, unless nothing else is left."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))
    content = [w for w in words if w not in STOPWORDS]
    return (content or words)[:MAX_TERMS]


def search(
    query: str,
    *,
    audiences: Sequence[str],
    category: str | None,
    offset: int,
    limit: int,
) -> tuple[list[FallbackHit], int, dict[str, int]]:
    """(hits for the page, total hits, hits per category)."""
    words = terms(query)
    if not words:
        return [], 0, {}
    params: dict[str, object] = {f"a{i}": a for i, a in enumerate(audiences)}
    audience_marks = ", ".join(f":a{i}" for i in range(len(audiences))) or "''"
    if _dialect() == "sqlite":
        ensure_fts()
        # Any of the words, best matches first (bm25 rewards matching more of them): a
        # question's words do not all appear in the article that answers it.
        params["match"] = " OR ".join(f'"{w}"*' for w in words)
        base = (
            f"FROM {FTS_TABLE} f JOIN kb_article a "
            "ON a.slug = f.slug AND a.content_hash = f.content_hash "
            f"WHERE {FTS_TABLE} MATCH :match AND a.status = 'published' "
            f"AND a.audience IN ({audience_marks})"
        )
        order = f"ORDER BY bm25({FTS_TABLE}, 0, 0, 10.0, 4.0, 1.0)"
    else:
        params["match"] = " | ".join(f"{w}:*" for w in words)
        document = (
            "setweight(to_tsvector('english', a.title), 'A') || "
            "setweight(to_tsvector('english', a.search_text), 'C')"
        )
        base = (
            f"FROM kb_article a WHERE ({document}) @@ to_tsquery('english', :match) "
            f"AND a.status = 'published' AND a.audience IN ({audience_marks})"
        )
        order = f"ORDER BY ts_rank({document}, to_tsquery('english', :match)) DESC"
    facet_rows = db.session.execute(
        text(f"SELECT a.category, COUNT(*) {base} GROUP BY a.category"),  # noqa: S608
        params,
    ).all()
    facets = {str(row[0]): int(row[1]) for row in facet_rows}
    where_category = ""
    if category:
        where_category = " AND a.category = :category"
        params["category"] = category
    total = facets.get(category, 0) if category else sum(facets.values())
    params.update(limit=limit, offset=offset)
    rows = db.session.execute(
        text(
            "SELECT a.slug, a.title, a.summary, a.category, a.search_text "  # noqa: S608
            f"{base}{where_category} {order}, a.slug LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    return [FallbackHit(*map(str, row)) for row in rows], total, facets


def highlight(text_value: str, words: Sequence[str], pre: str, post: str) -> str:
    """Wrap words starting with any query term in pre/post (no escaping here)."""
    if not words:
        return text_value
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\w*", re.I)
    return pattern.sub(lambda m: f"{pre}{m.group(0)}{post}", text_value)


def crop(text_value: str, words: Sequence[str], size: int = 28) -> str:
    """About `size` words around the first match, with an ellipsis where text was cut."""
    tokens = text_value.split()
    if not tokens:
        return ""
    start = 0
    if words:
        # One pattern for all the words: a search page crops ten passages of ~120 words each.
        starts_with_a_word = re.compile(
            "[(\"']*(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)
        for index, token in enumerate(tokens):
            if starts_with_a_word.match(token):
                start = max(0, index - size // 3)
                break
    piece = " ".join(tokens[start : start + size])
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + size < len(tokens) else ""
    return prefix + piece + suffix


def escape(value: str) -> str:
    return html.escape(value, quote=False)
