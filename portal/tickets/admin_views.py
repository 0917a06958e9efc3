"""Managers' and admins' pages: teams and their agents, the routing rules and their preview."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.inputs import parse_row_id
from portal.tickets import articles, services
from portal.tickets.blueprint import bp
from portal.tickets.models import Assignment, TicketPriority, TicketSource
from portal.tickets.services import TicketError
from portal.web import render

PREVIEW_FIELDS = ("subject", "description", "category", "source", "requester", "priority")
# How each assignment mode reads in the team forms.
ASSIGNMENT_LABELS = {
    Assignment.MANUAL: "stay in the queue (agents claim)",
    Assignment.ROUND_ROBIN: "round robin",
    Assignment.LEAST_LOADED: "least loaded",
}


def _teams_page(status: int = 200, **extra: Any) -> Any:
    context: dict[str, Any] = {
        "teams": services.list_teams(),
        "agents": services.agent_choices(),
        "tiers": services.TIERS,
        "assignments": [(a.value, ASSIGNMENT_LABELS[a]) for a in Assignment],
        "errors": {},
        "values": {},
    }
    context.update(extra)
    return render("tickets/teams.html", **context), status


@bp.route("/teams")
@role_required(Role.MANAGER)
def teams():
    return _teams_page()


@bp.route("/teams", methods=["POST"])
@role_required(Role.MANAGER)
def create_team():
    values = {key: request.form.get(key, "") for key in ("slug", "name", "assignment")}
    try:
        team = services.create_team(values["slug"], values["name"],
                                    assignment=values["assignment"] or "manual",
                                    default=request.form.get("default") == "1")
    except TicketError as error:
        return _teams_page(422, errors={error.field: error.message}, values=values)
    flash(f"Team “{team.name}” created.", "success")
    return redirect(url_for("tickets.teams"))


@bp.route("/teams/<slug>", methods=["POST"])
@role_required(Role.MANAGER)
def update_team(slug: str):
    try:
        team = services.update_team(slug, name=request.form.get("name"),
                                    assignment=request.form.get("assignment") or None,
                                    default=request.form.get("default") == "1")
    except TicketError as error:
        return _teams_page(422, errors={error.field: error.message})
    flash(f"Team “{team.name}” updated.", "success")
    return redirect(url_for("tickets.teams"))


@bp.route("/teams/members", methods=["POST"])
@role_required(Role.MANAGER)
def set_member():
    user_id = parse_row_id(request.form.get("user_id"))
    try:
        if user_id is None:
            raise TicketError("agent", "Choose an agent from the list.")
        services.set_membership(user_id, request.form.get("team", ""),
                                request.form.get("tier", ""))
    except TicketError as error:
        return _teams_page(422, errors={error.field: error.message})
    flash("Agent's team and tier saved.", "success")
    return redirect(url_for("tickets.teams"))


@bp.route("/teams/members/<int:user_id>/remove", methods=["POST"])
@role_required(Role.MANAGER)
def remove_member(user_id: int):
    if services.remove_membership(user_id):
        flash("Agent removed from the team.", "success")
    else:
        flash("That agent is not in a team.", "error")
    return redirect(url_for("tickets.teams"))


# --- routing rules and the preview ------------------------------------------------------


def _preview_values() -> dict[str, str]:
    args = request.args
    return {
        "subject": args.get("subject", "")[:200],
        "description": args.get("description", "")[:5000],
        "category": args.get("category", "")[:100],
        "source": args.get("source", "form"),
        "requester": args.get("requester", "")[:254],
        "priority": args.get("priority", "normal"),
    }


@bp.route("/routing")
@role_required(Role.MANAGER)
def routing():
    values = _preview_values()
    result = None
    errors: dict[str, str] = {}
    if request.args.get("preview"):
        if values["source"] not in {s.value for s in TicketSource}:
            errors["source"] = "Choose a source from the list."
        if values["priority"] not in {p.value for p in TicketPriority}:
            errors["priority"] = "Choose a priority from the list."
        if not (values["subject"].strip() or values["description"].strip()):
            errors["subject"] = "Type a subject or a description to test the rules with."
        if not errors:
            # The sample's tone is read as a real ticket's would be (`sentiment:` rules).
            mood = services.message_mood(f"{values['subject']}\n{values['description']}")
            result = services.route(
                subject=values["subject"], description=values["description"],
                category=values["category"] or None, source=values["source"],
                requester_email=values["requester"].strip(), priority=values["priority"],
                sentiment=mood.label if mood else None, dry_run=True)
    return render(
        "tickets/routing.html", "tickets/_route_preview.html",
        status=services.routing_status(), values=values, result=result, errors=errors,
        categories=articles.category_choices(), sources=[s.value for s in TicketSource],
        priorities=[p.value for p in TicketPriority], tiers=services.TIERS,
    )


@bp.route("/routing/reload", methods=["POST"])
@role_required(Role.MANAGER)
def reload_routing():
    current = services.routing_status(force=True)
    if current.error is not None:
        flash(f"The rule file was refused ({current.error}); the previous rules stay active.",
              "error")
    elif not current.exists:
        flash("There is no rule file: every ticket goes to the default team.", "info")
    else:
        count = len(current.active.rules) if current.active else 0
        flash(f"Rules reloaded: {count} rule(s) active.", "success")
    return redirect(url_for("tickets.routing"))

