from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, abort, request, url_for
from markupsafe import Markup
from werkzeug.routing import BuildError

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.metrics import charts, presentation, review_report, services
from portal.metrics.review_figures import REVIEW_HELP
from portal.untrusted import content_disposition
from portal.web import render

bp = Blueprint("metrics", __name__, url_prefix="/metrics", template_folder="templates")

OUTCOME_SERIES = [
    charts.Series("confirmed", "Confirmed", "s-confirmed"),
    charts.Series("assumed", "Assumed", "s-assumed"),
    charts.Series("escalated", "Escalated", "s-escalated"),
    charts.Series("abandoned", "Abandoned", "s-abandoned"),
]
RATE_SERIES = [
    charts.Series("deflection", "Deflection rate", "s-deflection"),
    charts.Series("confirmed", "Confirmed-only rate", "s-confirmed"),
]
VOLUME_SERIES = [
    charts.Series("searches", "Searches", "s-searches"),
    charts.Series("chats", "Chats", "s-chats"),
    charts.Series("tickets", "Tickets", "s-tickets"),
]


def editor_search_url(term: str) -> str:
    try:
        return url_for("kb.editor_list", q=term)
    except BuildError:
        return "/kb/editor?" + urlencode({"q": term})


def editor_article_url(slug: str) -> str:
    try:
        return url_for("kb.editor_edit", slug=slug)
    except BuildError:
        return "/kb/editor/" + quote(slug, safe="")


def article_titles(slugs: list[str]) -> dict[str, str]:
    """Titles from the KB's service when it offers them; slugs otherwise."""
    try:
        from portal.kb import services as kb_services

        refs = getattr(kb_services, "article_refs", None)
        if refs is None:
            return {}
        return {ref.slug: ref.title for ref in refs(slugs)}
    except Exception:  # noqa: BLE001 - a title is a nicety; the slug still identifies it
        return {}


def build_charts(board: services.Dashboard,
                 steps: list[presentation.FunnelStep]) -> dict[str, Markup]:
    labels = [p.day.strftime("%d %b") for p in board.series]
    unit = "week" if board.filters.weekly else "day"
    rates = {
        "deflection": [p.outcomes.deflection_rate for p in board.series],
        "confirmed": [p.outcomes.confirmed_rate for p in board.series],
    }
    outcomes = {s.key: [getattr(p.outcomes, s.key) for p in board.series] for s in OUTCOME_SERIES}
    volumes: dict[str, list[float | None]] = {
        "searches": [p.searches for p in board.series],
        "chats": [p.outcomes.total for p in board.series],
        "tickets": [p.tickets for p in board.series],
    }
    return {
        "rates": charts.line_chart(
            labels, rates, RATE_SERIES, title=f"Deflection rate per {unit}", y_max=1.0,
            y_label=lambda v: f"{v * 100:.0f}%", point_label=presentation.pct,
            basis=charts.Basis(
                [p.outcomes.resolved + p.outcomes.escalated for p in board.series],
                presentation.MIN_CHATS_FOR_A_RATE, "chats")),
        "outcomes": charts.stacked_bars(labels, outcomes, OUTCOME_SERIES,
                                        title=f"Chats by outcome per {unit}"),
        "volumes": charts.line_chart(labels, volumes, VOLUME_SERIES,
                                     title=f"Volumes per {unit}"),
        "funnel": charts.funnel_chart(
            [(step.label, step.count, step.share_text) for step in steps],
            title="Funnel: search to ticket"),
    }


def _context() -> dict[str, Any]:
    filters = services.parse_filters(request.args)
    board = services.dashboard(filters)
    steps = presentation.funnel_steps(board.current.funnel)
    tables = presentation.tables(board, steps)
    review = review_report.figures(
        board.current, review_report.review_rows(filters.period, filters.category))
    slugs = sorted({row.slug for row in board.current.by_article}
                   | {row.slug for row in board.current.gaps.unhelpful}
                   | {group.key for group in review.wrong_by_article})
    return {
        "board": board,
        "filters": filters,
        "report": board.current,
        "tiles": presentation.tiles(board),
        "tables": tables,
        "charts": build_charts(board, steps),
        "funnel_steps": steps,
        "titles": article_titles(slugs),
        "help": presentation.HELP,
        "review": review,
        "review_help": REVIEW_HELP,
        "pct": presentation.pct,
        "editor_search_url": editor_search_url,
        "editor_article_url": editor_article_url,
        "export_query": urlencode(filters.query()),
        "timedelta_days": lambda days: timedelta(days=days),
        "empty": board.current.outcomes.total == 0 and board.current.tickets.created == 0
        and board.current.funnel.searches == 0,
    }


@bp.get("")
@role_required(Role.MANAGER)
def dashboard() -> str:
    return render("metrics/dashboard.html", "metrics/_panel.html", **_context())


@bp.get("/export/<table>.csv")
@role_required(Role.MANAGER)
def export(table: str) -> Response:
    filters = services.parse_filters(request.args)
    board = services.dashboard(filters)
    chosen = presentation.tables(
        board, presentation.funnel_steps(board.current.funnel)).get(table)
    if chosen is None:
        abort(404)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([presentation.csv_cell(c) for c in chosen.csv_columns()])
    for row in chosen.csv_rows():
        writer.writerow([presentation.csv_cell(value) for value in row])
    name = f"{table}-{filters.first.isoformat()}-{filters.last.isoformat()}"
    if filters.category:
        name += "-" + "".join(ch for ch in filters.category if ch.isalnum() or ch in "-_")
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition(f"{name}.csv"),
                 "X-Content-Type-Options": "nosniff"},
    )

