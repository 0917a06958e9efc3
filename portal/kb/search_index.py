"""The articles index in Meilisearch: its settings, documents and queries.

Every call goes through `SearchEngine.call`, so an unreachable engine surfaces as
`EngineUnavailable` and the caller decides between the fallback and the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from portal.kb.engine import EngineApiError, EngineUnavailable, get_engine
from portal.kb.lexicon import STOPWORDS

INDEX = "articles"
BATCH_SIZE = 1000
MAX_BODY_CHARS = 30_000
# Sentinels instead of HTML tags: snippets are escaped first, then marked up.
HIGHLIGHT_PRE = "\x02"
HIGHLIGHT_POST = "\x03"
CROP_WORDS = 28

BASE_SETTINGS: dict[str, Any] = {
    # Order matters: a match in the title outranks one in a heading, then tags, then text.
    "searchableAttributes": ["title", "headings", "tags", "summary", "body"],
    # slug is filterable so documents can be deleted by filter (deleting by ids is deprecated).
    "filterableAttributes": ["category", "tags", "status", "audience", "slug"],
    "sortableAttributes": ["updated"],
    "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8},
    },
    "faceting": {"maxValuesPerFacet": 100},
    "pagination": {"maxTotalHits": 1000},
    # A pathological query must not hold a request thread for long.
    "searchCutoffMs": 200,
}
RETRIEVE = ["slug", "title", "summary", "category", "url", "updated"]


def index_uid(suffix: str = "") -> str:
    return get_engine().index_name(INDEX) + suffix


def load_synonyms(content_dir: Path) -> dict[str, list[str]]:
    """`_synonyms.yml` as Meilisearch wants it: every term finds all of its group."""
    path = content_dir / "_synonyms.yml"
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    synonyms: dict[str, set[str]] = {}
    for key, values in raw.items():
        if not isinstance(values, list):
            continue
        group = {str(key).strip().lower()} | {str(v).strip().lower() for v in values}
        group.discard("")
        for term in group:
            synonyms.setdefault(term, set()).update(group - {term})
    return {term: sorted(others) for term, others in sorted(synonyms.items())}


def load_stop_words(content_dir: Path) -> list[str]:
    """The English list plus the KB's own additions in `_stopwords.yml` (a YAML list)."""
    extra: list[str] = []
    path = content_dir / "_stopwords.yml"
    if path.is_file():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (yaml.YAMLError, UnicodeDecodeError):
            raw = []
        if isinstance(raw, list):
            extra = [str(w).strip().lower() for w in raw if str(w).strip()]
    return sorted(STOPWORDS | set(extra))


def settings_for(synonyms: dict[str, list[str]],
                 stop_words_list: list[str] | None = None) -> dict[str, Any]:
    # Stop words neither match nor get highlighted: "how do I cancel" searches "cancel".
    return {**BASE_SETTINGS, "synonyms": synonyms,
            "stopWords": sorted(STOPWORDS) if stop_words_list is None else stop_words_list}


def make_document(
    *,
    slug: str,
    title: str,
    headings: Sequence[str],
    tags: Sequence[str],
    summary: str,
    body_text: str,
    category: str,
    status: str,
    audience: str,
    updated: date | None,
) -> dict[str, Any]:
    return {
        "id": slug,
        "slug": slug,
        "title": title,
        "headings": list(headings),
        "tags": list(tags),
        "summary": summary,
        "body": body_text[:MAX_BODY_CHARS],
        "category": category,
        "status": status,
        "audience": audience,
        "updated": updated.isoformat() if updated else None,
        "url": f"/kb/{slug}",
    }


def ensure_index(uid: str, synonyms: dict[str, list[str]],
                 stop_words_list: list[str] | None = None) -> list[int]:
    """Create the index if needed and send its settings; returns task uids (not awaited)."""
    engine = get_engine()
    tasks: list[int] = []

    def create(client: Any) -> None:
        try:
            client.get_raw_index(uid)
        except EngineApiError as exc:
            if getattr(exc, "code", "") != "index_not_found":
                raise
            tasks.append(client.create_index(uid, {"primaryKey": "id"}).task_uid)

    engine.call(create)
    tasks.append(
        engine.call(lambda c: c.index(uid).update_settings(
            settings_for(synonyms, stop_words_list)).task_uid)
    )
    return tasks


def upsert_documents(documents: list[dict[str, Any]], uid: str | None = None) -> list[int]:
    target = uid or index_uid()
    engine = get_engine()
    return [
        engine.call(
            lambda c, batch=documents[start : start + BATCH_SIZE]: c.index(target)  # type: ignore[misc]
            .add_documents(batch, primary_key="id")
            .task_uid
        )
        for start in range(0, len(documents), BATCH_SIZE)
    ]


def delete_documents(slugs: Iterable[str], uid: str | None = None) -> list[int]:
    ids = list(slugs)
    if not ids:
        return []
    target = uid or index_uid()
    tasks = []
    for start in range(0, len(ids), 500):
        quoted = ", ".join(f'"{slug}"' for slug in ids[start : start + 500] if '"' not in slug)
        tasks.append(get_engine().call(
            lambda c, quoted=quoted: c.index(target)  # type: ignore[misc]
            .delete_documents(filter=f"slug IN [{quoted}]").task_uid
        ))
    return tasks


def clear(uid: str | None = None) -> list[int]:
    target = uid or index_uid()
    return [get_engine().call(lambda c: c.index(target).delete_all_documents().task_uid)]


def document_count(uid: str | None = None) -> int | None:
    """Documents in the index, or None when the index does not exist yet."""
    target = uid or index_uid()

    def count(client: Any) -> int | None:
        try:
            return int(client.index(target).get_stats().number_of_documents)
        except EngineApiError as exc:
            if getattr(exc, "code", "") == "index_not_found":
                return None
            raise

    return get_engine().call(count)


def swap_in(new_uid: str) -> list[int]:
    """Atomically make new_uid's content the live index; the old content moves to new_uid."""
    live = index_uid()
    engine = get_engine()
    return [engine.call(lambda c: c.swap_indexes([{"indexes": [live, new_uid]}]).task_uid)]


def delete_index(uid: str) -> list[int]:
    return [get_engine().call(lambda c: c.delete_index(uid).task_uid)]


def visibility_filter(audiences: Sequence[str], category: str | None) -> list[Any]:
    quoted = ", ".join(f'"{a}"' for a in audiences if a.isalpha())
    filters: list[Any] = ['status = "published"', f"audience IN [{quoted}]"]
    if category:
        filters.append(f'category = "{category}"')
    return filters


def search(
    query: str,
    *,
    audiences: Sequence[str],
    category: str | None,
    offset: int,
    limit: int,
    facets: bool = True,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "filter": visibility_filter(audiences, category),
        "offset": offset,
        "limit": limit,
        "attributesToRetrieve": RETRIEVE,
        "attributesToHighlight": ["title", "summary", "body"],
        "attributesToCrop": [f"body:{CROP_WORDS}"],
        "cropMarker": "…",
        "highlightPreTag": HIGHLIGHT_PRE,
        "highlightPostTag": HIGHLIGHT_POST,
        # How well the best hit matches: a page of hits that only share a word or a typo is
        # a failed search for the content-gap report.
        "showRankingScore": True,
    }
    if facets:
        # The facet counts ignore the category filter so every category stays clickable.
        params["facets"] = ["category"]
        if category:
            params["filter"] = visibility_filter(audiences, None)
    # Meilisearch 1.21 matches stop words case-sensitively in the query: "How do I cancel"
    # kept "I" as a word and ranked noise first. The engine ignores case anyway.
    query = query.lower()
    uid = index_uid()
    engine = get_engine()
    if facets and category:
        # Two queries in one round trip: the hits (filtered) and the facet counts (not).
        hits_query = {**params, "indexUid": uid, "q": query,
                      "filter": visibility_filter(audiences, category)}
        hits_query.pop("facets")
        facet_query = {"indexUid": uid, "q": query, "limit": 0, "facets": ["category"],
                       "filter": visibility_filter(audiences, None)}
        result = engine.post_json("multi-search", {"queries": [hits_query, facet_query]})
        hits, facet = result["results"]
        hits["facetDistribution"] = facet.get("facetDistribution", {})
        return dict(hits)
    return dict(engine.post_json(f"indexes/{uid}/search", {**params, "q": query}))


def wait(task_uids: list[int], timeout: float = 120.0) -> list[str]:
    if not task_uids:
        return []
    return get_engine().wait_for_tasks(task_uids, timeout)


def timestamp(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None


__all__ = [
    "EngineApiError", "EngineUnavailable", "clear", "delete_documents", "document_count",
    "ensure_index", "load_stop_words", "load_synonyms", "make_document", "search",
    "settings_for", "swap_in",
    "upsert_documents", "visibility_filter", "wait",
]
