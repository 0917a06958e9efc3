"""Every route in the URL map, as every persona, against the rules in route_rules.py."""

from __future__ import annotations

import pytest
from werkzeug.routing import Map

from portal import create_app

from .conftest import World, classify, send
from .route_rules import PERSONA_ORDER, RULES, rule_for

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _url_map() -> Map:
    # Building an app does no work at import (no database, no network): safe at collection.
    app = create_app({"ENV": "testing", "SECRET_KEY": "collection-only-" + "k" * 32,
                      "DATABASE_URL": "sqlite://"})
    return app.url_map


URL_MAP = _url_map()
ROUTES = sorted(
    {(rule.endpoint, method, rule.rule) for rule in URL_MAP.iter_rules()
     for method in (rule.methods or set()) - IGNORED_METHODS}
)


def test_the_matrix_covers_every_route_and_persona() -> None:
    endpoints = {endpoint for endpoint, _, _ in ROUTES}
    stale = sorted(set(RULES) - endpoints)
    assert not stale, f"route_rules.py has rules for endpoints that no longer exist: {stale}"
    for endpoint, rule in RULES.items():
        assert set(rule.access) == set(PERSONA_ORDER), f"{endpoint}: name every persona"
    # The figure the closing note of issue 8 quotes.
    print(f"access matrix: {len(ROUTES)} routes x {len(PERSONA_ORDER)} personas = "
          f"{len(ROUTES) * len(PERSONA_ORDER)} checks")


@pytest.mark.parametrize(("endpoint", "method", "path"), ROUTES,
                         ids=[f"{e}-{m}" for e, m, _ in ROUTES])
def test_route_answers_each_persona_as_its_rule_says(
    world: World, endpoint: str, method: str, path: str
) -> None:
    rule = rule_for(endpoint, method, path)
    mismatches = []
    for persona in PERSONA_ORDER:
        response = send(world, persona, endpoint, method, rule)
        expected, got = rule.access[persona], classify(response)
        if got != expected:
            mismatches.append(f"{persona}: expected {expected}, got {got} "
                              f"({response.status_code} {response.headers.get('Location', '')})")
    assert not mismatches, f"{method} {path}:\n  " + "\n  ".join(mismatches)
