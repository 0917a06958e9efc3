"""`portal eval` measures the copilot too: each question is read as a ticket's description,
and the figures say whether a gold article is among the three suggested
(`copilot_hit_at_3`) and whether the drafted reply cites one (`copilot_draft_cites_gold`,
over the answerable questions)."""

from __future__ import annotations

from typing import Any

from portal.copilot import services

KEYS = ("copilot_hit_at_3", "copilot_draft_cites_gold")


class CopilotScorer:
    keys = KEYS

    def score(self, question: dict[str, Any], reply: Any,
              audiences: tuple[str, ...]) -> dict[str, Any]:
        text = question["question"]
        # The bot already retrieved for this very text: the copilot's retrieval is the same
        # call, so it is reused rather than repeated (a reading under a topic is not).
        retrieval = reply.retrieval if reply.retrieval is not None \
            and reply.retrieval.query == text else None
        suggestion = services.suggest(text, audiences=audiences, retrieval=retrieval)
        return {"copilot_suggested": [a.slug for a in suggestion.articles],
                "copilot_cited": suggestion.cited}

    def summarise(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        graded = [r for r in rows if r["answerable"] and r["gold_slugs"]
                  and "copilot_suggested" in r]

        def share(hits: int) -> float | None:
            return round(hits / len(graded), 4) if graded else None

        return {
            "copilot_hit_at_3": share(sum(bool(set(r["gold_slugs"]) & set(r["copilot_suggested"]))
                                          for r in graded)),
            "copilot_draft_cites_gold": share(sum(bool(set(r["gold_slugs"])
                                                       & set(r["copilot_cited"]))
                                                  for r in graded)),
        }
