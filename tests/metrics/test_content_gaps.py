"""The editors' content-gap report at /kb/editor/gaps, and staff searches left out of it."""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.accounts.models import Role
from portal.events import EventKind, emit
from portal.extensions import db
from portal.metrics import queries, rollup
from tests.metrics.scenario import EMPTY, PERIOD, PREVIOUS, insert_scenario

WEEK = {"start": "2025-03-03", "end": "2025-03-09"}


def test_only_editors_and_admins_open_the_report(client, login_as) -> None:
    login_as(Role.AGENT)
    assert client.get("/kb/editor/gaps").status_code == 403
    client.post("/logout")
    login_as(Role.EDITOR)
    assert client.get("/kb/editor/gaps").status_code == 200


def test_the_report_lists_each_gap_with_a_link_to_the_editor(client, login_as) -> None:
    at = datetime(2025, 3, 4, 9)
    for n in range(3):
        emit(EventKind.SEARCH, occurred_at=at, visitor_id=f"v{n}", query="solar panel pairing",
             results=0, search_id=f"s{n}", source="kb")
    emit(EventKind.HANDOFF, occurred_at=at, visitor_id="v9", conversation_id=9,
         topic="warranty claim")
    emit(EventKind.ARTICLE_VOTE, occurred_at=at, visitor_id="v8", article_slug="reset-password",
         category="account", helpful=False)
    db.session.commit()
    login_as(Role.EDITOR)
    page = client.get("/kb/editor/gaps", query_string=WEEK).get_data(as_text=True)
    failed = page.partition('id="failed-searches"')[2].partition("</section>")[0]
    assert "solar panel pairing" in failed and ">3<" in failed
    assert "/kb/editor/new?title=solar+panel+pairing" in failed
    assert "/kb/editor?q=solar+panel+pairing" in failed
    assert "warranty claim" in page.partition('id="handoffs"')[2].partition("</section>")[0]
    unhelpful = page.partition('id="unhelpful"')[2].partition("</section>")[0]
    assert 'href="/kb/editor/reset-password/edit"' in unhelpful


def test_staff_searches_are_not_recorded(client, login_as) -> None:
    from portal.events import Event

    def searches(kind: EventKind = EventKind.SEARCH) -> list[str]:
        db.session.expire_all()
        return [e.data.get("query") for e in db.session.query(Event).all()
                if e.kind == kind.value]

    def search(query: str) -> None:
        client.get("/kb/search", query_string={"q": query}).close()  # records on close

    search("customer looks for lasagne")
    assert searches() == ["customer looks for lasagne"]
    login_as(Role.EDITOR)
    search("editor checks lasagne")
    client.get("/tickets/new/suggestions", query_string={"subject": "editor tries the form"})
    client.get("/kb/search/open", query_string={"slug": "lasagne", "sid": "s1",
                                                "q": "editor checks lasagne"})
    assert searches() == ["customer looks for lasagne"]
    assert searches(EventKind.SEARCH_CLICK) == []


@pytest.mark.parametrize("category", [None, "billing"])
def test_the_gaps_alone_are_the_dashboard_s_gaps(app, category) -> None:
    insert_scenario()
    rollup.refresh()
    for period in (PERIOD, PREVIOUS, EMPTY):
        alone, whole = queries.content_gaps(period, category), queries.report(period, category).gaps
        assert (alone.zero_results, alone.no_clicks, alone.handoff_topics) == (
            whole.zero_results, whole.no_clicks, whole.handoff_topics)
        # The articles' votes are all the report shows of them.
        assert [(r.slug, r.unhelpful, r.helpful) for r in alone.unhelpful] == [
            (r.slug, r.unhelpful, r.helpful) for r in whole.unhelpful]
    assert queries.content_gaps(PERIOD, category).unhelpful
