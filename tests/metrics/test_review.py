"""Answer review: the sample, the verdicts, and the deflection rate corrected by them."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.events import Event, EventKind
from portal.extensions import db
from portal.metrics import review, review_report, review_seed, rollup
from portal.metrics.models import AnswerReview
from portal.metrics.queries import report
from portal.metrics.records import Period
from portal.metrics.review_figures import Corrected, Stratum, Tally, wilson_interval
from tests.metrics.review_scenario import seed_answers

DAY = date(2025, 3, 3)
START = datetime(2025, 3, 3, 8, 0)
TODAY = date(2025, 3, 10)
PERIOD = Period.of_days(DAY, date(2025, 3, 9))


def recent() -> datetime:
    """Two days ago: inside the review page's window of the last 30 days."""
    return (utcnow() - timedelta(days=2)).replace(microsecond=0)


def _post_review(client, cid: int, verdict: str, note: str = ""):
    return client.post(f"/metrics/review/{cid}", data={"verdict": verdict, "note": note})


# --- arithmetic ------------------------------------------------------------------------


def test_wilson_interval_matches_hand_computed_values():
    # 4 of 7: p = 0.5714; centre = (p + z²/14) / (1 + z²/7) = 0.5461,
    # half-width = z / (1 + z²/7) · √(p(1−p)/7 + z²/196) = 0.2957.
    four_of_seven = wilson_interval(4, 7)
    assert four_of_seven is not None
    assert four_of_seven.low == pytest.approx(0.25046, abs=1e-5)
    assert four_of_seven.high == pytest.approx(0.84178, abs=1e-5)
    none_of_five = wilson_interval(0, 5)
    assert none_of_five is not None and none_of_five.low == 0.0
    assert none_of_five.high == pytest.approx(0.43448, abs=1e-5)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_without_reviews_there_is_no_corrected_rate():
    corrected = Corrected(2, 10, 4, Tally())
    assert corrected.raw_rate == 0.75
    assert corrected.rate is None and corrected.interval is None


# --- the sample ------------------------------------------------------------------------


def test_the_sample_is_stratified_reproducible_and_skips_reviewed(app, make_user):
    seeded = seed_answers(START)
    first = review.draw_sample(per_stratum=3, today=TODAY)
    again = review.draw_sample(per_stratum=3, today=TODAY)
    assert [i.candidate for i in first.items] == [i.candidate for i in again.items]
    strata = [i.candidate.stratum for i in first.items]
    assert strata.count(Stratum.CONFIRMED) == 2  # only two exist
    assert strata.count(Stratum.ASSUMED) == 3
    assert strata.count(Stratum.SUGGESTED) == 2
    assert {c.stratum: c.population for c in first.counts} == {
        Stratum.CONFIRMED: 2, Stratum.ASSUMED: 10, Stratum.SUGGESTED: 2}
    assumed = [i for i in first.items if i.candidate.stratum == Stratum.ASSUMED]
    assert {i.candidate.conversation_id for i in assumed} <= set(
        seeded.assumed["billing"] + seeded.assumed["devices"])
    shown = assumed[0]
    assert shown.outcome == "assumed" and shown.excerpt is not None
    assert shown.excerpt.question.startswith("How do I sort out")
    assert [c.slug for c in shown.excerpt.citations] in (["refunds"], ["pairing"])

    # Reviewing the first one moves the next in the fixed order up; the others stay.
    review.record_review(shown.candidate.conversation_id, review.Verdict.RIGHT, "", None)
    after = review.draw_sample(per_stratum=3, today=TODAY)
    after_ids = [i.candidate.conversation_id for i in after.items
                 if i.candidate.stratum == Stratum.ASSUMED]
    assert shown.candidate.conversation_id not in after_ids
    assert after_ids[:2] == [i.candidate.conversation_id for i in assumed[1:]]
    # Another key draws another order over the same conversations.
    app.config["METRICS_REVIEW_SAMPLE_KEY"] = "another key"
    other = review.draw_sample(per_stratum=10, today=TODAY)
    reordered = [i.candidate.conversation_id for i in other.items
                 if i.candidate.stratum == Stratum.ASSUMED]
    assert reordered[:2] != after_ids[:2] or reordered != sorted(reordered)
    assert len(reordered) == 9


# --- the figures, hand-computed ---------------------------------------------------------


def test_reviews_of_a_seeded_sample_correct_the_deflection_rate(app, client, login_as):
    seeded = seed_answers(START)
    login_as(Role.MANAGER)
    billing, devices = seeded.assumed["billing"], seeded.assumed["devices"]
    # billing: 3 right, 1 wrong; devices: 1 right, 1 partly right, 1 wrong; plus a
    # confirmed answer judged right and a suggestion judged wrong (not in the precision).
    plan = {billing[0]: "right", billing[1]: "right", billing[2]: "right", billing[3]: "wrong",
            devices[0]: "right", devices[1]: "partly", devices[2]: "wrong",
            seeded.confirmed[0]: "right", seeded.suggested[0]: "wrong"}
    sample = review.draw_sample(per_stratum=10, today=TODAY)
    assert set(plan) <= {i.candidate.conversation_id for i in sample.items}
    for item in sample.items:
        cid = item.candidate.conversation_id
        if cid in plan:
            response = _post_review(client, cid, plan[cid], note=f"checked {cid}")
            assert response.status_code == 302, response.get_data(as_text=True)[:300]

    figures = review_report.figures(report(PERIOD), review_report.review_rows(PERIOD))
    assert figures.reviews == 9
    overall = figures.overall
    # confirmed 2, assumed 10, escalated 4: raw (2 + 10) / 16 = 0.75.
    assert (overall.confirmed, overall.assumed, overall.escalated) == (2, 10, 4)
    assert overall.raw_rate == 0.75
    # Precision 4/7; corrected (2 + 10 · 4/7) / 16 = 0.48214; its range puts the Wilson
    # bounds 0.25046 and 0.84178 in place of 4/7: 0.28154 to 0.65111.
    assert overall.tally == Tally(right=4, partly=1, wrong=2)
    assert overall.tally.precision == pytest.approx(4 / 7)
    assert overall.rate == pytest.approx(0.48214, abs=1e-5)
    assert overall.interval is not None
    assert overall.interval.low == pytest.approx(0.28154, abs=1e-5)
    assert overall.interval.high == pytest.approx(0.65111, abs=1e-5)

    per_category = {row.category: row.corrected for row in figures.by_category}
    # billing: 3/4 right, Wilson 0.30064 to 0.95441; corrected (2 + 6 · 0.75) / 10 = 0.65.
    assert per_category["billing"].rate == pytest.approx(0.65)
    assert per_category["billing"].tally.interval.low == pytest.approx(0.30064, abs=1e-5)
    assert per_category["billing"].tally.interval.high == pytest.approx(0.95441, abs=1e-5)
    # devices: 1/3 right; corrected (0 + 4 · 1/3) / 6 = 0.22222.
    assert per_category["devices"].rate == pytest.approx(0.22222, abs=1e-5)

    assert [(g.key, g.wrong, g.partly, g.reviewed) for g in figures.wrong_by_article] == [
        ("pairing", 2, 1, 4), ("password-reset", 1, 0, 1), ("refunds", 1, 0, 5)]
    assert [(g.key, g.wrong, g.partly) for g in figures.wrong_by_category] == [
        ("devices", 2, 1), ("billing", 1, 0)]

    page = client.get("/metrics?start=2025-03-03&end=2025-03-09").get_data(as_text=True)
    assert "Reviewed precision of assumed resolutions" in page
    assert "57.1%" in page and "48.2%" in page and "25.0% – 84.2%" in page
    assert "Wrong answers by cited article" in page and "/kb/editor/pairing" in page
    devices_page = client.get("/metrics?start=2025-03-03&end=2025-03-09&category=devices")
    assert "22.2%" in devices_page.get_data(as_text=True)


def test_with_no_reviews_the_dashboard_says_so(app, client, login_as):
    seed_answers(START)
    login_as(Role.MANAGER)
    page = client.get("/metrics?start=2025-03-03&end=2025-03-09").get_data(as_text=True)
    assert "No assumed resolution in this period has been reviewed yet" in page
    assert 'data-figure="corrected_rate"' not in page
    assert "no reviews" in page


# --- recording ---------------------------------------------------------------------------


def test_a_review_is_an_event_and_each_conversation_is_reviewed_once(app, client, login_as):
    seeded = seed_answers(START)
    manager = login_as(Role.MANAGER)
    cid = seeded.assumed["devices"][0]
    assert _post_review(client, cid, "wrong", "cites pairing for a billing question"
                        ).status_code == 302
    event = db.session.scalars(select(Event).where(
        Event.kind == str(EventKind.ANSWER_REVIEWED))).one()
    assert (event.conversation_id, event.user_id, event.article_slug) == (cid, manager.id,
                                                                          "pairing")
    assert event.data["verdict"] == "wrong" and event.data["stratum"] == "assumed"

    again = _post_review(client, cid, "right", "second thoughts")
    assert again.status_code == 409
    body = again.get_data(as_text=True)
    assert "already reviewed" in body
    assert db.session.scalar(select(AnswerReview.verdict)) == "wrong"
    assert db.session.query(AnswerReview).count() == 1


def test_bad_input_gets_a_message_and_keeps_the_note(app, client, login_as):
    seeded = seed_answers(START)
    login_as(Role.MANAGER)
    cid = seeded.assumed["billing"][0]
    missing = _post_review(client, cid, "maybe", "my careful note")
    assert missing.status_code == 422
    assert "Choose right, partly right or wrong." in missing.get_data(as_text=True)
    too_long = _post_review(client, cid, "right", "x" * (review.NOTE_LIMIT + 1))
    assert too_long.status_code == 422
    assert "keep it under" in too_long.get_data(as_text=True)
    not_an_answer = _post_review(client, seeded.escalated[0], "right", "note kept")
    assert not_an_answer.status_code == 422
    assert "has no bot answer to review" in not_an_answer.get_data(as_text=True)
    assert db.session.query(AnswerReview).count() == 0
    forged = client.post(f"/metrics/review/{cid}", data={"verdict": "right"}, csrf=False)
    assert forged.status_code == 400 and db.session.query(AnswerReview).count() == 0


@pytest.mark.parametrize("role, reads, writes", [
    (Role.MANAGER, 200, 302), (Role.ADMIN, 200, 302), (Role.EDITOR, 200, 403),
    (Role.AGENT, 403, 403), (Role.CUSTOMER, 403, 403)])
def test_roles(app, client, login_as, role, reads, writes):
    seeded = seed_answers(recent())
    login_as(role)
    page = client.get("/metrics/review")
    assert page.status_code == reads
    if reads == 200:
        html = page.get_data(as_text=True)
        assert ("Save verdict" in html) == (writes == 302)
    assert _post_review(client, seeded.confirmed[0], "right").status_code == writes
    assert client.get("/metrics/review/export.csv").status_code == reads


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    assert client.get("/metrics/review").status_code == 302


def test_the_review_page_shows_recent_answers(app, client, login_as):
    seeded = seed_answers(recent())
    review.record_review(seeded.assumed["devices"][0], review.Verdict.WRONG, "", None)
    login_as(Role.EDITOR)
    html = client.get("/metrics/review").get_data(as_text=True)
    assert html.count('class="card review-item"') == 5 + 2 + 2
    assert f'id="review-{seeded.assumed["devices"][0]}"' not in html
    assert "How do I sort out refunds?" in html or "How do I sort out pairing?" in html
    assert "Fix this article" in html and "/kb/editor/pairing" in html
    assert f"Conversation #{seeded.suggested[0]}" in html
    assert "1 of 10 reviewed" in html
    # Editors see where answers went wrong, each linked to the editor.
    wrong = html[html.index("Wrong answers by cited article"):]
    assert 'href="/kb/editor/pairing' in wrong
    assert "Save verdict" not in html


def test_csv_export_of_reviews(app, client, login_as):
    seeded = seed_answers(START)
    login_as(Role.MANAGER)
    _post_review(client, seeded.assumed["billing"][0], "partly", "=HYPERLINK(\"x\")")
    _post_review(client, seeded.suggested[1], "wrong")
    response = client.get("/metrics/review/export.csv?start=2025-03-03&end=2025-03-09")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(review_report_columns())
    assert [(r[1], r[4], r[5], r[6], r[7]) for r in rows[1:]] == [
        (str(seeded.assumed["billing"][0]), "assumed", "assumed", "partly", "refunds"),
        (str(seeded.suggested[1]), "suggested", "abandoned", "wrong",
         "pairing password-reset")]
    # A note a spreadsheet would run as a formula is quoted.
    assert rows[1][8] == "'=HYPERLINK(\"x\")"
    outside = client.get("/metrics/review/export.csv?start=2025-04-01&end=2025-04-09")
    assert len(list(csv.reader(io.StringIO(outside.get_data(as_text=True))))) == 1


def review_report_columns() -> tuple[str, ...]:
    from portal.metrics.review_views import CSV_COLUMNS

    return CSV_COLUMNS


def test_review_rows_follow_the_category_filter(app):
    seeded = seed_answers(START)
    review.record_review(seeded.assumed["billing"][0], review.Verdict.RIGHT, "", None)
    review.record_review(seeded.assumed["devices"][0], review.Verdict.WRONG, "", None)
    assert [r.category for r in review_report.review_rows(PERIOD, "devices")] == ["devices"]
    assert len(review_report.review_rows(PERIOD)) == 2


def test_demo_reviews_are_recorded_like_a_managers_and_say_they_are_demo(app, runner):
    seed_answers(recent())
    result = runner.invoke(args=["metrics", "seed-reviews", "--count", "5"])
    assert result.exit_code == 0, result.output
    assert "Recorded 5 demo reviews" in result.output
    again = runner.invoke(args=["metrics", "seed-reviews", "--count", "20"])
    assert "Recorded 9 demo reviews" in again.output  # 14 reviewable chats in all
    notes = db.session.scalars(select(AnswerReview.note)).all()
    assert len(notes) == 14 and set(notes) == {review_seed.DEMO_NOTE}
    assert db.session.query(Event).filter_by(kind="answer_reviewed").count() == 14


def test_a_rollup_rebuild_keeps_the_reviews(app):
    seeded = seed_answers(START)
    review.record_review(seeded.assumed["billing"][0], review.Verdict.WRONG, "", None)
    before = review_report.figures(report(PERIOD), review_report.review_rows(PERIOD))
    rollup.rebuild()
    after = review_report.figures(report(PERIOD), review_report.review_rows(PERIOD))
    assert after.reviews == before.reviews == 1
    assert after.overall == before.overall and after.overall.rate == pytest.approx(2 / 16)


def test_cited_links_on_the_review_page_stay_inside_the_portal(app):
    from portal.chat.models import Conversation, Message
    from portal.chat.services import answer_excerpts

    conversation = Conversation(visitor_id="v-link", state="answered")
    db.session.add(conversation)
    db.session.flush()
    db.session.add_all([
        Message(conversation_id=conversation.id, role="user", text="help", kind="question"),
        Message(conversation_id=conversation.id, role="bot", text="See [1] [2].", kind="answer",
                citations=[{"slug": "a", "url": "javascript:alert(1)"},
                           {"slug": "b", "url": "/kb/b#steps"}, "not a citation"]),
        Message(conversation_id=conversation.id, role="user", text="thanks", kind="question"),
    ])
    db.session.commit()
    excerpt = answer_excerpts([conversation.id])[conversation.id]
    assert [c.url for c in excerpt.citations] == ["", "/kb/b#steps"]
    assert excerpt.question == "help" and excerpt.afterwards == ("thanks",)


def test_the_content_gap_report_lists_wrong_answers_beside_failed_searches(app, client,
                                                                            login_as):
    seeded = seed_answers(recent())
    review.record_review(seeded.assumed["devices"][0], review.Verdict.WRONG, "", None)
    review.record_review(seeded.assumed["billing"][0], review.Verdict.RIGHT, "", None)
    login_as(Role.EDITOR)
    html = client.get("/kb/editor/gaps").get_data(as_text=True)
    failed = html.index('id="failed-searches"')
    wrong = html.index("Wrong answers by cited article")
    assert failed < wrong < html.index('id="no-click"')
    table = html[wrong:html.index("Wrong answers by category")]
    assert 'href="/kb/editor/pairing' in table and "refunds" not in table
