"""Dashboard latency with 1,000,000 events and ~90,000 tickets, on SQLite and PostgreSQL.

    .venv/bin/python bench/metrics_dashboard.py [--db sqlite|postgresql|both]
        [--events 1000000] [--requests 40]

Builds a fresh database per backend, bulk-loads synthetic events (180 days), folds them
into the rollups once (timed: that is the one-off cost of `portal metrics rebuild`),
then times GET /metrics for a 90-day range through the real app (login, rendering),
with and without a category filter, and with new events arriving between requests.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.accounts import services as accounts  # noqa: E402
from portal.accounts.models import Role  # noqa: E402
from portal.events import Event  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.metrics import rollup  # noqa: E402
from portal.metrics.synthetic import as_row, generate_events  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DAYS = 180
FIRST_DAY = date(2025, 1, 1)
PASSWORD = "bench-password-42"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def events(limit: int) -> Iterator[dict[str, Any]]:
    # ~5.5 events per visit and ~0.24 tickets per visit, plus e-mailed tickets, and about
    # two copilot draft events per ticket: 630 visits and 350 e-mailed tickets a day give a
    # little over 1.0 M events over the 180 days (cut to the limit) and ~90 k tickets. (Before
    # the drafts, 740 and 410 gave the same 1.0 M with ~107 k tickets: kept as they were, the
    # cut would leave the last month, inside the measured range, empty.)
    per_day = max(1, round(630 * limit / 1_000_000))
    extra = max(0, round(350 * limit / 1_000_000))
    produced = 0
    for item in generate_events(first_day=FIRST_DAY, days=DAYS, conversations_per_day=per_day,
                                extra_tickets_per_day=extra, seed=11):
        if produced >= limit:
            return
        produced += 1
        yield as_row(item)


def load(limit: int) -> tuple[int, int, float]:
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for row in events(limit):
        batch.append(row)
        if len(batch) == 20_000:
            db.session.execute(insert(Event), batch)
            db.session.commit()
            batch.clear()
    if batch:
        db.session.execute(insert(Event), batch)
        db.session.commit()
    total = db.session.scalar(select(func.count()).select_from(Event)) or 0
    tickets = db.session.scalar(select(func.count()).select_from(Event)
                                .where(Event.kind == "ticket_created")) or 0
    return total, tickets, time.perf_counter() - started


def timed_requests(client: Any, url: str, count: int) -> list[float]:
    client.get(url)  # warm caches and templates
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return timings


def report_line(label: str, timings: list[float]) -> str:
    mean = statistics.mean(timings)
    return (f"  {label:<34} p50 {percentile(timings, .5):7.1f} ms  p95 "
            f"{percentile(timings, .95):7.1f} ms  p99 {percentile(timings, .99):7.1f} ms  "
            f"{1000 / mean:6.1f} req/s")


def bench_app(url: str) -> Flask:
    """The portal on a fresh database, without CSRF or sign-in limits (one client, many runs)."""
    return create_app({
        "DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-metrics-"),
        "SECRET_KEY": "bench-" + "x" * 32, "WTF_CSRF_ENABLED": False,
        "METRICS_SETTLE_SECONDS": 0, "MEILI_URL": "http://127.0.0.1:9",
        "LOGIN_LIMIT_PER_ACCOUNT": 1000, "LOGIN_LIMIT_PER_IP": 1000,
    })


def each_backend(choice: str, run_on: Callable[[str, str], None]) -> None:
    """run_on(label, url) on a fresh SQLite file and/or a throwaway PostgreSQL database."""
    if choice in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) / "bench.db"
        run_on("SQLite", f"sqlite:///{path}")
    if choice in ("postgresql", "both"):
        name = f"portal_bench_{os.getpid()}_{secrets.token_hex(2)}"
        admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run_on("PostgreSQL", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def run(backend: str, url: str, limit: int, requests: int) -> None:
    app = bench_app(url)
    with app.app_context():
        db.create_all()
        print(f"\n== {backend}")
        total, tickets, seconds = load(limit)
        print(f"  loaded {total:,} events ({tickets:,} tickets) in {seconds:.0f} s")
        started = time.perf_counter()
        rollup.refresh()
        build = time.perf_counter() - started
        print(f"  initial rollup build: {build:.1f} s ({total / build:,.0f} events/s)")
        # What `portal metrics rebuild` does last (and autovacuum would do later).
        started = time.perf_counter()
        rollup.analyze()
        print(f"  vacuum/analyze of the rollups: {time.perf_counter() - started:.1f} s")

        accounts.create_user("manager@bench.example", "Bench Manager", PASSWORD, Role.MANAGER)
        client = app.test_client()
        response = client.post("/login", data={"email": "manager@bench.example",
                                               "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        last = FIRST_DAY + timedelta(days=DAYS - 1)
        first = last - timedelta(days=89)
        url_90 = f"/metrics?start={first.isoformat()}&end={last.isoformat()}"
        print(report_line("90 days, all categories", timed_requests(client, url_90, requests)))
        print(report_line("90 days, category billing",
                          timed_requests(client, url_90 + "&category=billing", requests)))
        print(report_line("90 days, daily grain",
                          timed_requests(client, url_90 + "&grain=day", requests)))

        # New activity between requests: each request first folds ~200 fresh events in.
        fresh = list(generate_events(first_day=last, days=1, conversations_per_day=1500,
                                     seed=99, start_ids=10_000_000))
        timings = []
        for start in range(0, min(len(fresh), 200 * requests), 200):
            db.session.execute(insert(Event), [as_row(r) for r in fresh[start:start + 200]])
            db.session.commit()
            began = time.perf_counter()
            assert client.get(url_90).status_code == 200
            timings.append((time.perf_counter() - began) * 1000)
        print(report_line(f"90 days, +200 new events each ({len(timings)})", timings))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak memory (process): {peak:,.0f} MB")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    each_backend(args.db, lambda label, url: run(label, url, args.events, args.requests))


if __name__ == "__main__":
    main()
