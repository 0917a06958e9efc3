"""Agent side: the queue, and the working view of one ticket (htmx updates in place)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.clock import utcnow
from portal.inputs import parse_int, parse_row_id
from portal.tickets import articles, macros, services, sla
from portal.tickets.blueprint import bp, user_ticket
from portal.tickets.common import absolute_url
from portal.tickets.mail import intake as mail_intake
from portal.tickets.models import Ticket, TicketPriority, TicketStatus
from portal.tickets.services import Actor, QueueFilters, TicketError
from portal.web import is_htmx, render


def _agent_context(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    now = utcnow()
    names = dict(services.agent_choices())
    team_names = dict(services.team_choices())
    context: dict[str, Any] = {
        "ticket": ticket,
        "teams": services.team_choices(),
        "team_name": team_names.get(ticket.team_id or 0, ""),
        "tier_label": services.tier_label(ticket.tier),
        "next_tier": services.tier_label(ticket.tier + 1)
        if ticket.tier < len(services.TIERS) else "",
        "reason_text": "",
        "messages": services.thread(ticket, include_notes=True),
        "audit": services.audit_trail(ticket, limit=20),
        "rating": services.rating_for(ticket),
        "agents": services.agent_choices(),
        "assignee_name": names.get(ticket.assignee_id or 0, ""),
        "statuses": [s.value for s in TicketStatus],
        "next_statuses": sorted(s.value for s in _allowed_next(ticket.status)),
        "priorities": [p.value for p in TicketPriority],
        "macros": macros.load_macros(),
        "bot_articles": articles.refs(ticket.bot_article_slugs),
        "linked_articles": articles.refs(ticket.linked_article_slugs),
        **mail_intake.page_context(ticket.id),
        "first_response_countdown": "" if ticket.first_responded_at else sla.countdown(
            ticket.first_response_due, now),
        "resolution_countdown": sla.countdown(ticket.resolution_due, now)
        if ticket.status in ("new", "open", "pending") else "",
        "breached": ticket.next_due is not None and ticket.next_due < now,
        "errors": {},
        "reply_text": "",
        "note_text": "",
        "notice": None,
    }
    context.update(extra)
    return context


def _allowed_next(status: TicketStatus) -> frozenset[TicketStatus]:
    from portal.tickets.models import TRANSITIONS

    return TRANSITIONS[status]


def agent_page(ticket: Ticket, *, status: int = 200, **extra: Any) -> Any:
    return render("tickets/agent_ticket.html", "tickets/_agent_panel.html",
                  **_agent_context(ticket, **extra)), status


def _done(ticket: Ticket, notice: str) -> Any:
    """After a successful change: the refreshed panel for htmx, else back to the page."""
    if is_htmx():
        return agent_page(ticket, notice=notice)
    flash(notice, "success")
    return redirect(url_for("tickets.detail", number=ticket.number))


def _failed(ticket: Ticket, error: TicketError, **kept: str) -> Any:
    """The panel again with the message and everything the agent typed still there."""
    fresh = services.get_ticket(ticket.number or 0) or ticket
    # htmx does not swap error statuses, so the in-place panel answers 200 with the message.
    status = 200 if is_htmx() else (409 if isinstance(error, services.ConflictError) else 422)
    return agent_page(fresh, status=status, errors={error.field: error.message}, **kept)


def agent_reply(ticket: Ticket) -> Any:
    body = request.form.get("body", "")
    then_status = request.form.get("then_status") or None
    try:
        ticket = services.reply(ticket.id, body, actor=Actor.of(current_user),
                                then_status=then_status)
    except TicketError as exc:
        return _failed(ticket, exc, reply_text=body)
    return _done(ticket, "Reply sent to the customer.")


def _agent_ticket(number: int) -> Ticket:
    ticket = user_ticket(number)
    return ticket


@bp.route("/<int:number>/note", methods=["POST"])
@role_required(Role.AGENT)
def note(number: int):
    ticket = _agent_ticket(number)
    body = request.form.get("body", "")
    try:
        ticket = services.add_note(ticket.id, body, actor=Actor.of(current_user))
    except TicketError as exc:
        return _failed(ticket, exc, note_text=body)
    return _done(ticket, "Internal note added (not visible to the customer).")


@bp.route("/<int:number>/status", methods=["POST"])
@role_required(Role.AGENT)
def status(number: int):
    ticket = _agent_ticket(number)
    try:
        ticket = services.change_status(
            ticket.id, request.form.get("status", ""), actor=Actor.of(current_user),
            expected_status=request.form.get("from_status") or None)
    except TicketError as exc:
        return _failed(ticket, exc)
    return _done(ticket, f"Status is now {ticket.status}.")


@bp.route("/<int:number>/priority", methods=["POST"])
@role_required(Role.AGENT)
def priority(number: int):
    ticket = _agent_ticket(number)
    try:
        ticket = services.change_priority(ticket.id, request.form.get("priority", ""),
                                          actor=Actor.of(current_user))
    except TicketError as exc:
        return _failed(ticket, exc)
    return _done(ticket, f"Priority is now {ticket.priority}; due times follow it.")


@bp.route("/<int:number>/claim", methods=["POST"])
@role_required(Role.AGENT)
def claim(number: int):
    ticket = _agent_ticket(number)
    try:
        ticket = services.claim(ticket.id, actor=Actor.of(current_user))
    except TicketError as exc:
        if is_htmx():
            return _failed(ticket, exc)
        flash(exc.message, "error")
        return redirect(url_for("tickets.detail", number=number))
    return _done(ticket, "You claimed this ticket.")


@bp.route("/<int:number>/assign", methods=["POST"])
@role_required(Role.AGENT)
def assign(number: int):
    ticket = _agent_ticket(number)
    raw = request.form.get("assignee_id", "")
    assignee = parse_row_id(raw)
    if raw and assignee is None:
        return _failed(ticket, TicketError("assignee", "Choose an agent from the list."))
    try:
        ticket = services.assign(ticket.id, assignee, actor=Actor.of(current_user))
    except TicketError as exc:
        return _failed(ticket, exc)
    return _done(ticket, "Assignment updated.")


@bp.route("/<int:number>/escalate", methods=["POST"])
@role_required(Role.AGENT)
def escalate(number: int):
    ticket = _agent_ticket(number)
    reason = request.form.get("reason", "")
    raw_tier = request.form.get("from_tier", "")
    try:
        ticket = services.escalate(ticket.id, reason, actor=Actor.of(current_user),
                                   expected_tier=parse_int(raw_tier, minimum=1,
                                                           maximum=len(services.TIERS)))
    except TicketError as exc:
        return _failed(ticket, exc, reason_text=reason)
    return _done(ticket, f"Escalated to {services.tier_label(ticket.tier)}; the reason is in "
                         "the history.")


@bp.route("/<int:number>/team", methods=["POST"])
@role_required(Role.AGENT)
def move_team(number: int):
    ticket = _agent_ticket(number)
    raw = request.form.get("team_id", "")
    team_id = parse_row_id(raw)
    if raw and team_id is None:
        return _failed(ticket, TicketError("team", "Choose a team from the list."))
    try:
        ticket = services.move_team(ticket.id, team_id, actor=Actor.of(current_user))
    except TicketError as exc:
        return _failed(ticket, exc)
    return _done(ticket, "Team updated.")


@bp.route("/<int:number>/link", methods=["POST"])
@role_required(Role.AGENT)
def link(number: int):
    ticket = _agent_ticket(number)
    try:
        ticket = services.link_article(ticket.id, request.form.get("slug", "").strip(),
                                       actor=Actor.of(current_user))
    except TicketError as exc:
        return _failed(ticket, exc)
    return _done(ticket, "Article linked; the {{article_links}} placeholder now includes it.")


@bp.route("/<int:number>/kb-search")
@role_required(Role.AGENT)
def kb_search(number: int):
    ticket = _agent_ticket(number)
    query = " ".join(request.args.get("q", "").split())[:200]
    hits = articles.search(query, audiences=articles.CUSTOMER_AUDIENCES, limit=8) if query else []
    return render("tickets/agent_ticket.html", "tickets/_kb_results.html",
                  **_agent_context(ticket, kb_query=query, kb_hits=hits))


def _macro_values(ticket: Ticket) -> dict[str, str]:
    # Only articles the agent linked: the ones the bot tried are those that did not help.
    refs = articles.refs(ticket.linked_article_slugs)
    lines = [f"- [{ref.title}]({absolute_url(ref.url)})" for ref in refs if ref.url]
    return {
        "customer_name": ticket.requester_name,
        "ticket_number": str(ticket.number),
        "ticket_subject": ticket.subject,
        "agent_name": current_user.name,
        "article_links": "\n".join(lines) or "- (no articles linked yet)",
    }


@bp.route("/<int:number>/macro")
@role_required(Role.AGENT)
def macro(number: int):
    ticket = _agent_ticket(number)
    chosen = macros.get_macro(request.args.get("name", ""))
    if chosen is None:
        return _failed(ticket, TicketError("macro", "That canned response does not exist."))
    if chosen.needs_articles and not ticket.linked_article_slugs:
        # Nothing linked yet: offer articles found for the subject to link, rather than
        # filling in the bot's (which did not help).
        hits = articles.search(ticket.subject, audiences=articles.CUSTOMER_AUDIENCES, limit=5)
        return render("tickets/agent_ticket.html", "tickets/_reply_form.html",
                      **_agent_context(ticket, chosen_macro=chosen.name,
                                       macro_needs_articles=True, kb_query=ticket.subject,
                                       kb_hits=hits))
    text = chosen.render(_macro_values(ticket))
    return render("tickets/agent_ticket.html", "tickets/_reply_form.html",
                  **_agent_context(ticket, reply_text=text, chosen_macro=chosen.name))


# --- the queue ------------------------------------------------------------------------


MAX_QUEUE_PAGE = 10_000


def _filters() -> QueueFilters:
    args = request.args
    # Bounded so the offset stays an integer the database can hold.
    page = parse_int(args.get("page"), minimum=1, maximum=MAX_QUEUE_PAGE) or 1
    status = args.get("status", "active")
    if status not in {"active", "all", *(s.value for s in TicketStatus)}:
        status = "active"
    return QueueFilters(
        status=status,
        priority=args.get("priority", "") if args.get("priority", "") in
        {p.value for p in TicketPriority} else "",
        category=args.get("category", "")[:100],
        assignee=args.get("assignee", "") if args.get("assignee", "") in {"me", "none"}
        or parse_row_id(args.get("assignee")) else "",
        due=args.get("due", "") if args.get("due") in {"breached", "soon"} else "",
        team=args.get("team", "") if args.get("team", "") == "none"
        or parse_row_id(args.get("team")) else "",
        tier=args.get("tier", "") if args.get("tier", "") in
        {str(n) for n in range(1, len(services.TIERS) + 1)} else "",
        q=args.get("q", "")[:200],
        page=page,
    )


@bp.route("/queue")
@role_required(Role.AGENT)
def queue():
    filters = _filters()
    result = services.queue(filters, viewer_id=current_user.id)
    query_args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render(
        "tickets/queue.html", "tickets/_queue_results.html",
        result=result, filters=filters, agents=services.agent_choices(),
        teams=services.team_choices(), tiers=list(enumerate(services.TIERS, 1)),
        categories=articles.category_choices(), statuses=[s.value for s in TicketStatus],
        priorities=[p.value for p in TicketPriority], query_args=query_args,
    )


@bp.route("/queue/bulk", methods=["POST"])
@role_required(Role.AGENT)
def bulk():
    ids = [ticket_id for raw in request.form.getlist("ticket_id")
           if (ticket_id := parse_row_id(raw)) is not None]
    action = request.form.get("action", "")
    back = url_for("tickets.queue")
    if not ids:
        flash("Select at least one ticket first.", "error")
        return redirect(back)
    actor = Actor.of(current_user)
    if action == "assign":
        raw = request.form.get("assignee_id", "")
        assignee = parse_row_id(raw)
        if raw and assignee is None:
            abort(400, "Choose an agent from the list.")
        result = services.bulk_assign(ids, assignee, actor=actor)
    elif action == "status":
        result = services.bulk_status(ids, request.form.get("status", ""), actor=actor)
    else:
        flash("Choose what to do with the selected tickets.", "error")
        return redirect(back)
    if result.done:
        flash(f"Updated {len(result.done)} ticket(s).", "success")
    for ticket_id, message in result.failed.items():
        flash(f"Ticket {services.NUMBER_OFFSET + ticket_id}: {message}", "error")
    return redirect(back)
