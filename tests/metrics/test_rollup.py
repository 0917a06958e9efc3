"""The rollups the dashboard reads agree with the reference definitions."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.events import EventKind, emit
from portal.extensions import db
from portal.metrics import definitions as d
from portal.metrics import queries, rollup
from portal.metrics.models import ConversationRollup, RollupState
from portal.metrics.records import EventRecord, Period
from tests.metrics.scenario import (
    EMPTY,
    PERIOD,
    PREVIOUS,
    all_records,
    insert_generated,
    insert_scenario,
)

PERIODS = [PERIOD, PREVIOUS, EMPTY, Period.of_days(date(2025, 2, 20), date(2025, 3, 15))]


def outcome_of(conversation_id: int) -> str | None:
    return db.session.scalar(select(ConversationRollup.outcome)
                             .where(ConversationRollup.conversation_id == conversation_id))


def assert_agrees(events: list[EventRecord], period: Period, category: str | None) -> None:
    expected = d.compute_report(events, period, category)
    actual = queries.report(period, category)
    for name in ("outcomes", "form", "self_service", "tickets", "funnel", "by_category",
                 "by_article", "gaps", "series"):
        assert getattr(actual, name) == getattr(expected, name), (name, period, category)


@pytest.mark.parametrize("category", [None, "billing", "devices", "account"])
def test_rollups_match_the_definitions(app, category) -> None:
    insert_scenario()
    rollup.refresh()
    events = all_records()
    for period in PERIODS:
        assert_agrees(events, period, category)


def test_late_ticket_turns_assumed_into_escalated_incrementally(app) -> None:
    # Up to Thursday 6 March: C2 was answered on Tuesday and nothing followed yet.
    cut = datetime(2025, 3, 7)
    insert_scenario(before=cut)
    rollup.refresh()
    assert outcome_of(2) == "assumed"
    assert outcome_of(6) == "escalated"  # the sign-in linked the browser before the ticket
    insert_scenario(since=cut)
    rollup.refresh()
    assert outcome_of(2) == "escalated"  # T2 came 71 h after the answer
    assert outcome_of(3) == "assumed"  # T3 came 73 h after the answer
    for period in PERIODS:
        assert_agrees(all_records(), period, None)


def test_sign_in_after_the_ticket_links_earlier_activity(app) -> None:
    start = datetime(2025, 3, 3, 9)
    emit(EventKind.CHAT_STARTED, occurred_at=start, conversation_id=50, visitor_id="anon")
    emit(EventKind.ANSWER_GIVEN, occurred_at=start, conversation_id=50, visitor_id="anon",
         category="billing", article_slugs=["refunds"], confidence=0.9, mode="local")
    emit(EventKind.TICKET_CREATED, occurred_at=start + timedelta(hours=2), ticket_id=70,
         user_id=7, category="billing", source="email", priority="normal", number=70)
    db.session.commit()
    rollup.refresh()
    assert outcome_of(50) == "assumed"
    emit(EventKind.USER_SIGNED_IN, occurred_at=start + timedelta(hours=3), visitor_id="anon",
         user_id=7)
    db.session.commit()
    rollup.refresh()
    assert outcome_of(50) == "escalated"
    assert_agrees(all_records(), PERIOD, None)


def test_refresh_is_incremental_and_idempotent(app) -> None:
    insert_scenario()
    assert rollup.refresh() > 0
    assert rollup.refresh() == 0
    before = queries.report(PERIOD)
    last = db.session.get(RollupState, 1)
    assert last is not None and last.last_event_id == max(e.id for e in all_records())
    assert rollup.rebuild() == len(all_records())
    assert queries.report(PERIOD) == before


def test_recent_events_wait_for_the_settle_time(app) -> None:
    app.config["METRICS_SETTLE_SECONDS"] = 60
    emit(EventKind.SEARCH, query="fresh", results=0, search_id="x", visitor_id="v", source="kb")
    db.session.commit()
    assert rollup.refresh() == 0
    app.config["METRICS_SETTLE_SECONDS"] = 0
    assert rollup.refresh() == 1


def test_rollups_match_on_generated_activity(app) -> None:
    first = date(2025, 1, 1)
    events = insert_generated(first, days=21, conversations_per_day=12, seed=7)
    assert len(events) > 500
    for period in (Period.of_days(first, first + timedelta(days=20)),
                   Period.of_days(first + timedelta(days=7), first + timedelta(days=13))):
        for category in (None, "billing", "devices"):
            assert_agrees(events, period, category)


def test_partial_day_periods_are_refused(app) -> None:
    with pytest.raises(ValueError, match="whole days"):
        queries.report(Period(datetime(2025, 3, 3, 12), datetime(2025, 3, 4)))


def test_a_visitor_is_counted_once_per_period_even_when_days_arrive_out_of_order(app) -> None:
    def search(day: int, visitor: str) -> None:
        emit(EventKind.SEARCH, occurred_at=datetime(2025, 3, day, 10), query="invoice",
             results=2, search_id=f"{visitor}-{day}", visitor_id=visitor, source="kb")
        db.session.commit()
        rollup.refresh()

    search(20, "v1")
    search(1, "v1")
    search(5, "v2")
    # A late event fills a day between two known ones: the counts must not double.
    search(10, "v1")

    def visitors(first: int, last: int) -> int:
        period = Period.of_days(date(2025, 3, first), date(2025, 3, last))
        return queries.report(period, detail=False).self_service.visitors

    assert visitors(1, 31) == 2
    assert visitors(2, 31) == 2  # v1 on the 10th and 20th, v2 on the 5th
    assert visitors(6, 15) == 1  # only v1's late day
    assert visitors(11, 19) == 0
    assert visitors(11, 20) == 1
    events = all_records()
    for first, last in ((1, 31), (2, 31), (6, 15), (11, 20)):
        assert_agrees(events, Period.of_days(date(2025, 3, first), date(2025, 3, last)), None)
