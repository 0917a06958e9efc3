"""Similar solved tickets: a known fix reused, and the content gap it reveals.

Each solved ticket is a document in its own Meilisearch index beside the KB's passages
(`solved_tickets`), embedded with the same MiniLM model as a `userProvided` vector. The
vector is the customer's problem as first stated (subject and description): later messages
("still nothing") say little about what the problem was. The index keeps no name or
address: only the ticket's id, number, subject, category and that text.

What the agent sees is read from the database when the page is shown: only tickets still
solved or closed (a reopened ticket's reply did not solve it), with the last reply an agent
sent, the requester's name and address taken out of it. When Meilisearch is down there are
simply no similar tickets: this is an aid, and the ticket page never fails for it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from portal.kb.services import (
    EMBEDDER,
    TASK_TIMEOUT_MS,
    EmbeddingUnavailable,
    EngineApiError,
    EngineUnavailable,
    ensure_vector_index,
    get_embedder,
    get_engine,
)
from portal.tickets import services as tickets

log = logging.getLogger(__name__)

INDEX = "solved_tickets"
SHOWN = 3
CANDIDATES = 8
# Cosine of the two problems' embeddings: below it, "similar" would only mean "also a
# support question". Measured on the pairs of the demo questions (content/_questions.jsonl):
# 55 % of the pairs answered by the same article reach 0.5, 1.4 % of the others do
# (0.55: 41 % and 0.7 %; 0.45: 59 % and 2.5 %).
MIN_COSINE = 0.5
PROBLEM_CHARS = 2000
PREFILL_CHARS = 3000
_GREETING = re.compile(r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening))\b[^\n]*\n+",
                       re.IGNORECASE)


@dataclass(frozen=True)
class SimilarTicket:
    number: int
    subject: str
    category: str
    reply: str  # the reply that solved it, without the requester's name or address
    cosine: float


def problem_text(ticket: Any) -> str:
    return f"{ticket.subject}\n{ticket.description}"[:PROBLEM_CHARS]


# --- the index ---------------------------------------------------------------------------


def _index_uid() -> str:
    return get_engine().index_name(INDEX)


def ensure_index() -> None:
    ensure_vector_index(_index_uid(), {
        "searchableAttributes": ["subject", "text"],
        "filterableAttributes": ["category"],
        "displayedAttributes": ["id", "number", "subject", "category"],
    })


def _document(ticket: Any, vector: Sequence[float]) -> dict[str, Any]:
    return {"id": ticket.id, "number": ticket.number, "subject": ticket.subject,
            "category": ticket.category or "", "text": problem_text(ticket),
            "_vectors": {EMBEDDER: [float(x) for x in vector]}}


def _add(documents: list[dict[str, Any]]) -> None:
    uid = _index_uid()

    def add(client: Any) -> None:
        task = client.index(uid).add_documents(documents)
        done = client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if done.status != "succeeded":
            raise RuntimeError(f"solved tickets index update failed: {done.error}")

    get_engine().call(add)


def index_ticket(ticket_id: int) -> bool:
    """Add a ticket that was just solved (True), if it is still solved and an agent replied."""
    found = tickets.solved_with_replies([ticket_id])
    if not found:
        return False
    ticket = found[0][0]
    ensure_index()
    _add([_document(ticket, get_embedder().encode_one(problem_text(ticket)))])
    return True


def clear() -> None:
    """Empty the index: its ids are ticket ids, which mean nothing in another database."""
    ensure_index()
    uid = _index_uid()

    def delete(client: Any) -> None:
        task = client.index(uid).delete_all_documents()
        client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)

    get_engine().call(delete)


def reindex(ticket_ids: Sequence[int], *, batch: int = 64,
            progress: Callable[[int], None] | None = None) -> int:
    """Build the index anew from these tickets (`portal copilot reindex`); returns how many.
    Until it is done the ticket pages show fewer similar tickets, never wrong ones."""
    clear()
    done = 0
    embedder = get_embedder()
    for start in range(0, len(ticket_ids), batch):
        rows = tickets.tickets_by_ids(ticket_ids[start:start + batch])
        vectors = embedder.encode([problem_text(t) for t in rows])
        _add([_document(t, v) for t, v in zip(rows, vectors, strict=True)])
        done += len(rows)
        if progress is not None:
            progress(len(rows))
    return done


# --- finding them ------------------------------------------------------------------------


def problem_vector(ticket: Any) -> list[float] | None:
    """The embedding of `problem_text(ticket)`, or None when the model is missing."""
    try:
        return get_embedder().encode_query(problem_text(ticket))
    except EmbeddingUnavailable:
        return None


def nearest(ticket: Any, vector: list[float] | None = None) -> list[list[Any]] | None:
    """[ticket id, cosine] of the closest solved tickets, or None when Meilisearch is down
    (so the next open tries again). `vector` is the embedding of `problem_text(ticket)` when
    the caller already has it."""
    try:
        ensure_index()
        if vector is None:
            vector = get_embedder().encode_query(problem_text(ticket))
        found = get_engine().post_json(f"indexes/{_index_uid()}/search", {
            "q": "", "vector": vector, "hybrid": {"embedder": EMBEDDER, "semanticRatio": 1.0},
            "limit": CANDIDATES + 1, "showRankingScore": True, "attributesToRetrieve": ["id"],
        })
    except (EngineUnavailable, EngineApiError, RuntimeError):
        log.warning("no similar solved tickets for ticket %s: search unavailable", ticket.id,
                    exc_info=True)
        return None
    hits = []
    for hit in found.get("hits", []):
        cosine = round(2.0 * float(hit.get("_rankingScore", 0.0)) - 1.0, 3)
        if int(hit["id"]) != ticket.id and cosine >= MIN_COSINE:
            hits.append([int(hit["id"]), cosine])
    return hits


def shown(candidates: Iterable[Sequence[Any]]) -> list[SimilarTicket]:
    """The candidates still solved, best first, each with the reply that solved it."""
    cosines = {int(c[0]): float(c[1]) for c in candidates}
    found = [
        SimilarTicket(number=int(t.number or 0), subject=t.subject, category=t.category or "",
                      reply=without_requester(reply, t), cosine=cosines[t.id])
        for t, reply in tickets.solved_with_replies(list(cosines))
    ]
    found.sort(key=lambda s: -s.cosine)
    return found[:SHOWN]


def without_requester(reply: str, ticket: Any) -> str:
    """The reply as advice anyone could read: no greeting, no name or address of the
    customer it was written to."""
    text = _GREETING.sub("", reply.strip(), count=1)
    if ticket.requester_email:
        text = re.sub(re.escape(ticket.requester_email), "[customer]", text, flags=re.IGNORECASE)
    for part in (ticket.requester_name or "").split():
        if len(part) > 1:
            text = re.sub(rf"\b{re.escape(part)}\b", "[customer]", text)
    return text.strip()


def article_prefill(similar: SimilarTicket) -> dict[str, str]:
    """The KB editor's "new article" form: the problem as title, the fix as body."""
    return {"title": similar.subject[:200], "category": similar.category,
            "body": similar.reply[:PREFILL_CHARS]}
