"""The copilot for one ticket: computed when the customer writes (in the background, see
`background`) or else when the ticket is opened, kept per latest customer message, so
reopening the page, or any change that is not a new customer message, reads one row
instead of searching again.

The KB part is the chatbot's own: the same retrieval (with the staff's audiences, so
internal articles count) and the same cited answer composition, read for the customer's
latest message.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.chat.services import Retrieval, compose, retrieve
from portal.clock import utcnow
from portal.copilot import ranking
from portal.copilot import similar as similar_tickets
from portal.copilot import summary as summaries
from portal.copilot.models import CopilotDraft, DraftOutcome
from portal.events import EventKind, emit
from portal.extensions import db
from portal.kb import services as kb_services
from portal.tickets import services as tickets

log = logging.getLogger(__name__)

SUGGESTED_ARTICLES = 3
EXCERPT_CHARS = 220


@dataclass(frozen=True)
class SuggestedArticle:
    slug: str
    title: str
    heading: str
    url: str
    excerpt: str
    internal: bool


@dataclass(frozen=True)
class MessageMood:
    """The tone of one customer message, in thread order ("d" is the description)."""

    key: str
    label: str
    score: float
    why: str


@dataclass(frozen=True)
class Assist:
    draft_id: int
    summary: str
    articles: list[SuggestedArticle]
    draft: str
    moods: list[MessageMood]
    outcome: str | None
    similar: list[similar_tickets.SimilarTicket]


@dataclass(frozen=True)
class Suggestion:
    """What the copilot makes of one text: the articles and the draft (no storage)."""

    articles: list[SuggestedArticle]
    draft: str
    cited: list[str]


# --- the KB part, shared with `portal eval` ------------------------------------------------


def suggest(text: str, *, audiences: Sequence[str] = kb_services.STAFF_AUDIENCES,
            retrieval: Retrieval | None = None, vector: list[float] | None = None,
            greeting: str = "") -> Suggestion:
    """The three KB sections that fit `text` best and a reply drafted from them (`vector`:
    the text's embedding when the caller has it).

    The draft is the chatbot's cited composition from the top articles, then the other
    suggested articles as further reading, so every suggestion the agent sees is cited."""
    found = retrieval or retrieve(text, audiences=tuple(audiences), vector=vector,
                                  text_signals=False)
    sources = ranking.reranked(text, found, audiences)[:SUGGESTED_ARTICLES]
    articles = [
        SuggestedArticle(
            slug=s.slug, title=s.title, heading=s.passages[0].heading if s.passages else "",
            url=_absolute(s.passages[0].url if s.passages else s.url),
            excerpt=_excerpt(s.passages[0].text) if s.passages else "",
            internal=any(p.audience == "internal" for p in s.passages[:1]),
        )
        for s in sources
    ]
    if not sources:
        return Suggestion([], "", [])
    composed = compose(text, sources)
    lines = [greeting] if greeting else []
    lines.append(composed.text or "")
    references = [f"[{c.number}] {c.title}" + (f" — {c.heading}" if c.heading != c.title else "")
                  + f": {_absolute(c.url)}" for c in composed.citations]
    cited = [c.slug for c in composed.citations]
    further = [a for a in articles if a.slug not in cited]
    if further:
        lines.append("You may also find these helpful:")
        number = len(composed.citations)
        for article in further:
            number += 1
            lines.append(f"- {article.title} [{number}]")
            references.append(f"[{number}] {article.title}: {article.url}")
            cited.append(article.slug)
    draft = "\n\n".join(part for part in lines if part) + "\n\n" + "\n".join(references)
    return Suggestion(articles, draft.strip(), list(dict.fromkeys(cited)))


def _absolute(url: str) -> str:
    """Links the customer can open from an email."""
    if url.startswith("/") and has_app_context():
        return current_app.config.get("BASE_URL", "").rstrip("/") + url
    return url


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


# --- the ticket page ---------------------------------------------------------------------


def customer_messages(ticket: Any, thread: Sequence[Any]) -> list[tuple[str, str]]:
    """(key, text) of everything the customer wrote, oldest first."""
    found = [("d", f"{ticket.subject}\n{ticket.description}")]
    found += [(f"m{m.id}", m.body) for m in thread
              if str(m.kind) == "reply" and not m.from_staff]
    return found


def _basis(key: str, text: str) -> str:
    return f"{key}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _query_text(ticket: Any, key: str, text: str) -> str:
    """A later message ("still nothing, I need it today") is about the ticket's subject: it
    is read under it, as the chat reads a follow-up under its topic."""
    return text if key == "d" else f"{ticket.subject}\n{text}"


def assist(ticket: Any, thread: Sequence[Any] | None = None, *,
           compute: bool = True) -> Assist | None:
    """The copilot for the ticket as it stands, from the cache when the customer has not
    written since it was computed; None when it is not cached and `compute` is off."""
    if thread is None:
        thread = tickets.thread(ticket, include_notes=True)
    messages = customer_messages(ticket, thread)
    key, text = messages[-1]
    basis = _basis(key, text)
    # One row per customer message: few, read once for the cache, the earlier moods and the
    # drafts left undecided.
    drafts = list(db.session.scalars(select(CopilotDraft).where(
        CopilotDraft.ticket_id == ticket.id).order_by(CopilotDraft.id)))
    row = next((d for d in drafts if d.basis == basis), None)
    if not compute and (row is None or row.similar is None):
        # Not computed, or its similar tickets still to look up (Meilisearch was down): the
        # page does not wait on the search engine; the card's own request does it.
        return None
    if row is None:
        row = _compute(ticket, thread, messages, basis, drafts)
    elif row.similar is None:
        # Meilisearch was down when the row was computed: look again.
        row.similar = similar_tickets.nearest(ticket)
        if row.similar is not None:
            db.session.commit()
    return Assist(
        draft_id=row.id, summary=row.summary,
        articles=[SuggestedArticle(**a) for a in row.articles], draft=row.draft,
        moods=[MessageMood(k, label, score, why) for k, label, score, why in row.moods],
        outcome=row.outcome, similar=similar_tickets.shown(row.similar or []),
    )


def _compute(ticket: Any, thread: Sequence[Any], messages: list[tuple[str, str]],
             basis: str, drafts: Sequence[CopilotDraft]) -> CopilotDraft:
    key, text = messages[-1]
    name = (ticket.requester_name or "").split(" ")[0]
    # The problem as first stated is embedded once, for the similar tickets and, while the
    # description is the latest message, for the articles too (the model reads the first
    # 256 word pieces, well inside the characters `problem_text` keeps).
    problem_vector = similar_tickets.problem_vector(ticket)
    suggestion = suggest(_query_text(ticket, key, text),
                         vector=problem_vector if key == "d" else None,
                         greeting=f"Hi {name}," if name else "Hi,")
    moods = _moods(ticket, messages, drafts[-1] if drafts else None)
    row = CopilotDraft(
        ticket_id=ticket.id, basis=basis,
        summary=summaries.summarise(ticket, thread, [t for _k, t in messages]),
        articles=[a.__dict__ for a in suggestion.articles], draft=suggestion.draft,
        moods=moods, similar=similar_tickets.nearest(ticket, problem_vector),
        created_at=utcnow(),
    )
    _discard_unused([d for d in drafts if d.outcome is None], thread)
    db.session.add(row)
    try:
        db.session.flush()
        if row.draft:
            # An empty draft puts nothing on the page (no form): it was not shown.
            emit(EventKind.COPILOT_DRAFT_SHOWN, occurred_at=row.created_at, ticket_id=ticket.id,
                 draft_id=row.id)
        db.session.commit()
    except IntegrityError:
        # Two agents opened the ticket at once: the other request's row is the same.
        db.session.rollback()
        existing = db.session.scalar(select(CopilotDraft).where(
            CopilotDraft.ticket_id == ticket.id, CopilotDraft.basis == basis))
        if existing is None:
            raise
        return existing
    return row


def _moods(ticket: Any, messages: list[tuple[str, str]],
           previous: CopilotDraft | None) -> list[list[Any]]:
    """Each customer message's tone. Only a message never scored costs an embedding: the
    earlier ones are in the ticket's previous copilot row, the latest one on the ticket."""
    known: dict[str, list[Any]] = {}
    if previous is not None:
        known = {str(m[0]): list(m) for m in previous.moods}
    latest = messages[-1][0]
    if ticket.sentiment is not None and latest not in known:
        known[latest] = [latest, ticket.sentiment, ticket.sentiment_score or 0.0,
                         ticket.sentiment_why or ""]
    found: list[list[Any]] = []
    for key, text in messages:
        if key not in known:
            mood = tickets.message_mood(text)
            known[key] = [key, mood.label, mood.score, mood.why] if mood else \
                [key, tickets.NEUTRAL, 0.0, ""]
        found.append(known[key])
    return found


def _discard_unused(pending: Sequence[CopilotDraft], thread: Sequence[Any]) -> None:
    """Drafts left without a decision once the ticket moved on: an agent replied some other
    way, so the draft was not used."""
    for row in pending:
        replied = any(m.from_staff and str(m.kind) == "reply" and m.created_at >= row.created_at
                      for m in thread)
        if replied:
            _decide(row, DraftOutcome.DISCARDED, None, None)


# --- what the agent did with the draft ---------------------------------------------------


class DraftError(ValueError):
    pass


def _decide(row: CopilotDraft, outcome: DraftOutcome, agent_id: int | None,
            changed: float | None) -> None:
    row.outcome = str(outcome)
    row.decided_at = utcnow()
    row.decided_by = agent_id
    row.changed_share = changed
    # The dashboard counts a draft on the day it was shown, whenever it is decided.
    emit(EventKind.COPILOT_DRAFT, ticket_id=row.ticket_id, user_id=agent_id,
         outcome=str(outcome), changed_share=changed, draft_id=row.id,
         drafted_at=row.created_at.isoformat(), shown=bool(row.draft))


def changed_share(draft: str, sent: str) -> float:
    """How much of the draft's wording the agent rewrote (0 = sent as drafted)."""
    import difflib

    if draft.strip() == sent.strip():
        return 0.0
    matcher = difflib.SequenceMatcher(None, draft.split(), sent.split(), autojunk=False)
    return round(1 - matcher.ratio(), 3)


def send_draft(ticket_number: int, draft_id: int, body: str, *, actor: Any,
               then_status: str | None = None) -> Any:
    """Send the reply the agent reviewed (and perhaps edited); the draft records which."""
    ticket = tickets.get_ticket(ticket_number)
    row = db.session.get(CopilotDraft, draft_id)
    if ticket is None or row is None or row.ticket_id != ticket.id:
        raise DraftError("That draft does not belong to this ticket any more; reload the page.")
    sent = tickets.reply(ticket.id, body, actor=actor, then_status=then_status)
    if row.outcome is None:
        share = changed_share(row.draft, body)
        _decide(row, DraftOutcome.USED if share == 0.0 else DraftOutcome.EDITED, actor.id, share)
        db.session.commit()
    return sent


def discard_draft(ticket_number: int, draft_id: int, *, agent_id: int) -> None:
    ticket = tickets.get_ticket(ticket_number)
    row = db.session.get(CopilotDraft, draft_id)
    if ticket is None or row is None or row.ticket_id != ticket.id:
        raise DraftError("That draft does not belong to this ticket any more; reload the page.")
    if row.outcome is None:
        _decide(row, DraftOutcome.DISCARDED, agent_id, None)
        db.session.commit()


def draft_usage() -> dict[str, int]:
    """Drafts per outcome over all time ("pending": not decided yet). The dashboard's
    figures per period are read from the events instead (`metrics.queries.draft_usage`)."""
    from sqlalchemy import func

    counts = dict(db.session.execute(
        select(CopilotDraft.outcome, func.count()).group_by(CopilotDraft.outcome)).all())
    return {"pending": counts.pop(None, 0), **{str(k): v for k, v in counts.items()}}
