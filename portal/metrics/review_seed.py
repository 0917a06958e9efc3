"""Demo reviews: verdicts on sampled answers, so a fresh demo shows corrected figures.

They are recorded through `review.record_review` like a manager's, each with a note that
says it is demo data, so the CSV and the events tell them apart from real reviews.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from portal.clock import utcnow
from portal.metrics import review
from portal.metrics.review_figures import Stratum, Verdict

DEMO_NOTE = "Demo review (portal metrics seed-reviews)"
# How often each kind of answer is judged right / partly right / wrong in the demo.
VERDICT_ODDS: dict[Stratum, tuple[float, float, float]] = {
    Stratum.CONFIRMED: (0.9, 0.07, 0.03),
    Stratum.ASSUMED: (0.7, 0.15, 0.15),
    Stratum.SUGGESTED: (0.3, 0.3, 0.4),
}


def seed_reviews(count: int, *, seed: int = 7, today: date | None = None,
                 days: int = review.WINDOW_DAYS, reviewer_id: int | None = None) -> int:
    """Review up to `count` unreviewed conversations of the last `days`; returns how many."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    pool = review.strata(first, last)
    open_ids = sorted(set(pool) - review.reviewed_ids(first, last))
    done = 0
    for cid in rng.sample(open_ids, min(count, len(open_ids))):
        odds = VERDICT_ODDS[pool[cid]]
        verdict = rng.choices(list(Verdict), weights=odds)[0]
        try:
            review.record_review(cid, verdict, DEMO_NOTE, reviewer_id)
        except review.ReviewError:
            continue  # reviewed meanwhile, or its outcome changed: skip it
        done += 1
    return done
