"""Security headers on every page, error pages included, and the cookies' flags."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import DEFAULT_PASSWORD

from .conftest import World, classify, make_app, send, url_of
from .route_rules import allowed_persona, rule_for
from .test_access_matrix import ROUTES

PAGES = [(endpoint, path) for endpoint, method, path in ROUTES if method == "GET"]
REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin",
                     "strict-origin-when-cross-origin"}


def policy(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = [w.lower() for w in words[1:]]
    return directives


def header_problems(response: Any) -> list[str]:
    headers = response.headers
    csp = policy(headers.get("Content-Security-Policy", ""))
    scripts = csp.get("script-src", csp.get("default-src"))
    problems = []
    if scripts is None:
        problems.append("no script-src or default-src in the CSP")
    elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(scripts):
        problems.append(f"script-src allows {scripts}")
    if csp.get("frame-ancestors") not in (["'none'"], ["'self'"]):
        problems.append(f"frame-ancestors is {csp.get('frame-ancestors')}")
    if csp.get("object-src") != ["'none'"]:
        problems.append("object-src is not 'none'")
    if csp.get("base-uri") not in (["'none'"], ["'self'"]):
        problems.append("base-uri is not restricted")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy is {headers.get('Referrer-Policy')!r}")
    return problems


@pytest.mark.parametrize(("endpoint", "path"), PAGES, ids=[e for e, _ in PAGES])
def test_every_page_sends_the_security_headers(world: World, endpoint: str, path: str) -> None:
    rule = rule_for(endpoint, "GET", path)
    response = world.client(allowed_persona(rule)).get(url_of(world, endpoint, rule))
    response.get_data()
    response.close()
    assert response.status_code < 400, response.status_code
    assert not header_problems(response), header_problems(response)


@pytest.mark.parametrize(("persona", "method", "url", "status"), [
    ("anonymous", "GET", "/no/such/page", 404),
    ("customer", "GET", "/metrics", 403),
    ("customer", "POST", "/healthz", 405),
    ("customer", "POST", "/chat/new", 400),  # no CSRF token
    ("anonymous", "GET", "/tickets", 302),
])
def test_error_pages_and_redirects_send_them_too(
    world: World, persona: str, method: str, url: str, status: int
) -> None:
    response = world.client(persona).open(url, method=method, csrf=False)
    response.close()
    assert response.status_code == status
    assert not header_problems(response), header_problems(response)


def cookie_flags(response: Any, name: str) -> set[str] | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            parts = [p.strip() for p in header.split(";")[1:]]
            return {p.lower() for p in parts}
    return None


def _sign_in(app: Any, email: str) -> Any:
    client = app.test_client()
    return client.post("/login", data={"email": email, "password": DEFAULT_PASSWORD,
                                       "remember": "y"})


def test_cookies_are_http_only_and_same_site_lax(world: World) -> None:
    response = _sign_in(world.app, world.emails["customer"])
    assert response.status_code == 302
    for name in ("session", "remember_token", "portal_visitor"):
        flags = cookie_flags(response, name)
        assert flags is not None, f"{name} was not set"
        assert "httponly" in flags and "samesite=lax" in flags, (name, flags)
        assert "secure" not in flags  # plain http in development and tests


def test_production_cookies_are_secure_and_https_is_pinned(
    world: World, base_overrides: dict[str, Any]
) -> None:
    # Production refuses the master key; signing in never reaches Meilisearch anyway.
    app = make_app(base_overrides, world.content_dir, ENV="production", MEILI_MASTER_KEY="",
                   MEILI_API_KEY=base_overrides["MEILI_MASTER_KEY"])
    with app.app_context():
        response = _sign_in(app, world.emails["customer"])
    assert response.status_code == 302
    for name in ("session", "remember_token", "portal_visitor"):
        flags = cookie_flags(response, name)
        assert flags is not None and {"secure", "httponly", "samesite=lax"} <= flags, name
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert not header_problems(response)


# --- private pages are never stored by a browser or a proxy -----------------------------------


def _is_private(endpoint: str, method: str, path: str) -> bool:
    """From the access table: signed-out visitors are turned away, or the URL carries a
    ticket's tracking token (the credential of an anonymous requester)."""
    return rule_for(endpoint, method, path).access["anonymous"] != "ok" or "<token>" in path


PRIVATE_ROUTES = [route for route in ROUTES if _is_private(*route)]


@pytest.mark.parametrize(("endpoint", "method", "path"), PRIVATE_ROUTES,
                         ids=[f"{m} {e}" for e, m, _ in PRIVATE_ROUTES])
def test_private_pages_are_not_stored(world: World, endpoint: str, method: str,
                                      path: str) -> None:
    rule = rule_for(endpoint, method, path)
    # A tracking link is opened signed out: its pages are private without any sign-in.
    persona = "anonymous" if rule.access["anonymous"] == "ok" else allowed_persona(rule)
    response = send(world, persona, endpoint, method, rule)
    assert classify(response) == "ok", (persona, response.status_code)
    assert response.headers.get("Cache-Control") == "no-store", (
        persona, response.headers.get("Cache-Control"))


def test_the_private_routes_include_every_kind_of_private_page() -> None:
    private = {endpoint for endpoint, _, _ in PRIVATE_ROUTES}
    assert {"tickets.detail", "tickets.track", "tickets.track_attachment", "tickets.queue",
            "tickets.mine", "accounts.account", "metrics.export", "metrics.dashboard",
            "chat.message_fragment", "kb.editor_list"} <= private
    assert not {"kb.article", "kb.index", "kb.search", "static"} & private


@pytest.mark.parametrize("endpoint", ["kb.article", "kb.index", "kb.search", "chat.home",
                                      "static"])
def test_public_pages_stay_cacheable_for_visitors(world: World, endpoint: str) -> None:
    rule = rule_for(endpoint, "GET", "")
    response = world.fresh_client("anonymous").get(url_of(world, endpoint, rule))
    response.close()
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_a_public_article_is_private_once_signed_in_but_stylesheets_are_not(
        world: World) -> None:
    # The page greets the reader by name; the stylesheet is the same for everyone.
    article = world.client("customer").get(url_of(world, "kb.article",
                                                  rule_for("kb.article", "GET", "")))
    article.close()
    assert article.headers.get("Cache-Control") == "no-store"
    css = world.client("customer").get(url_of(world, "static", rule_for("static", "GET", "")))
    css.close()
    assert "no-store" not in css.headers.get("Cache-Control", "")


def test_an_anonymous_chat_is_private_to_its_browser(world: World) -> None:
    browser = world.fresh_client("anonymous")
    assert "no-store" not in browser.get("/").headers.get("Cache-Control", "")
    browser.post("/chat/messages", data={"message": "How do I reset my password?"})
    assert browser.get("/").headers.get("Cache-Control") == "no-store"
