"""The knowledge base as tickets need it, always through `kb.services`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from portal.kb import services as kb_services

log = logging.getLogger(__name__)
# What a ticket links to is sent to the customer, so agents link customer-visible articles.
CUSTOMER_AUDIENCES = ("public", "customers")


@dataclass(frozen=True)
class ArticleLink:
    slug: str
    title: str
    url: str
    summary: str = ""
    position: int = 0
    # The section that matched (the URL links to it), when search found one.
    section: str = ""


def audiences_for(user: Any) -> tuple[str, ...]:
    return tuple(kb_services.visible_audiences(user))


def search(query: str, *, audiences: Sequence[str], limit: int = 5) -> list[ArticleLink]:
    query = query.strip()
    if not query:
        return []
    try:
        results = kb_services.search_articles(
            query, audiences=tuple(audiences), page=1, per_page=limit
        )
    except Exception:  # noqa: BLE001 - suggestions are a nicety; the form must still work
        log.warning("article suggestions failed", exc_info=True)
        return []
    # One link per article, at the section that matched best.
    unique = {hit.slug: hit for hit in reversed(results.hits[:limit])}
    return [ArticleLink(hit.slug, hit.title, hit.url, hit.summary, hit.position, hit.section)
            for hit in sorted(unique.values(), key=lambda h: h.position)]


def record_search(query: str, results: int, *, visitor_id: str, user_id: int | None) -> str:
    return kb_services.record_search(query, results, source="ticket_form",
                                     visitor_id=visitor_id, user_id=user_id)


def refs(slugs: Iterable[str], audiences: Sequence[str] = CUSTOMER_AUDIENCES) -> list[ArticleLink]:
    wanted = [slug for slug in dict.fromkeys(slugs) if slug]
    if not wanted:
        return []
    found = {ref.slug: ref for ref in kb_services.article_refs(wanted, audiences)}
    # An article since removed still shows, so agents know what the bot offered.
    return [
        ArticleLink(slug, found[slug].title, found[slug].url)
        if slug in found
        else ArticleLink(slug, slug, "")
        for slug in wanted
    ]


def category_choices() -> list[tuple[str, str]]:
    return [(ref.slug, ref.name) for ref in kb_services.categories(CUSTOMER_AUDIENCES)]
