"""/metrics/review: managers mark sampled bot answers; editors read them; CSV of reviews."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, flash, request, url_for
from flask_login import current_user

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.metrics import presentation, review, review_report, services
from portal.metrics.records import Period
from portal.metrics.review_figures import REVIEW_HELP, Stratum, Verdict
from portal.metrics.views import article_titles, bp, editor_article_url, editor_search_url
from portal.untrusted import content_disposition
from portal.web import hx_redirect, render

STRATUM_LABELS = {
    Stratum.CONFIRMED: "Confirmed by the customer",
    Stratum.ASSUMED: "Assumed resolved",
    Stratum.SUGGESTED: "Articles suggested",
}
OUTCOME_LABELS = {
    "confirmed": "The customer said it solved the problem.",
    "assumed": "No “No”, no hand-off and no ticket within 72 h: counted as resolved.",
    "escalated": "A ticket followed.",
    "abandoned": "The customer left without a ticket.",
}
CSV_COLUMNS = ("reviewed_at", "conversation_id", "conversation_day", "category", "drawn_as",
               "outcome_now", "verdict", "cited_articles", "note", "reviewer_id")


def _can_review() -> bool:
    return current_user.role in (Role.MANAGER, Role.ADMIN)


def _page(errors: dict[int, str] | None = None,
          kept: dict[int, dict[str, str]] | None = None) -> str:
    # The strata come from the rollups: bring them up to date as the dashboard does.
    services.refresh_rollups()
    sample = review.draw_sample()
    wrong = review_report.wrong_answers(
        review_report.review_rows(Period.of_days(sample.first, sample.last)))
    slugs = sorted({c.slug for item in sample.items if item.excerpt
                    for c in item.excerpt.citations if c.slug}
                   | {group.key for group in wrong.wrong_by_article})
    context: dict[str, Any] = {
        "sample": sample, "can_review": _can_review(), "verdicts": list(Verdict),
        "stratum_labels": STRATUM_LABELS, "outcome_labels": OUTCOME_LABELS,
        "titles": article_titles(slugs), "editor_article_url": editor_article_url,
        "editor_search_url": editor_search_url, "review": wrong,
        "errors": errors or {}, "kept": kept or {}, "note_limit": review.NOTE_LIMIT,
        "review_help": REVIEW_HELP,
    }
    return render("metrics/review.html", **context)


@bp.get("/review")
@role_required(Role.MANAGER, Role.EDITOR)
def review_page() -> str:
    return _page()


@bp.post("/review/<int:conversation_id>")
@role_required(Role.MANAGER)
def review_answer(conversation_id: int) -> Any:
    note = request.form.get("note", "")
    try:
        verdict = review.parse_verdict(request.form.get("verdict"))
        review.record_review(conversation_id, verdict, note, current_user.id)
    except review.ReviewError as problem:
        # The page comes back with the note as typed: nothing the reviewer wrote is lost.
        kept = {conversation_id: {"verdict": request.form.get("verdict", ""), "note": note}}
        return _page({conversation_id: str(problem)}, kept), problem.status
    flash(f"Conversation #{conversation_id} marked {verdict.label.lower()}.", "success")
    return hx_redirect(url_for("metrics.review_page"))


@bp.get("/review/export.csv")
@role_required(Role.MANAGER, Role.EDITOR)
def review_export() -> Response:
    filters = services.parse_filters(request.args)
    rows = review_report.review_rows(filters.period, filters.category)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([presentation.csv_cell(value) for value in (
            row.reviewed_at.isoformat(timespec="seconds"), row.conversation_id,
            row.day.isoformat(), row.category, row.stratum, row.outcome, row.verdict,
            " ".join(row.cited), row.note, row.reviewer_id)])
    name = f"answer-reviews-{filters.first.isoformat()}-{filters.last.isoformat()}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": content_disposition(name),
                             "X-Content-Type-Options": "nosniff"})
