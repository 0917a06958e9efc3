"""The copilot's part of the agent's ticket page: the panel the page includes, and the two
things an agent does with a draft (send it after review, or discard it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.copilot import background, services, similar
from portal.inputs import parse_row_id
from portal.tickets import services as tickets

log = logging.getLogger(__name__)

bp = Blueprint("copilot", __name__, template_folder="templates", url_prefix="/tickets")
_KEPT_TEXT = "copilot_kept_text"


@dataclass(frozen=True)
class Loading:
    """The copilot is not computed yet: the page shows a placeholder that loads it."""

    loading_url: str


@bp.app_template_global("copilot_for")
def copilot_for(ticket: Any, thread: Any = None) -> services.Assist | Loading | None:
    """What the ticket page shows (None for customers, or when the copilot failed: the
    page itself must never fail because of it).

    When the copilot is not computed yet (the customer's message came in moments ago, or the
    worker was down) the page does not wait for it: it shows at once with a placeholder that
    loads the card (`panel`), so opening a ticket costs a cached read (`COPILOT_ON_OPEN`
    "deferred", the default; "inline" computes it in the page, the default when testing)."""
    if not current_user.is_authenticated or not tickets.Actor.of(current_user).staff:
        return None
    deferred = request.endpoint != "copilot.panel" and _deferred_on_open()
    try:
        found = services.assist(ticket, thread, compute=not deferred)
    except Exception:  # noqa: BLE001 - the ticket page works without its copilot
        log.exception("copilot failed for ticket %s", getattr(ticket, "number", "?"))
        return None
    if found is None and deferred:
        return Loading(url_for("copilot.panel", number=ticket.number))
    return found


def _deferred_on_open() -> bool:
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    return background.chosen(app, "COPILOT_ON_OPEN", "deferred", "inline") == "deferred"


@bp.route("/<int:number>/copilot")
@role_required(Role.AGENT)
def panel(number: int) -> Any:
    """The copilot card alone, computed now when it is not cached (the ticket page's
    placeholder loads it)."""
    ticket = _agent_ticket(number)
    return render_template("copilot/_ticket_copilot.html", ticket=ticket,
                           messages=tickets.thread(ticket, include_notes=True))


@bp.app_template_global("copilot_article_link")
def article_link(found: similar.SimilarTicket) -> str | None:
    """The KB editor's new-article form prefilled from a solved ticket, for those who may
    write articles (editors; admins): the content gap the ticket reveals."""
    if current_user.role not in (Role.EDITOR, Role.ADMIN):
        return None
    prefill: dict[str, Any] = similar.article_prefill(found)
    return url_for("kb.editor_new", **prefill)


@bp.app_template_global("copilot_kept_text")
def kept_text(number: int) -> str | None:
    """What the agent typed before a failed send, instead of the draft."""
    kept = session.get(_KEPT_TEXT)
    if not kept or kept.get("number") != number:
        return None
    session.pop(_KEPT_TEXT)
    return str(kept.get("body", ""))


def _agent_ticket(number: int) -> Any:
    ticket = tickets.get_ticket(number)
    if ticket is None:
        abort(404)
    return ticket


def _draft_id() -> int:
    draft_id = parse_row_id(request.form.get("draft_id"))
    if draft_id is None:
        abort(400)
    return draft_id


@bp.route("/<int:number>/copilot/send", methods=["POST"])
@role_required(Role.AGENT)
def send(number: int) -> Any:
    ticket = _agent_ticket(number)
    body = request.form.get("body", "")
    try:
        services.send_draft(ticket.number, _draft_id(), body,
                            actor=tickets.Actor.of(current_user),
                            then_status=request.form.get("then_status") or None)
    except (tickets.TicketError, services.DraftError) as exc:
        flash(getattr(exc, "message", str(exc)) + " Your text is in the draft box.", "error")
        # Nothing typed is lost: it comes back in the draft box, once.
        session[_KEPT_TEXT] = {"number": number, "body": body[:20000]}
        return redirect(url_for("tickets.detail", number=number, _anchor="copilot"))
    flash("Reply sent to the customer.", "success")
    return redirect(url_for("tickets.detail", number=number))


@bp.route("/<int:number>/copilot/discard", methods=["POST"])
@role_required(Role.AGENT)
def discard(number: int) -> Any:
    ticket = _agent_ticket(number)
    try:
        services.discard_draft(ticket.number, _draft_id(), agent_id=current_user.id)
    except services.DraftError as exc:
        flash(str(exc), "error")
    else:
        flash("Draft discarded.", "info")
    return redirect(url_for("tickets.detail", number=number))
