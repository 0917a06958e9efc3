"""The help-centre pages, search as you type, analytics events and votes."""

from __future__ import annotations

import time

import pytest

from portal.events import Event, EventKind, flush_batched_events
from portal.extensions import db
from portal.kb.models import KbArticle, KbVote

HTMX = {"HX-Request": "true", "HX-Target": "search-results"}


def get_closed(client, url: str):
    """GET and close the response: the SEARCH event is recorded after the response is sent."""
    response = client.get(url)
    response.close()
    return response


def events(kind: EventKind) -> list[Event]:
    return list(db.session.scalars(db.select(Event).where(Event.kind == str(kind))))


def test_home_lists_categories_popular_and_recent(app, synced, client):
    synced()
    page = client.get("/kb").text
    assert "Account and sign-in" in page and "2 articles" in page
    assert "Billing and plans" in page and "1 article<" in page  # the draft and internal hidden
    assert "Popular articles" in page and "Recently updated" in page
    assert 'hx-trigger="keyup changed delay:200ms, search"' in page


def test_search_with_a_typo_highlights_and_records_the_search(app, synced, client):
    synced()
    page = get_closed(client, "/kb/search?q=pasword").text
    assert "Reset your <mark>password</mark>" in page
    (event,) = events(EventKind.SEARCH)
    assert event.data["query"] == "pasword" and event.data["results"] == 1
    assert event.data["source"] == "kb" and event.visitor_id


def test_htmx_gets_only_the_results_fragment(app, synced, client):
    synced()
    fragment = client.get("/kb/search?q=refund", headers=HTMX).text
    assert "<html" not in fragment and "Refund <mark>policy</mark>" not in fragment
    assert "<mark>Refund</mark> policy" in fragment


def test_opening_a_result_records_the_click_then_the_view(app, synced, client):
    synced()
    get_closed(client, "/kb/search?q=pasword")
    search_id = events(EventKind.SEARCH)[0].data["search_id"]
    response = client.get(f"/kb/search/open?slug=reset-password&sid={search_id}&q=pasword&pos=1")
    assert response.status_code == 303 and response.location.endswith("/kb/reset-password")
    (click,) = events(EventKind.SEARCH_CLICK)
    assert click.article_slug == "reset-password"
    assert click.data == {"search_id": search_id, "query": "pasword", "position": 1}
    page = client.get("/kb/reset-password")
    (view,) = events(EventKind.ARTICLE_VIEW)
    assert (view.article_slug, view.category) == ("reset-password", "account")
    assert db.session.scalar(db.select(KbArticle.views).where(
        KbArticle.slug == "reset-password")) == 1
    assert page.status_code == 200


def test_empty_state_offers_chat_and_a_ticket(app, synced, client):
    synced()
    page = get_closed(client, "/kb/search?q=zzqxv+nothing").text
    assert "No articles match" in page
    assert 'href="/"' in page and 'href="/tickets/new"' in page
    assert events(EventKind.SEARCH)[0].data["results"] == 0


def test_category_facet_and_browsing_a_category(app, synced, client):
    synced()
    page = client.get("/kb/search?q=password&category=billing").text
    assert "No articles match" in page or "Account and sign-in" in page
    browse = client.get("/kb/search?category=account").text
    assert "Reset your password" in browse and "Two-step verification" in browse
    assert "Refund policy" not in browse


def test_pagination(app, synced, client, tiny_kb):
    from tests.kb.conftest import article_text, write

    for n in range(12):
        write(tiny_kb, f"billing/thermostat-{n}.md", article_text(f"Thermostat note {n}"))
    synced()
    first = client.get("/kb/search?q=thermostat").text
    assert "Page 1 of 2" in first and "Next" in first
    second = client.get("/kb/search?q=thermostat&page=2").text
    assert "Page 2 of 2" in second and "Previous" in second


@pytest.mark.parametrize("query", [
    "", " ", "a" * 10_000, "password " * 2000, '"reset your', '"reset password"', "-password",
    "password AND OR NOT", "category = billing", "( ) [ ] { } : * ? \\ / !", "🔑 password 🙂",
    "🙂", "\x00\x01", "<script>alert(1)</script>", "%", "' OR 1=1 --",
])
def test_odd_queries_give_sensible_pages(app, synced, client, query):
    synced()
    response = client.get("/kb/search", query_string={"q": query})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    fragment = client.get("/kb/search", query_string={"q": query}, headers=HTMX)
    assert fragment.status_code == 200


def test_odd_queries_work_in_the_database_fallback_too(app, synced, client, engine_down):
    synced()
    for query in ['"reset', "password*", "🔑", "a" * 10_000, "NEAR(x y)", "' OR 1=1 --"]:
        response = client.get("/kb/search", query_string={"q": query})
        assert response.status_code == 200, query
    assert "Reset your" in client.get("/kb/search?q=passw").text


def test_article_page_has_anchors_toc_breadcrumbs_related(app, synced, client):
    synced()
    page = client.get("/kb/reset-password").text
    assert '<h2 id="request-a-reset-link">' in page
    assert 'href="#choose-a-new-password"' in page
    assert 'href="/kb/search?category=account">Account and sign-in</a>' in page
    assert "Related articles" in page and 'href="/kb/two-step"' in page
    assert "Was this helpful?" in page


def test_one_vote_per_visitor(app, synced, client):
    synced()
    response = client.post("/kb/reset-password/vote",
                           data={"helpful": "no", "comment": "Missing the SMS case"})
    assert response.status_code == 303
    assert "Thanks for your feedback" in client.get("/kb/reset-password").text
    again = client.post("/kb/reset-password/vote", data={"helpful": "yes"},
                        headers={"HX-Request": "true"})
    assert "already told us" in again.text
    row = db.session.scalar(db.select(KbArticle).where(KbArticle.slug == "reset-password"))
    assert (row.helpful_yes, row.helpful_no) == (0, 1)
    assert db.session.scalar(db.select(db.func.count()).select_from(KbVote)) == 1
    (vote,) = events(EventKind.ARTICLE_VOTE)
    assert vote.data == {"helpful": False, "comment": "Missing the SMS case"}
    assert vote.category == "account"


def test_vote_needs_csrf_and_a_valid_choice(app, synced, client):
    synced()
    assert client.post("/kb/reset-password/vote", data={"helpful": "yes"},
                       csrf=False).status_code == 400
    assert client.post("/kb/reset-password/vote", data={"helpful": "maybe"}).status_code == 400
    assert client.post("/kb/upcoming-plan/vote", data={"helpful": "yes"}).status_code == 404


def test_customer_sees_customer_articles_staff_see_internal(app, synced, client, login_as,
                                                            tiny_kb):
    from portal.accounts.models import Role
    from tests.kb.conftest import article_text, write

    write(tiny_kb, "billing/invoices.md", article_text("Your invoices", audience="customers"))
    synced()
    assert client.get("/kb/invoices").status_code == 404
    login_as(Role.CUSTOMER)
    assert client.get("/kb/invoices").status_code == 200
    assert client.get("/kb/secret-runbook").status_code == 404


def test_an_unverified_customer_sees_only_public_articles(app, synced, client, login_as,
                                                          tiny_kb):
    from portal.accounts.models import Role
    from tests.kb.conftest import article_text, write

    write(tiny_kb, "billing/invoices.md", article_text("Your invoices", audience="customers"))
    synced()
    login_as(Role.CUSTOMER, verified=False)
    assert client.get("/kb/invoices").status_code == 404
    assert client.get("/kb/reset-password").status_code == 200
    assert "Your invoices" not in client.get("/kb/search?q=invoices").get_data(as_text=True)


def test_an_unverified_agent_keeps_the_staff_articles(app, synced, client, login_as, tiny_kb):
    from portal.accounts.models import Role

    synced()
    login_as(Role.AGENT, verified=False)
    assert client.get("/kb/secret-runbook").status_code == 200


BATCHED = {"KB_SYNC_CHUNKS": False, "KB_EDITOR_CHUNKS": False}


@pytest.mark.parametrize("app_overrides", [{**BATCHED, "SEARCH_EVENT_BATCH_SECONDS": 0.2}])
def test_searches_are_recorded_together_a_moment_later(app, synced, client):
    synced()
    for query in ("pasword", "refund", "zzqxv nothing"):
        get_closed(client, f"/kb/search?q={query.replace(' ', '+')}")
    deadline = time.monotonic() + 10
    while len(recorded := events(EventKind.SEARCH)) < 3 and time.monotonic() < deadline:
        db.session.rollback()  # a new transaction sees what the writer committed
        time.sleep(0.05)
    assert sorted((e.data["query"], e.data["results"]) for e in recorded) == [
        ("pasword", 1), ("refund", 1), ("zzqxv nothing", 0)]
    assert all(e.visitor_id and e.data["source"] == "kb" for e in recorded)


@pytest.mark.parametrize("app_overrides", [{**BATCHED, "SEARCH_EVENT_BATCH_SECONDS": 600}])
def test_searches_waiting_for_their_batch_are_written_when_the_process_flushes(
    app, synced, client
):
    synced()
    get_closed(client, "/kb/search?q=pasword")
    get_closed(client, "/kb/search?q=refund")
    assert events(EventKind.SEARCH) == []  # the batch is not due for ten minutes
    assert flush_batched_events(app) == 2  # what runs as the process exits
    db.session.rollback()
    assert sorted(e.data["query"] for e in events(EventKind.SEARCH)) == ["pasword", "refund"]
    assert flush_batched_events(app) == 0
