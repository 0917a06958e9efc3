"""Answer review latency: the sample page, the dashboard with review figures, the CSV.

    .venv/bin/python bench/metrics_review.py [--db sqlite|postgresql|both]
        [--conversations-per-day 2000] [--reviews 2000] [--requests 30]

Builds a fresh database per backend with 30 days of synthetic activity ending yesterday
(a fifth of the low-confidence hand-offs turned into suggestions), a stored transcript
(question and cited answer) for every conversation the bot answered, folds it into the
rollups, then times through the real app (login, rendering): GET /metrics/review,
GET /metrics for the 30 days before and after `--reviews` reviews are recorded, and
the CSV of reviews.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bench.metrics_dashboard import (  # noqa: E402
    bench_app,
    each_backend,
    report_line,
    timed_requests,
)
from portal.accounts import services as accounts  # noqa: E402
from portal.accounts.models import Role  # noqa: E402
from portal.chat.models import Conversation, Message  # noqa: E402
from portal.clock import utcnow  # noqa: E402
from portal.events import Event  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.metrics import rollup  # noqa: E402
from portal.metrics.review_seed import seed_reviews  # noqa: E402
from portal.metrics.synthetic import as_row, generate_events  # noqa: E402

DAYS = 30
PASSWORD = "bench-password-42"


def load(per_day: int) -> tuple[int, int]:
    """Events, and a transcript for each conversation that got an answer or suggestion."""
    first = utcnow().date() - timedelta(days=DAYS)
    rows, transcripts = [], {}
    for item in generate_events(first_day=first, days=DAYS, conversations_per_day=per_day,
                                seed=5):
        row = as_row(item)
        cid = row.get("conversation_id")
        data = row.get("data") or {}
        if row["kind"] == "handoff" and data.get("reason") == "low_confidence" and cid % 5 == 0:
            row["data"] = {**data, "reason": "unsure"}
            transcripts[cid] = ("suggest", [row.get("category") or ""])
        elif row["kind"] == "answer_given":
            transcripts[cid] = ("answer", list(data.get("article_slugs") or []))
        rows.append(row)
    for start in range(0, len(rows), 20_000):
        db.session.execute(insert(Event), rows[start:start + 20_000])
    conversations, messages = [], []
    for cid, (kind, slugs) in transcripts.items():
        conversations.append({"id": cid, "visitor_id": f"bench-{cid}", "state": "answered"})
        cites = [{"n": n, "slug": s, "title": s, "heading": "Steps", "url": f"/kb/{s}",
                  "category": ""} for n, s in enumerate(slugs, start=1) if s]
        messages += [
            {"conversation_id": cid, "role": "user", "text": f"Question {cid}?",
             "kind": "question", "citations": []},
            {"conversation_id": cid, "role": "bot", "text": f"Answer {cid} [1].", "kind": kind,
             "citations": cites},
        ]
    for start in range(0, len(conversations), 20_000):
        db.session.execute(insert(Conversation), conversations[start:start + 20_000])
    for start in range(0, len(messages), 20_000):
        db.session.execute(insert(Message), messages[start:start + 20_000])
    db.session.commit()
    return len(rows), len(conversations)


def run(backend: str, url: str, per_day: int, reviews: int, requests: int) -> None:
    app = bench_app(url)
    with app.app_context():
        db.create_all()
        print(f"\n== {backend}")
        started = time.perf_counter()
        events, transcripts = load(per_day)
        rollup.refresh()
        rollup.analyze()
        print(f"  {events:,} events, {transcripts:,} stored transcripts, rollups built in "
              f"{time.perf_counter() - started:.0f} s")
        accounts.create_user("manager@bench.example", "Bench Manager", PASSWORD, Role.MANAGER)
        client: Any = app.test_client()
        assert client.post("/login", data={"email": "manager@bench.example",
                                           "password": PASSWORD}).status_code == 302
        last = utcnow().date()
        dashboard = f"/metrics?start={(last - timedelta(days=DAYS - 1)).isoformat()}" \
                    f"&end={last.isoformat()}"
        print(report_line("dashboard, 30 days, no reviews",
                          timed_requests(client, dashboard, requests)))
        print(report_line("review page, no reviews",
                          timed_requests(client, "/metrics/review", requests)))
        started = time.perf_counter()
        done = seed_reviews(reviews)
        seconds = time.perf_counter() - started
        print(f"  {done:,} reviews recorded in {seconds:.1f} s "
              f"({seconds / max(done, 1) * 1000:.1f} ms each)")
        print(report_line(f"review page, {done:,} reviews",
                          timed_requests(client, "/metrics/review", requests)))
        print(report_line(f"dashboard, 30 days, {done:,} reviews",
                          timed_requests(client, dashboard, requests)))
        print(report_line("dashboard, one category",
                          timed_requests(client, dashboard + "&category=billing", requests)))
        print(report_line("CSV of reviews",
                          timed_requests(client, "/metrics/review/export.csv", requests)))
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--conversations-per-day", type=int, default=2000)
    parser.add_argument("--reviews", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    each_backend(args.db, lambda label, url: run(
        label, url, args.conversations_per_day, args.reviews, args.requests))


if __name__ == "__main__":
    main()
