"""What agents did with the copilot's drafts, defined once as plain computation over events.

Like `definitions`, this is the reference the rollups (`queries.draft_usage`) must agree with.
A draft belongs to the day it was shown, as a chat belongs to the day it started: a draft
shown on Monday and sent on Tuesday is Monday's. Its fate is the agent's one decision
(`copilot_draft`: used, edited or discarded); until then it is pending, and pending drafts
are left out of the shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from portal.metrics.definitions import NO_CATEGORY
from portal.metrics.figures import DraftUsage
from portal.metrics.records import EventRecord, Period, nearest_rank

SHOWN = "copilot_draft_shown"
DECIDED = "copilot_draft"
OUTCOMES = ("used", "edited", "discarded")


def drafted_at(data: Mapping[str, Any]) -> datetime | None:
    """When the decided draft was shown; None for a draft that never was (an empty one)
    or for a decision recorded before decisions said so."""
    if data.get("shown") is False or data.get("outcome") not in OUTCOMES:
        return None
    try:
        return datetime.fromisoformat(str(data.get("drafted_at")))
    except ValueError:
        return None


def compute_draft_usage(
    events: Iterable[EventRecord], period: Period, category: str | None = None
) -> DraftUsage:
    """Drafts shown in `period` (optionally on tickets of one category) and their fate."""
    history = list(events)
    created = {e.ticket_id: e.category for e in history
               if e.kind == "ticket_created" and e.ticket_id is not None}

    def wanted(event: EventRecord) -> bool:
        name = created.get(event.ticket_id) if event.ticket_id is not None else None
        return category is None or (name or NO_CATEGORY) == category

    shown = sum(1 for e in history if e.kind == SHOWN and e.occurred_at in period and wanted(e))
    decided = {name: 0 for name in OUTCOMES}
    rewritten: list[float] = []
    for event in history:
        if event.kind != DECIDED or drafted_at(event.data) not in period or not wanted(event):
            continue
        outcome = str(event.data["outcome"])
        decided[outcome] += 1
        if outcome == "edited":
            rewritten.append(float(event.data.get("changed_share") or 0))
    return DraftUsage(shown, decided["used"], decided["edited"], decided["discarded"],
                      nearest_rank(rewritten, 0.5))
