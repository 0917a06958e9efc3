"""The knowledge base as other packages see it."""

from __future__ import annotations

from typing import Any

from portal.kb.engine import get_engine


def search_health() -> dict[str, Any]:
    return get_engine().health()


def search_degraded() -> bool:
    """True while search answers from the database because Meilisearch is unreachable."""
    return not get_engine().available()
