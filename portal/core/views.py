from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import text
from werkzeug.routing import BuildError

from portal import site
from portal.accounts.decorators import public
from portal.accounts.models import Role
from portal.chat import services as chat_services
from portal.extensions import db
from portal.kb import services as kb_services

bp = Blueprint("core", __name__, template_folder="templates")

# Navigation by role: (label, endpoint). Endpoints a deployment lacks are hidden.
NAVIGATION: dict[str, list[tuple[str, str]]] = {
    "anonymous": [("Help", "kb.index"), ("Chat", "chat.home")],
    Role.CUSTOMER: [("Help", "kb.index"), ("Chat", "chat.home"), ("My tickets", "tickets.mine")],
    Role.AGENT: [("Queue", "tickets.queue"), ("Help", "kb.index")],
    Role.EDITOR: [("Content", "kb.editor_list"), ("Help", "kb.index")],
    Role.MANAGER: [("Metrics", "metrics.dashboard"), ("Teams", "tickets.teams"),
                   ("Help", "kb.index")],
    Role.ADMIN: [
        ("Queue", "tickets.queue"), ("Content", "kb.editor_list"),
        ("Metrics", "metrics.dashboard"), ("Teams", "tickets.teams"), ("Help", "kb.index"),
    ],
}


def _url(endpoint: str) -> str | None:
    try:
        return url_for(endpoint)
    except BuildError:
        return None


def _current_section(navigation: list[tuple[str, str, str]]) -> str | None:
    """The href of the item for this page, or else of the item whose address is the
    longest prefix of it (a ticket page under the queue, an article under Help)."""
    for _, href, endpoint in navigation:
        if request.endpoint == endpoint:
            return href
    within = [href for _, href, _ in navigation
              if href != "/" and request.path.startswith(href + "/")]
    return max(within, key=len, default=None)


def layout_context() -> dict[str, Any]:
    role: Any = current_user.role if current_user.is_authenticated else "anonymous"
    items = [(label, _url(endpoint), endpoint) for label, endpoint in NAVIGATION[role]]
    navigation = [(label, href, ep) for label, href, ep in items if href]
    show_banner = current_user.is_authenticated and current_user.is_staff
    return {
        "navigation": navigation,
        "current_section": _current_section(navigation),
        "search_degraded": show_banner and kb_services.search_degraded(),
        "site": site.current(),
        "site_problems": site.problems() if show_banner else [],
    }


@bp.get("/site/theme.css")
@public
def theme_css():
    """The brand colours of _site.yml as the stylesheet's variables (no inline styles:
    the content security policy allows stylesheets from this site only)."""
    colours = site.current().colours
    body = (f":root {{ --brand: {colours.brand}; --brand-dark: {colours.brand_dark}; "
            f"--brand-tint: {colours.tint}; --accent: {colours.accent}; }}\n")
    response = make_response(body)
    response.mimetype = "text/css"
    # Revalidated on every page (a colour change shows at once), answered 304 when unchanged.
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/site/<any(logo, favicon):kind>")
@public
def site_image(kind: str):
    relative = getattr(site.current(), kind)
    if not relative:
        if kind == "favicon":
            return redirect(url_for("static", filename="favicon.svg"))
        abort(404)
    path = site.content_root() / relative
    mimetype = site.IMAGE_TYPES.get(path.suffix.lower())
    if mimetype is None or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mimetype, max_age=300)
    # An SVG opened on its own is a document: it must not run scripts it may carry.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'self'")
    return response


@bp.route("/healthz")
@public
def healthz():
    database: dict[str, Any] = {"backend": db.engine.dialect.name}
    try:
        db.session.execute(text("SELECT 1"))
        database["ok"] = True
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        db.session.rollback()
        database.update(ok=False, error=type(exc).__name__)
    search = kb_services.search_health()
    llm = chat_services.llm_health()
    healthy = database["ok"]
    body = {
        "status": "ok" if healthy and search.get("ok") else ("degraded" if healthy else "down"),
        "database": database,
        "search": search,
        "llm": llm,
        "version": current_app.config.get("VERSION", "0.1.0"),
    }
    return jsonify(body), 200 if healthy else 503
