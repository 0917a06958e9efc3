"""`portal demo seed` writes realistic, backdated activity through the real services."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.clock import utcnow
from portal.events import Event
from portal.extensions import db
from portal.kb import sync
from portal.metrics import queries, seed
from portal.metrics.draft_definitions import compute_draft_usage
from portal.metrics.records import EventRecord, Period
from tests.metrics.test_rollup import assert_agrees

ARTICLES = {
    "account/reset-password.md": ("Reset your password", "account",
                                  "Tap Forgot password on the sign-in screen and follow the "
                                  "link we email you."),
    "billing/refunds.md": ("Refund policy", "billing",
                           "Refunds are possible within 30 days of the order. Open Orders "
                           "and choose Request refund."),
    "devices/pairing.md": ("Pair the thermostat with the hub", "devices",
                           "Hold the pairing button for five seconds until the light blinks "
                           "blue, then choose Add device in the app."),
}


@pytest.fixture
def small_kb(app, tmp_path: Path) -> None:
    for relative, (title, _category, body) in ARTICLES.items():
        path = tmp_path / "kb" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(f"""\
            ---
            title: {title}
            summary: {title}.
            ---

            ## How to

            {body}
            """), encoding="utf-8")
    sync.sync_content(tmp_path / "kb", wait=True)


def test_demo_seed_writes_backdated_activity_through_the_services(app, runner, small_kb):
    result = runner.invoke(args=["demo", "seed", "--days", "6", "--visits-per-day", "6"])
    assert result.exit_code == 0, result.output
    assert "folded into the metrics" in result.output
    kinds = dict(db.session.execute(
        select(Event.kind, func.count()).group_by(Event.kind)).all())
    for kind in ("search", "search_click", "article_view", "chat_started", "ticket_created"):
        assert kinds.get(kind, 0) > 0, (kind, kinds)
    assert kinds.get("answer_given", 0) + kinds.get("handoff", 0) > 0
    oldest, newest = db.session.execute(
        select(func.min(Event.occurred_at), func.max(Event.occurred_at))
        .where(Event.kind != "user_registered")).one()
    now = utcnow()
    assert now - timedelta(days=7) <= oldest < now - timedelta(days=4)
    assert newest <= now
    # First responses carry the simulated durations, not the seconds the seeding took.
    seconds = list(db.session.scalars(
        select(Event.data).where(Event.kind == "ticket_first_response")))
    assert all(data["seconds"] >= 60 and "sla_met" in data for data in seconds)

    # Subjects read like customers' words (content/_demo_customer_words.yml), not templates
    # around an article title ("How do I refund policy?", "Problem with reset your password").
    from portal.tickets.models import Ticket

    said = {w for words in seed.load_customer_words().values() for w in words}
    said |= set(seed.HUMAN_WORDS)
    subjects = list(db.session.scalars(select(Ticket.subject)))
    assert subjects and all(s in said or s.startswith("Question about ") for s in subjects)
    assert not any(s.startswith(("Problem with", "How do I refund")) for s in subjects)

    period = Period.of_days((now - timedelta(days=6)).date(), now.date())
    events = [EventRecord.from_row(row) for row in db.session.scalars(select(Event))]
    assert queries.report(period).outcomes.total > 0
    assert_agrees(events, period, None)
    # The demo shows what agents did with the copilot's drafts, as the definition counts it.
    drafts = queries.draft_usage(period)
    assert drafts.shown > 0 and drafts.decided > 0
    assert drafts == compute_draft_usage(events, period)


def test_demo_step_seeds_only_an_empty_portal(app, small_kb, monkeypatch):
    calls = []
    monkeypatch.setattr(seed, "seed_demo_activity", lambda *a, **k: calls.append(a) or
                        seed.SeedReport())
    from portal.metrics.cli import seed_demo_step

    seed_demo_step()
    assert len(calls) == 1
    from portal.events import EventKind, emit

    emit(EventKind.SEARCH, commit=True, query="x", results=0, search_id="s", source="kb")
    seed_demo_step()
    assert len(calls) == 1
