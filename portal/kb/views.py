"""Help-centre pages: home, search as you type, articles, votes."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, make_response, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import public
from portal.inputs import parse_int
from portal.kb import services
from portal.security import MAX_ROW_ID
from portal.visitor import current_visitor_id
from portal.web import is_htmx, render

bp = Blueprint("kb", __name__, template_folder="templates")
# The chatbot's cited short answer for the query, loaded into the results page by htmx: kb
# never imports chat, the page only links to it.
CHAT_ANSWER_PATH = "/chat/suggest"
_ANCHOR = re.compile(r"[a-z0-9][a-z0-9-]{0,119}")


def _user_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _audiences() -> tuple[str, ...]:
    return services.visible_audiences(current_user)


def _int_arg(name: str, default: int) -> int:
    value = parse_int(request.args.get(name), minimum=0, maximum=MAX_ROW_ID)
    return default if value is None else value


@bp.get("/kb")
@public
def index():
    audiences = _audiences()
    return render(
        "kb/index.html",
        categories=services.categories(audiences),
        popular=services.popular_articles(audiences),
        recent=services.recent_articles(audiences),
    )


@bp.get("/kb/search")
@public
def search():
    query = services.normalise_query(request.args.get("q"))
    category = request.args.get("category") or None
    results = services.search_articles(
        query, audiences=_audiences(), category=category, page=_int_arg("page", 1)
    )
    search_id = services.new_search_id() if query else None
    names = services.category_names(results.facets)
    fragment = (
        "kb/_results.html"
        if is_htmx() and request.headers.get("HX-Target") == "search-results"
        else None
    )
    response = make_response(render("kb/search.html", fragment, results=results,
                                    search_id=search_id, category_names=names,
                                    answer_card=CHAT_ANSWER_PATH if results.natural else None))
    if search_id:
        # A page whose best result is not close is a failed search, however many hits share
        # a word with it: it counts as no result in the content-gap report.
        found = 0 if results.weak else results.total
        _record_after_response(response, query, found, search_id)
    return response


def _record_after_response(response: Response, query: str, total: int, search_id: str) -> None:
    """Record the SEARCH event once the results are on their way: the visitor never waits
    for analytics, and the event is written with the process's other searches (batched)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    visitor_id, user_id = current_visitor_id(), _user_id()

    def record() -> None:
        with app.app_context():
            services.record_search(query, total, source="kb", visitor_id=visitor_id,
                                   user_id=user_id, search_id=search_id, batched=True)

    response.call_on_close(record)


@bp.get("/kb/search/open")
@public
def open_result():
    """A search result's link: records which result was opened, then shows the article."""
    slug = request.args.get("slug", "")
    if not services.SLUG_RE.fullmatch(slug):
        abort(404)
    search_id = request.args.get("sid", "")
    if search_id:
        services.record_search_click(
            slug, search_id=search_id, query=request.args.get("q", ""),
            position=_int_arg("pos", 0), visitor_id=current_visitor_id(), user_id=_user_id(),
        )
    anchor = request.args.get("to", "")
    return redirect(url_for("kb.article", slug=slug,
                            _anchor=anchor if _ANCHOR.fullmatch(anchor) else None), code=303)


@bp.get("/kb/<slug>")
@public
def article(slug: str):
    audiences = _audiences()
    view = services.get_article(slug, audiences=audiences)
    if view is None:
        abort(404)
    services.record_view(view.slug, visitor_id=current_visitor_id(), user_id=_user_id(),
                         category=view.category)
    return render(
        "kb/article.html", article=view,
        related=services.related_articles(slug, audiences=audiences),
        voted=services.visitor_vote(slug, current_visitor_id()),
    )


@bp.post("/kb/<slug>/vote")
@public
def vote(slug: str):
    choice = request.form.get("helpful", "")
    if choice not in ("yes", "no"):
        abort(400, "Choose yes or no.")
    outcome = services.record_vote(
        slug, helpful=choice == "yes", comment=request.form.get("comment"),
        visitor_id=current_visitor_id(), user_id=_user_id(), audiences=_audiences(),
    )
    if outcome is None:
        abort(404)
    if is_htmx():
        return render("kb/_vote.html", "kb/_vote.html", slug=slug, voted=outcome.helpful,
                      already=not outcome.recorded)
    return redirect(url_for("kb.article", slug=slug, _anchor="feedback"), code=303)
