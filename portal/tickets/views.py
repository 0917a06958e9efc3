"""Customer side: my tickets, the new-ticket form, the ticket page, tracking links."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

from portal.accounts.decorators import public
from portal.events import EventKind, emit
from portal.tickets import articles, services
from portal.tickets.agent_views import agent_page, agent_reply
from portal.tickets.blueprint import bp, is_agent, tracked_ticket, user_ticket
from portal.tickets.mail import intake as mail_intake
from portal.tickets.models import Ticket, TicketPriority, TicketStatus
from portal.tickets.services import Actor, TicketError, TooManyTickets
from portal.visitor import current_visitor_id
from portal.web import render

_FORM_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CHAT_SUGGEST_PATH = "/chat/suggest"


# --- my tickets and the form --------------------------------------------------------


@bp.route("")
@login_required
def mine():
    return render("tickets/mine.html", tickets=services.requester_tickets(current_user.id))


def _chat_suggest_available() -> bool:
    try:
        current_app.url_map.bind("localhost").match(CHAT_SUGGEST_PATH)
    except (NotFound, RequestRedirect):
        return False
    except Exception:  # noqa: BLE001 - e.g. MethodNotAllowed: the route exists
        return True
    return True


def _form_values() -> dict[str, str]:
    return {key: request.form.get(key, "") for key in
            ("subject", "description", "category", "priority", "name", "email", "form_id")}


@bp.route("/new", methods=["GET", "POST"])
@public
def new():
    signed_in = current_user.is_authenticated
    errors: dict[str, str] = {}
    headers: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values()
        form_id = values["form_id"] if _FORM_ID.fullmatch(values["form_id"]) else None
        try:
            ref = services.create_ticket(
                subject=values["subject"], description=values["description"],
                requester_id=current_user.id if signed_in else None,
                requester_email=None if signed_in else values["email"],
                requester_name=None if signed_in else values["name"],
                category=values["category"] or None, priority=values["priority"] or "normal",
                source="form", visitor_id=current_visitor_id(), form_id=form_id,
                client_ip=None if signed_in else request.remote_addr or "",
            )
        except TooManyTickets as exc:
            errors[exc.field] = exc.message
            headers["Retry-After"] = str(exc.retry_after)
        except TicketError as exc:
            errors[exc.field] = exc.message
            errors.update(services.blank_field_errors(
                subject=values["subject"], description=values["description"],
                requester_email=values["email"], email_required=not signed_in))
        else:
            if signed_in:
                flash(f"Thanks — ticket #{ref.number} is in. We will reply here and by email.",
                      "success")
            # Anonymous: the page that says to check the inbox, never the ticket itself.
            return redirect(ref.url)
    else:
        values = {"priority": "normal", "form_id": secrets.token_urlsafe(12)}
        emit(EventKind.TICKET_FORM_OPENED, commit=True, visitor_id=current_visitor_id(),
             user_id=current_user.id if signed_in else None, form_id=values["form_id"])
    return render(
        "tickets/new.html", values=values, errors=errors, signed_in=signed_in,
        categories=articles.category_choices(), priorities=[p.value for p in TicketPriority],
        chat_suggest=_chat_suggest_available(),
    ), (429 if headers else 422) if errors else 200, headers


@bp.route("/sent/<int:number>")
@public
def sent(number: int):
    """After an anonymous ticket: where its link went. Only the browser that sent it sees
    this; the ticket itself opens through the emailed link alone."""
    ticket = services.submitted_ticket(number, current_visitor_id())
    if ticket is None:
        abort(404)
    return render("tickets/sent.html", ticket=ticket,
                  link_days=current_app.config.get("TICKET_LINK_MAX_AGE_DAYS", 30))


@bp.route("/new/suggestions")
@public
def suggestions():
    query = " ".join(request.args.get("subject", request.args.get("q", "")).split())[:200]
    form_id = request.args.get("form_id", "")
    hits = []
    if len(query) >= 3:
        audiences = articles.audiences_for(current_user)
        hits = articles.search(query, audiences=audiences, limit=5)
        visitor = current_visitor_id()
        user_id = current_user.id if current_user.is_authenticated else None
        articles.record_search(query, len(hits), visitor_id=visitor, user_id=user_id)
        if hits and _FORM_ID.fullmatch(form_id):
            emit(EventKind.TICKET_FORM_SUGGESTIONS, commit=True, visitor_id=visitor,
                 form_id=form_id, article_slugs=[hit.slug for hit in hits])
    return render("tickets/_suggestions.html", query=query, hits=hits,
                  chat_suggest=_chat_suggest_available() and len(query) >= 3)


# --- the customer's ticket page (signed in) ----------------------------------------------


def _customer_page(ticket: Ticket, urls: dict[str, str], *, status: int = 200,
                   errors: dict[str, str] | None = None, reply_text: str = "",
                   rating_score: str = "") -> tuple[str, int]:
    return render(
        "tickets/customer_ticket.html", ticket=ticket, urls=urls,
        messages=services.thread(ticket, include_notes=False),
        rating=services.rating_for(ticket), can_reopen=services.can_reopen(ticket),
        errors=errors or {}, reply_text=reply_text, rating_score=rating_score,
        linked=articles.refs(ticket.linked_article_slugs),
        reopen_days=current_app.config.get("TICKET_REOPEN_DAYS", 7),
        **mail_intake.page_context(ticket.id),
    ), status


def _urls_for_number(number: int) -> dict[str, str]:
    return {name: url_for(f"tickets.{name}", number=number)
            for name in ("detail", "reply", "reopen", "close", "rate")}


def _urls_for_token(token: str) -> dict[str, str]:
    return {name: url_for(f"tickets.track_{name}" if name != "detail" else "tickets.track",
                          token=token)
            for name in ("detail", "reply", "reopen", "close", "rate")}


@bp.route("/<int:number>")
@login_required
def detail(number: int):
    ticket = user_ticket(number)
    if is_agent(current_user):
        return agent_page(ticket)
    return _customer_page(ticket, _urls_for_number(number))


def _requester_actor(ticket: Ticket) -> Actor:
    if current_user.is_authenticated and current_user.id == ticket.requester_id:
        return Actor.of(current_user)
    return Actor(None, ticket.requester_name)


def _do_reply(ticket: Ticket, urls: dict[str, str], actor: Actor) -> Any:
    body = request.form.get("body", "")
    try:
        services.reply(ticket.id, body, actor=actor)
    except TicketError as exc:
        return _customer_page(ticket, urls, status=422, errors={"body": exc.message},
                              reply_text=body)
    flash("Your reply was sent.", "success")
    return redirect(urls["detail"])


def _do_status(ticket: Ticket, urls: dict[str, str], actor: Actor, status: TicketStatus) -> Any:
    try:
        services.change_status(ticket.id, status, actor=actor)
    except TicketError as exc:
        flash(exc.message, "error")
        return _customer_page(ticket, urls, status=409 if isinstance(
            exc, services.ConflictError) else 422)
    flash("Your ticket is open again; we will be in touch." if status == TicketStatus.OPEN
          else "Your ticket is closed. Thanks for letting us know.", "success")
    return redirect(urls["detail"])


def _do_rate(ticket: Ticket, urls: dict[str, str], actor: Actor) -> Any:
    if request.method == "GET":
        # Link scanners follow GET links in emails: a GET only shows the form.
        score = request.args.get("score", "")
        return render("tickets/rate.html", ticket=ticket, urls=urls,
                      rating=services.rating_for(ticket), score=score, errors={})
    try:
        services.rate(ticket.id, request.form.get("score", ""), request.form.get("comment"),
                      actor=actor)
    except TicketError as exc:
        return render("tickets/rate.html", ticket=ticket, urls=urls,
                      rating=services.rating_for(ticket), score=request.form.get("score", ""),
                      comment=request.form.get("comment", ""), errors={exc.field: exc.message},
                      ), 422
    flash("Thank you for rating our support.", "success")
    return redirect(urls["detail"])


@bp.route("/<int:number>/reply", methods=["POST"])
@login_required
def reply(number: int):
    ticket = user_ticket(number)
    if is_agent(current_user):
        return agent_reply(ticket)
    return _do_reply(ticket, _urls_for_number(number), _requester_actor(ticket))


@bp.route("/<int:number>/reopen", methods=["POST"])
@login_required
def reopen(number: int):
    ticket = user_ticket(number)
    return _do_status(ticket, _urls_for_number(number), Actor.of(current_user),
                      TicketStatus.OPEN)


@bp.route("/<int:number>/close", methods=["POST"])
@login_required
def close(number: int):
    ticket = user_ticket(number)
    return _do_status(ticket, _urls_for_number(number), Actor.of(current_user),
                      TicketStatus.CLOSED)


@bp.route("/<int:number>/rate", methods=["GET", "POST"])
@login_required
def rate(number: int):
    ticket = user_ticket(number)
    if ticket.requester_id != current_user.id:
        abort(404)  # only the requester rates, staff included
    return _do_rate(ticket, _urls_for_number(number), Actor.of(current_user))


# --- anonymous requesters: the signed tracking link ---------------------------------------


@bp.route("/track/<token>")
@public
def track(token: str):
    ticket = tracked_ticket(token)
    if not isinstance(ticket, Ticket):
        return ticket
    return _customer_page(ticket, _urls_for_token(token))


@bp.route("/track/<token>/reply", methods=["POST"])
@public
def track_reply(token: str):
    ticket = tracked_ticket(token)
    if not isinstance(ticket, Ticket):
        return ticket
    return _do_reply(ticket, _urls_for_token(token), _requester_actor(ticket))


@bp.route("/track/<token>/reopen", methods=["POST"])
@public
def track_reopen(token: str):
    ticket = tracked_ticket(token)
    if not isinstance(ticket, Ticket):
        return ticket
    return _do_status(ticket, _urls_for_token(token), _requester_actor(ticket),
                      TicketStatus.OPEN)


@bp.route("/track/<token>/close", methods=["POST"])
@public
def track_close(token: str):
    ticket = tracked_ticket(token)
    if not isinstance(ticket, Ticket):
        return ticket
    return _do_status(ticket, _urls_for_token(token), _requester_actor(ticket),
                      TicketStatus.CLOSED)


@bp.route("/track/<token>/rate", methods=["GET", "POST"])
@public
def track_rate(token: str):
    ticket = tracked_ticket(token)
    if not isinstance(ticket, Ticket):
        return ticket
    return _do_rate(ticket, _urls_for_token(token), _requester_actor(ticket))

