"""A small week of activity whose every figure was computed by hand (see test_definitions).

The period under test is Monday 3 March 2025 to Sunday 9 March 2025 (both included).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from portal.events import Event, EventKind, emit
from portal.extensions import db
from portal.metrics import rollup
from portal.metrics.records import EventRecord, Period
from portal.metrics.synthetic import generate_events

PERIOD = Period.of_days(date(2025, 3, 3), date(2025, 3, 9))
PREVIOUS = PERIOD.previous()
EMPTY = Period.of_days(date(2024, 1, 1), date(2024, 1, 7))

U1, U2, U3, U4 = 101, 102, 103, 104
K = EventKind


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute)


def _events() -> list[tuple[datetime, EventKind, dict[str, Any]]]:
    e: list[tuple[datetime, EventKind, dict[str, Any]]] = []

    def add(moment: datetime, kind: EventKind, **fields: Any) -> None:
        e.append((moment, kind, fields))

    # --- the previous week: one assumed conversation, one ticket still open at its end.
    add(at(27, 10, month=2), K.SEARCH, visitor_id="vi", query="old", results=0, search_id="s7",
        source="kb")
    add(at(28, 9, month=2), K.ARTICLE_VIEW, visitor_id="vi", article_slug="refunds",
        category="billing")
    add(at(28, 10, month=2), K.CHAT_STARTED, conversation_id=8, visitor_id="vi")
    add(at(28, 10, 1, month=2), K.ANSWER_GIVEN, conversation_id=8, visitor_id="vi",
        category="billing", article_slugs=["refunds"], confidence=0.8, mode="local")
    add(at(26, 10, month=2), K.TICKET_CREATED, ticket_id=8, user_id=U4, category="billing",
        source="email", priority="normal", number=1008)

    # --- searches
    add(at(3, 8, 55), K.SEARCH, visitor_id="va", query="refund", results=3, search_id="s1",
        source="kb")
    add(at(3, 8, 56), K.SEARCH_CLICK, visitor_id="va", article_slug="refunds", search_id="s1",
        query="refund", position=1)
    add(at(3, 9, 30), K.SEARCH, visitor_id="vb", query="Refund ", results=3, search_id="s2",
        source="kb")
    add(at(4, 7), K.SEARCH, visitor_id="vk", query="warranty claim", results=0, search_id="s3",
        source="kb")
    add(at(4, 7, 1), K.SEARCH, visitor_id="vk", query="Warranty  claim", results=0,
        search_id="s4", source="kb")
    add(at(5, 9, 55), K.SEARCH, visitor_id="vl", query="invoice pdf", results=2, search_id="s5",
        source="kb")
    add(at(5, 9, 56), K.SEARCH_CLICK, visitor_id="vl", article_slug="invoices", search_id="s5",
        query="invoice pdf", position=1)
    add(at(5, 9, 58), K.SEARCH_CLICK, visitor_id="vl", article_slug="refunds", search_id="s5",
        query="invoice pdf", position=2)
    add(at(8, 9, 40), K.SEARCH, visitor_id="vl", query="pairing", results=1, search_id="s6",
        source="ticket_form")

    # --- article views and votes
    add(at(3, 8, 57), K.ARTICLE_VIEW, visitor_id="va", article_slug="refunds", category="billing")
    add(at(3, 8, 58), K.ARTICLE_VOTE, visitor_id="va", article_slug="refunds", category="billing",
        helpful=True)
    add(at(5, 10), K.ARTICLE_VIEW, visitor_id="vl", article_slug="invoices", category="billing")
    add(at(4, 12, 30), K.ARTICLE_VOTE, visitor_id="vc", article_slug="pairing",
        category="devices", helpful=False)
    add(at(5, 8, 10), K.ARTICLE_VOTE, visitor_id="vd", article_slug="pairing",
        category="devices", helpful=False, comment="did not work")
    add(at(6, 9, 30), K.ARTICLE_VIEW, visitor_id="vf", article_slug="password-reset",
        category="account")
    add(at(6, 9, 31), K.ARTICLE_VOTE, visitor_id="vf", article_slug="password-reset",
        category="account", helpful=True)
    add(at(7, 8, 30), K.ARTICLE_VIEW, visitor_id="vb", article_slug="refunds", category="billing")
    add(at(7, 12), K.ARTICLE_VIEW, visitor_id="vc", user_id=U2, article_slug="pairing",
        category="devices")
    add(at(8, 9), K.ARTICLE_VIEW, visitor_id="vh", article_slug="invoices", category="billing")
    add(at(8, 9, 5), K.ARTICLE_VOTE, visitor_id="vh", article_slug="invoices",
        category="billing", helpful=False)

    # --- C1: "No" then a later "Yes": confirmed, durable.
    add(at(3, 9), K.CHAT_STARTED, conversation_id=1, visitor_id="va", user_id=U1)
    add(at(3, 9, 1), K.ANSWER_GIVEN, conversation_id=1, visitor_id="va", user_id=U1,
        category="billing", article_slugs=["refunds"], confidence=0.9, mode="local")
    add(at(3, 9, 2), K.CHAT_FEEDBACK, conversation_id=1, helpful=False)
    add(at(3, 9, 5), K.CHAT_FEEDBACK, conversation_id=1, helpful=True)
    add(at(3, 9, 5), K.RESOLUTION_CONFIRMED, conversation_id=1, visitor_id="va", user_id=U1)

    # --- C2: answered, then a ticket from the same browser 71 h later: escalated.
    add(at(4, 10), K.CHAT_STARTED, conversation_id=2, visitor_id="vb")
    add(at(4, 10, 1), K.ANSWER_GIVEN, conversation_id=2, visitor_id="vb", category="billing",
        article_slugs=["refunds", "invoices"], confidence=0.7, mode="local")
    add(at(7, 8, 45), K.TICKET_FORM_OPENED, visitor_id="vb", form_id="f2")
    add(at(7, 8, 46), K.TICKET_FORM_SUGGESTIONS, visitor_id="vb", form_id="f2",
        article_slugs=["refunds"])
    add(at(7, 9, 1), K.TICKET_CREATED, ticket_id=2, visitor_id="vb", category="billing",
        source="form", priority="normal", form_id="f2", number=1002)
    add(at(7, 10, 1), K.TICKET_FIRST_RESPONSE, ticket_id=2, seconds=3600, sla_met=True)

    # --- C3: answered, a ticket from the same account 73 h later: assumed, not durable.
    add(at(4, 12), K.CHAT_STARTED, conversation_id=3, visitor_id="vc", user_id=U2)
    add(at(4, 12), K.ANSWER_GIVEN, conversation_id=3, visitor_id="vc", user_id=U2,
        category="devices", article_slugs=["pairing"], confidence=0.6, mode="openai")
    # The reopened ticket.
    add(at(7, 13), K.TICKET_CREATED, ticket_id=3, user_id=U2, visitor_id="vc2",
        category="devices", source="form", priority="high", number=1003)
    add(at(7, 14), K.TICKET_FIRST_RESPONSE, ticket_id=3, seconds=3600, sla_met=True)
    add(at(8, 13), K.TICKET_SOLVED, ticket_id=3, category="devices", seconds=86400, sla_met=True)
    add(at(8, 15), K.TICKET_REOPENED, ticket_id=3)
    add(at(9, 13), K.TICKET_SOLVED, ticket_id=3, category="devices", seconds=172800,
        sla_met=False)
    add(at(9, 14), K.CSAT, ticket_id=3, category="devices", score=2, source="form")

    # --- C4: handed off, ticket from the conversation: escalated; rated twice (latest counts).
    add(at(5, 8), K.CHAT_STARTED, conversation_id=4, visitor_id="vd")
    add(at(5, 8, 1), K.ANSWER_GIVEN, conversation_id=4, visitor_id="vd", category="devices",
        article_slugs=["pairing"], confidence=0.3, mode="local")
    add(at(5, 8, 2), K.HANDOFF, conversation_id=4, visitor_id="vd", category="devices",
        reason="asked_for_person", topic="warranty")
    add(at(5, 8, 3), K.TICKET_CREATED, ticket_id=4, conversation_id=4, visitor_id="vd",
        category="devices", source="chat", priority="normal", number=1004)
    add(at(5, 10, 3), K.TICKET_FIRST_RESPONSE, ticket_id=4, seconds=7200, sla_met=True)
    add(at(5, 12, 3), K.TICKET_SOLVED, ticket_id=4, category="devices", seconds=14400,
        sla_met=True)
    add(at(5, 13), K.CSAT, ticket_id=4, category="devices", score=5, source="chat")
    add(at(6, 8), K.CSAT, ticket_id=4, category="devices", score=4, source="chat")

    # --- C5: never answered, nothing followed: abandoned.
    add(at(5, 15), K.CHAT_STARTED, conversation_id=5, visitor_id="ve")

    # --- C6: anonymous chat, the browser then signs in, the account files a ticket: escalated.
    add(at(6, 9), K.CHAT_STARTED, conversation_id=6, visitor_id="vf")
    add(at(6, 9, 1), K.ANSWER_GIVEN, conversation_id=6, visitor_id="vf", category="account",
        article_slugs=["password-reset"], confidence=0.8, mode="local")
    add(at(6, 11), K.USER_SIGNED_IN, visitor_id="vf", user_id=U3)
    add(at(6, 12), K.TICKET_CREATED, ticket_id=6, user_id=U3, visitor_id="vg",
        category="account", source="form", priority="normal", number=1006)
    add(at(6, 12, 30), K.TICKET_FIRST_RESPONSE, ticket_id=6, seconds=1800, sla_met=True)
    add(at(6, 14), K.TICKET_SOLVED, ticket_id=6, category="account", seconds=7200, sla_met=True)
    add(at(6, 15), K.CSAT, ticket_id=6, category="account", score=5, source="form")
    add(at(7, 14), K.TICKET_CLOSED, ticket_id=6)

    # --- C7: confirmed, then a ticket from the same browser a day later: stays confirmed,
    # but the resolution was not durable.
    add(at(8, 10), K.CHAT_STARTED, conversation_id=7, visitor_id="vh")
    add(at(8, 10), K.ANSWER_GIVEN, conversation_id=7, visitor_id="vh", category="billing",
        article_slugs=["invoices"], confidence=0.9, mode="local")
    add(at(8, 10, 5), K.RESOLUTION_CONFIRMED, conversation_id=7, visitor_id="vh")
    add(at(9, 9, 30), K.TICKET_FORM_OPENED, visitor_id="vh", form_id="f4")
    add(at(9, 9, 31), K.TICKET_FORM_SUGGESTIONS, visitor_id="vh", form_id="f4",
        article_slugs=["invoices"])
    add(at(9, 10), K.TICKET_CREATED, ticket_id=7, visitor_id="vh", category="billing",
        source="form", priority="low", number=1007)

    # --- C9: answered, told "No", handed off, no ticket: abandoned.
    add(at(9, 14), K.CHAT_STARTED, conversation_id=9, visitor_id="vj")
    add(at(9, 14, 1), K.ANSWER_GIVEN, conversation_id=9, visitor_id="vj", category="account",
        article_slugs=["password-reset"], confidence=0.5, mode="local")
    add(at(9, 14, 2), K.CHAT_FEEDBACK, conversation_id=9, helpful=False)
    add(at(9, 14, 3), K.HANDOFF, conversation_id=9, visitor_id="vj", category="account",
        reason="not_helpful")

    # --- ticket forms: f1 deflected; f3 showed no suggestions.
    add(at(4, 9), K.TICKET_FORM_OPENED, visitor_id="vm", form_id="f1")
    add(at(4, 9, 1), K.TICKET_FORM_SUGGESTIONS, visitor_id="vm", form_id="f1",
        article_slugs=["refunds"])
    add(at(8, 10), K.TICKET_FORM_OPENED, visitor_id="vn", form_id="f3")
    add(at(8, 10, 1), K.TICKET_FORM_SUGGESTIONS, visitor_id="vn", form_id="f3", article_slugs=[])

    # --- the older ticket is solved inside the week; a ticket after the week.
    add(at(4, 10), K.TICKET_SOLVED, ticket_id=8, category="billing", seconds=518400,
        sla_met=False)
    add(at(10, 9), K.TICKET_CREATED, ticket_id=9, visitor_id="vz", category="billing",
        source="form", priority="normal", number=1009)
    return e


def scenario_events() -> list[tuple[datetime, EventKind, dict[str, Any]]]:
    return sorted(_events(), key=lambda item: item[0])


def insert_scenario(*, before: datetime | None = None, since: datetime | None = None) -> None:
    """Emit the scenario's events in time order (optionally only a slice of time)."""
    for moment, kind, fields in scenario_events():
        if (before is not None and moment >= before) or (since is not None and moment < since):
            continue
        emit(kind, occurred_at=moment, **fields)
    db.session.commit()


def all_records() -> list[EventRecord]:
    return [EventRecord.from_row(row) for row in db.session.scalars(db.select(Event))]


def insert_generated(first_day: date, days: int, conversations_per_day: int,
                     seed: int) -> list[EventRecord]:
    """Emit synthetic activity, fold it into the rollups, and return every event."""
    for row in generate_events(first_day=first_day, days=days,
                               conversations_per_day=conversations_per_day, seed=seed):
        emit(**row)
    db.session.commit()
    rollup.refresh()
    return all_records()
