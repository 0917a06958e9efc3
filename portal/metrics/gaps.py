"""The editors' content-gap report: what customers did not find, each linked to the editor.

It lives here, not in `kb`, because it reads the metrics (nothing imports this package);
its address sits with the editor's other pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, request

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.metrics import services
from portal.metrics.views import article_titles, editor_article_url, editor_search_url
from portal.web import render

bp = Blueprint("content_gaps", __name__, template_folder="templates")


@bp.get("/kb/editor/gaps")
@role_required(Role.EDITOR)
def report() -> str:
    filters = services.parse_filters(request.args)
    gaps = services.content_gaps(filters)
    return render(
        "metrics/gaps.html", filters=filters, gaps=gaps,
        titles=article_titles([row.slug for row in gaps.unhelpful]),
        editor_search_url=editor_search_url, editor_article_url=editor_article_url,
        new_article_query=lambda text: urlencode({"title": text[:200]}),
    )
