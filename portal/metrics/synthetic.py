"""Plausible raw event streams for benchmarks and consistency tests.

These are events only, written straight to the table: the demo seeder goes
through the real services instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

CATALOGUE: dict[str, list[str]] = {
    "billing": ["refunds", "invoices", "change-plan", "payment-failed"],
    "devices": ["pairing", "firmware-update", "battery", "reset-device"],
    "account": ["password-reset", "two-factor", "delete-account"],
    "installation": ["wiring", "mounting", "first-setup"],
    "connectivity": ["wifi-setup", "offline-hub", "router-settings"],
}
QUERIES = {
    slug: [slug.replace("-", " "), slug.split("-")[0], f"how to {slug.replace('-', ' ')}"]
    for slugs in CATALOGUE.values() for slug in slugs
}
GAP_QUERIES = ["warranty claim", "cancel order", "gift card", "solar panel", "error e42",
               "api token", "dark mode"]
HANDOFF_REASONS = ["low_confidence", "asked_for_person", "not_helpful", "sensitive_topic",
                   "user_action"]
# Support staff: four agents in each team, ids from AGENT_BASE (no accounts behind them).
TEAMS = ("billing", "technical", "general")
TEAM_OF = {"billing": "billing", "devices": "technical", "connectivity": "technical",
           "installation": "technical"}
AGENTS_PER_TEAM = 4
AGENT_BASE = 9000
EVENT_COLUMNS = ("kind", "occurred_at", "visitor_id", "user_id", "conversation_id", "ticket_id",
                 "article_slug", "category")


def as_row(item: dict[str, Any]) -> dict[str, Any]:
    """An emit()-style dict as an event table row (the rest goes to `data`)."""
    row = {column: item.get(column) for column in EVENT_COLUMNS}
    row["kind"] = str(row["kind"])
    row["data"] = {k: v for k, v in item.items() if k not in EVENT_COLUMNS}
    return row


def generate_events(
    *, first_day: date, days: int, conversations_per_day: int, seed: int = 1,
    extra_tickets_per_day: int = 0, start_ids: int = 1,
) -> Iterator[dict[str, Any]]:
    """Yield emit()-style dicts (kind, occurred_at, columns, data fields) in time order per day."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    # Who works each ticket is drawn from a stream of its own, so adding it left every
    # other synthetic figure as it was.
    staff = random.Random(seed + 7)  # noqa: S311 - test data, not secrets
    # The copilot's drafts too, for the same reason.
    copilot = random.Random(seed + 11)  # noqa: S311 - test data, not secrets
    next_id = {"conversation": start_ids, "ticket": start_ids, "search": 0, "form": 0,
               "draft": start_ids}
    visitors = [f"syn-v{n}" for n in range(max(50, conversations_per_day * days // 3))]
    linked: dict[str, int] = {}
    pending: list[dict[str, Any]] = []

    def new(kind: str) -> int:
        next_id[kind] += 1
        return next_id[kind] - 1

    def person(visitor: str) -> dict[str, Any]:
        return {"visitor_id": visitor, "user_id": linked.get(visitor)}

    def draft_events(ticket_id: int, created: datetime, responded: datetime,
                     agent: int) -> list[dict[str, Any]]:
        """The copilot's draft for the ticket, shown when it arrived, and what the agent did
        with it when replying: about 4 in 10 sent as drafted, 3 edited, 2 discarded, and 1
        still waiting (a new customer message replaces it later)."""
        if copilot.random() < 0.1:
            return []
        draft_id = new("draft")
        shown = created + timedelta(seconds=copilot.uniform(5, 60))
        found = [{"kind": "copilot_draft_shown", "occurred_at": shown, "ticket_id": ticket_id,
                  "draft_id": draft_id}]
        roll = copilot.random()
        if roll < 0.9:
            outcome = "used" if roll < 0.4 else "edited" if roll < 0.7 else "discarded"
            share = {"used": 0.0, "edited": round(copilot.betavariate(2, 5), 3),
                     "discarded": None}[outcome]
            found.append({"kind": "copilot_draft", "occurred_at": max(responded, shown),
                          "ticket_id": ticket_id, "user_id": agent, "outcome": outcome,
                          "changed_share": share, "draft_id": draft_id,
                          "drafted_at": shown.isoformat(), "shown": True})
        return found

    def ticket(created: datetime, visitor: str, category: str, source: str,
               conversation_id: int | None = None, form_id: str | None = None) -> None:
        ticket_id = new("ticket")
        fields: dict[str, Any] = {"ticket_id": ticket_id, "category": category}
        team = TEAM_OF.get(category, "general")
        agent = AGENT_BASE + TEAMS.index(team) * AGENTS_PER_TEAM + staff.randrange(
            AGENTS_PER_TEAM)
        held = {"agent_id": agent, "team": team}
        extra = {"form_id": form_id} if form_id else {}
        pending.append({"kind": "ticket_created", "occurred_at": created, **person(visitor),
                        **fields, "conversation_id": conversation_id, "source": source,
                        "priority": rng.choice(["low", "normal", "normal", "high"]),
                        "number": 1000 + ticket_id, **held, "tier": 1, **extra})
        responded = created + timedelta(hours=rng.uniform(0.2, 30))
        response_seconds = (responded - created).total_seconds()
        pending.extend(draft_events(ticket_id, created, responded, agent))
        pending.append({"kind": "ticket_first_response", "occurred_at": responded,
                        "ticket_id": ticket_id, "seconds": round(response_seconds),
                        "sla_met": response_seconds <= 8 * 3600, **held})
        if staff.random() < 0.1:
            # Handed to a colleague in the same team after the first reply.
            colleague = AGENT_BASE + TEAMS.index(team) * AGENTS_PER_TEAM + staff.randrange(
                AGENTS_PER_TEAM)
            pending.append({"kind": "ticket_assigned", "occurred_at": responded
                            + timedelta(minutes=5), "ticket_id": ticket_id,
                            "agent_id": colleague, "previous_agent_id": agent, "team": team,
                            "previous_team": team})
            held = {"agent_id": colleague, "team": team}
        if rng.random() < 0.85:
            solved = responded + timedelta(hours=rng.uniform(0.5, 120))
            solve_seconds = (solved - created).total_seconds()
            pending.append({"kind": "ticket_solved", "occurred_at": solved, **fields,
                            "seconds": round(solve_seconds),
                            "sla_met": solve_seconds <= 72 * 3600, **held})
            if rng.random() < 0.06:
                reopened = solved + timedelta(hours=rng.uniform(1, 48))
                pending.append({"kind": "ticket_reopened", "occurred_at": reopened,
                                "ticket_id": ticket_id})
                again = reopened + timedelta(hours=rng.uniform(1, 48))
                pending.append({"kind": "ticket_solved", "occurred_at": again, **fields,
                                "seconds": round((again - created).total_seconds()),
                                "sla_met": False, **held})
                solved = again
            if rng.random() < 0.4:
                score = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 5])[0]
                pending.append({"kind": "csat", "occurred_at": solved + timedelta(hours=2),
                                **fields, "score": score, "source": source, **held})

    for offset in range(days):
        day = first_day + timedelta(days=offset)
        midnight = datetime.combine(day, time.min)
        for _ in range(conversations_per_day):
            visitor = rng.choice(visitors)
            category = rng.choice(list(CATALOGUE))
            slug = rng.choice(CATALOGUE[category])
            moment = midnight + timedelta(seconds=rng.uniform(0, 86000))

            # The visitor searches, maybe clicks and reads, maybe votes.
            search_id = f"syn-s{new('search')}"
            gap = rng.random() < 0.12
            query = rng.choice(GAP_QUERIES) if gap else rng.choice(QUERIES[slug])
            results = 0 if gap else rng.randint(1, 8)
            pending.append({"kind": "search", "occurred_at": moment, **person(visitor),
                            "query": query, "results": results, "search_id": search_id,
                            "source": "kb"})
            if results and rng.random() < 0.6:
                moment += timedelta(seconds=rng.uniform(3, 40))
                pending.append({"kind": "search_click", "occurred_at": moment,
                                "visitor_id": visitor, "article_slug": slug,
                                "search_id": search_id, "query": query, "position": 1})
                pending.append({"kind": "article_view", "occurred_at": moment, **person(visitor),
                                "article_slug": slug, "category": category})
                if rng.random() < 0.2:
                    pending.append({"kind": "article_vote", "occurred_at": moment
                                    + timedelta(seconds=60), "visitor_id": visitor,
                                    "article_slug": slug, "category": category,
                                    "helpful": rng.random() < 0.6})

            # Then maybe the chat.
            if rng.random() < 0.75:
                conversation_id = new("conversation")
                moment += timedelta(minutes=rng.uniform(1, 10))
                pending.append({"kind": "chat_started", "occurred_at": moment,
                                "conversation_id": conversation_id, **person(visitor)})
                if rng.random() < 0.9:
                    moment += timedelta(seconds=5)
                    cited = rng.sample(CATALOGUE[category], k=min(2, len(CATALOGUE[category])))
                    pending.append({"kind": "answer_given", "occurred_at": moment,
                                    "conversation_id": conversation_id, **person(visitor),
                                    "category": category, "article_slugs": cited,
                                    "confidence": round(rng.uniform(0.2, 0.95), 2),
                                    "mode": "local"})
                    roll = rng.random()
                    if roll < 0.35:
                        pending.append({"kind": "chat_feedback", "occurred_at": moment
                                        + timedelta(seconds=30), "conversation_id":
                                        conversation_id, "helpful": True})
                        pending.append({"kind": "resolution_confirmed", "occurred_at": moment
                                        + timedelta(seconds=30), "conversation_id":
                                        conversation_id, **person(visitor)})
                    elif roll < 0.55:
                        pending.append({"kind": "chat_feedback", "occurred_at": moment
                                        + timedelta(seconds=30), "conversation_id":
                                        conversation_id, "helpful": False})
                        if rng.random() < 0.7:
                            pending.append({"kind": "handoff", "occurred_at": moment
                                            + timedelta(seconds=40), "conversation_id":
                                            conversation_id, **person(visitor),
                                            "category": category, "reason": "not_helpful",
                                            "topic": rng.choice([None, slug, "warranty"])})
                            if rng.random() < 0.8:
                                ticket(moment + timedelta(minutes=2), visitor, category, "chat",
                                       conversation_id)
                    elif roll < 0.62:
                        pending.append({"kind": "handoff", "occurred_at": moment
                                        + timedelta(seconds=20), "conversation_id":
                                        conversation_id, **person(visitor),
                                        "category": category,
                                        "reason": rng.choice(HANDOFF_REASONS)})
                        ticket(moment + timedelta(minutes=3), visitor, category, "chat",
                               conversation_id)
                    elif rng.random() < 0.1:
                        # An assumed resolution that a later ticket may overturn.
                        ticket(moment + timedelta(hours=rng.uniform(1, 200)), visitor, category,
                               "form")

            # The new-ticket form: suggestions, sometimes a ticket anyway.
            if rng.random() < 0.25:
                form_id = f"syn-f{new('form')}"
                moment += timedelta(minutes=rng.uniform(1, 30))
                pending.append({"kind": "ticket_form_opened", "occurred_at": moment,
                                **person(visitor), "form_id": form_id})
                if rng.random() < 0.8:
                    pending.append({"kind": "ticket_form_suggestions", "occurred_at": moment
                                    + timedelta(seconds=5), "visitor_id": visitor,
                                    "form_id": form_id, "article_slugs": [slug]})
                if rng.random() < 0.45:
                    ticket(moment + timedelta(minutes=rng.uniform(1, 90)), visitor, category,
                           "form", form_id=form_id)

            if visitor not in linked and rng.random() < 0.08:
                linked[visitor] = 10_000 + len(linked)
                pending.append({"kind": "user_signed_in", "occurred_at": moment
                                + timedelta(minutes=5), "visitor_id": visitor,
                                "user_id": linked[visitor]})

        for _ in range(extra_tickets_per_day):
            ticket(midnight + timedelta(seconds=rng.uniform(0, 86000)), rng.choice(visitors),
                   rng.choice(list(CATALOGUE)), "email")

        # Release what has happened by the end of this day, in time order.
        horizon = midnight + timedelta(days=1)
        ready = sorted((p for p in pending if p["occurred_at"] < horizon),
                       key=lambda p: p["occurred_at"])
        pending = [p for p in pending if p["occurred_at"] >= horizon]
        yield from ready
    yield from sorted(pending, key=lambda p: p["occurred_at"])
