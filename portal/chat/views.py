"""Chat pages: the home page conversation, streamed replies, feedback, hand-off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup, escape

from portal import security
from portal.accounts.decorators import public
from portal.chat import services
from portal.chat.models import Conversation, Message
from portal.extensions import db
from portal.inputs import parse_row_id
from portal.kb import services as kb_services
from portal.ratelimit import Limit, limiter
from portal.visitor import current_visitor_id
from portal.web import hx_redirect, is_htmx, render

bp = Blueprint("chat", __name__, template_folder="templates")
_CITATION = re.compile(r"\[(\d{1,2})\]")


def _user_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _audiences() -> tuple[str, ...]:
    return kb_services.visible_audiences(current_user)


def _conversation_or_404(conversation_id: int) -> Conversation:
    security.mark_private()
    conversation = services.get_conversation(
        conversation_id, visitor_id=current_visitor_id(), user_id=_user_id()
    )
    if conversation is None:
        abort(404)
    return conversation


def _posted_conversation() -> Conversation | None:
    """The conversation a form names, None when it names none; an id that cannot be a
    row names no conversation of this visitor's either (404)."""
    raw = request.form.get("conversation_id", "")
    if not raw:
        return None
    conversation_id = parse_row_id(raw)
    if conversation_id is None:
        abort(404)
    return _conversation_or_404(conversation_id)


def _message_or_404(conversation: Conversation, message_id: int) -> Message:
    message = db.session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        abort(404)
    return message


def _bot_answer_wait() -> int:
    """Count one bot answer (a chat reply or a short suggestion); the seconds to wait when
    over a limit, else 0. Each answer may be a paid LLM call, so nobody gets them unmetered:
    a signed-in customer has a larger budget of their own, an anonymous browser a smaller
    one, and every address one that its visitors share."""
    config = current_app.config
    window = int(config.get("CHAT_LIMIT_WINDOW", 60))
    if current_user.is_authenticated:
        own = (f"chat:u:{current_user.id}", int(config.get("CHAT_LIMIT_PER_USER", 40)))
    else:
        own = (f"chat:v:{current_visitor_id()}", int(config.get("CHAT_LIMIT_PER_SESSION", 20)))
    for key, count in (own, (f"chat:ip:{request.remote_addr}",
                             int(config.get("CHAT_LIMIT_PER_IP", 60)))):
        verdict = limiter().hit(key, Limit(count, window))
        if not verdict.allowed:
            return verdict.retry_after
    return 0


def _too_fast(seconds: int) -> str:
    return (f"You're sending messages faster than I can answer. Please wait {seconds} "
            f"seconds and try again.")


def _page(conversation: Conversation | None, error: str | None = None, draft: str = "",
          status: int = 200) -> tuple[str, int]:
    if conversation is not None:
        security.mark_private()  # a browser's own chat, though nobody signed in
    return render("chat/home.html", "chat/_conversation.html", conversation=conversation,
                  error=error, draft=draft, categories=services.ticket_categories()), status


@bp.route("/")
@public
def home() -> Any:
    conversation = services.current_conversation(
        visitor_id=current_visitor_id(), user_id=_user_id()
    )
    return _page(conversation)


@bp.route("/chat/messages", methods=["POST"])
@public
def post_message() -> Any:
    raw = request.form.get("message", "")
    conversation = _posted_conversation()
    wait = _bot_answer_wait()
    if wait:
        body, status = _page(conversation, error=_too_fast(wait),
                             draft=raw[: services.MAX_MESSAGE_CHARS], status=429)
        return body, status, {"Retry-After": str(wait)}
    try:
        services.clean_message(raw)
    except services.ChatError as exc:
        return _page(conversation, error=str(exc), draft=raw[:services.MAX_MESSAGE_CHARS],
                     status=422)
    if conversation is None:
        conversation = services.start_conversation(
            visitor_id=current_visitor_id(), user_id=_user_id()
        )
    pending = services.post_message(conversation, raw)
    if not is_htmx():
        # Without JavaScript there is no stream: compose the reply, then show the page.
        for _ in services.stream_reply(conversation, pending, audiences=_audiences()):
            pass
        return redirect(url_for("chat.home") + f"#m{pending.id}")
    return _page(conversation)


@bp.route("/chat/<int:conversation_id>/messages/<int:message_id>/stream")
@public
def stream(conversation_id: int, message_id: int) -> Response:
    _message_or_404(_conversation_or_404(conversation_id), message_id)
    audiences = _audiences()

    def pieces() -> Iterator[str]:
        # The body is produced after the view returns, under a fresh database session:
        # load the rows again here rather than using ones from the view's session.
        conversation = db.session.get(Conversation, conversation_id)
        message = db.session.get(Message, message_id)
        if conversation is None or message is None:
            return
        yield from services.stream_reply(conversation, message, audiences=audiences)

    response = Response(stream_with_context(pieces()), mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/chat/<int:conversation_id>/messages/<int:message_id>")
@public
def message_fragment(conversation_id: int, message_id: int) -> Any:
    conversation = _conversation_or_404(conversation_id)
    message = _message_or_404(conversation, message_id)
    return render("chat/_message_page.html", "chat/_message.html", conversation=conversation,
                  message=message)


@bp.route("/chat/<int:conversation_id>/messages/<int:message_id>/feedback", methods=["POST"])
@public
def feedback(conversation_id: int, message_id: int) -> Any:
    conversation = _conversation_or_404(conversation_id)
    helpful = request.form.get("helpful") == "yes"
    try:
        services.record_feedback(conversation, message_id, helpful)
    except services.ChatError as exc:
        return _page(conversation, error=str(exc), status=422)
    if not helpful:
        return hx_redirect(url_for("chat.handoff", conversation_id=conversation.id))
    return hx_redirect(url_for("chat.home") + "#resolved")


@bp.route("/chat/<int:conversation_id>/retry", methods=["POST"])
@public
def retry(conversation_id: int) -> Any:
    services.retry(_conversation_or_404(conversation_id))
    return hx_redirect(url_for("chat.home"))


@bp.route("/chat/new", methods=["POST"])
@public
def new_conversation() -> Any:
    services.start_conversation(visitor_id=current_visitor_id(), user_id=_user_id())
    return hx_redirect(url_for("chat.home"))


@bp.route("/chat/person", methods=["POST"])
@public
def talk_to_person() -> Any:
    conversation = _posted_conversation() or services.start_conversation(
        visitor_id=current_visitor_id(), user_id=_user_id()
    )
    services.request_handoff(conversation)
    return hx_redirect(url_for("chat.handoff", conversation_id=conversation.id))


_FIELDS = ("subject", "description", "category", "priority", "email", "name")


@bp.route("/chat/<int:conversation_id>/handoff", methods=["GET", "POST"])
@public
def handoff(conversation_id: int) -> Any:
    conversation = _conversation_or_404(conversation_id)
    errors: dict[str, str] = {}
    headers: dict[str, str] = {}
    if request.method == "POST":
        fields = {k: request.form.get(k, "") for k in _FIELDS if k in request.form}
        if request.form.get("action") == "save":
            services.save_draft(conversation, fields)
            return ("", 204) if is_htmx() else redirect(request.path)
        if not current_user.is_authenticated and not fields.get("email", "").strip():
            services.save_draft(conversation, fields)
            errors["email"] = "Please give an email address so we can reply."
        else:
            from portal.tickets.services import TicketError, TooManyTickets

            try:
                ref = services.submit_handoff(conversation, fields, user=current_user,
                                              client_ip=request.remote_addr or "")
            except TooManyTickets as exc:
                errors[exc.field] = exc.message
                headers["Retry-After"] = str(exc.retry_after)
            except TicketError as exc:
                errors[exc.field] = exc.message
            else:
                if current_user.is_authenticated:
                    # The anonymous page after a ticket says so itself; the ticket page
                    # a signed-in customer lands on needs the word that it was sent.
                    flash(f"Thanks — ticket #{ref.number} is in. We will reply here and by "
                          f"email.", "success")
                return hx_redirect(ref.url)
    form = services.handoff_form(conversation)
    asked = any(m.role == "user" for m in conversation.messages)
    return render("chat/handoff.html", "chat/_handoff_form.html", conversation=conversation,
                  form=form, asked=asked, errors=errors, categories=services.ticket_categories(),
                  transcript=services.transcript_of(conversation),
                  tried=kb_services.article_refs(services.tried_articles(conversation),
                                                 _audiences())), \
        (429 if headers else 422) if errors else 200, headers


@bp.route("/chat/suggest")
@public
def suggest() -> Any:
    query = (request.args.get("q") or "").strip()
    reply = None
    if len(query) >= 8:
        wait = _bot_answer_wait()
        if wait:
            return render("chat/_suggest.html", "chat/_suggest.html", reply=None, query=query,
                          wait=wait), 429, {"Retry-After": str(wait)}
        try:
            cleaned = services.clean_message(query[: services.MAX_MESSAGE_CHARS])
            reply = services.answer_question(cleaned, audiences=_audiences())
        except services.ChatError:
            reply = None
    return render("chat/_suggest.html", "chat/_suggest.html", reply=reply, query=query)


@bp.app_template_filter("uncited")
def uncited(text: str) -> str:
    """A short answer without its [n] markers (its source is linked beside it)."""
    return re.sub(r"\s*\[\d{1,2}\]", "", text)


@bp.app_template_filter("cited")
def cited_html(message: Message) -> Markup:
    """The reply escaped, with [n] turned into links to what was retrieved."""
    urls = {int(c["n"]): (c["url"], c["title"]) for c in message.citations or []}

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in urls:
            return ""
        url, title = urls[number]
        return (f'<a class="citation" href="{escape(url)}" title="{escape(title)}">'
                f"[{number}]</a>")

    escaped = str(escape(message.text))
    return Markup(_CITATION.sub(link, escaped).replace("\n", "<br>"))  # noqa: S704 - escaped
