from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from portal.metrics import review_seed, rollup, seed

metrics_cli = AppGroup("metrics", help="Deflection metrics rollups.")


@metrics_cli.command("refresh")
def refresh() -> None:
    """Fold events recorded since the last refresh into the rollups."""
    started = time.perf_counter()
    count = rollup.refresh()
    click.echo(f"Folded {count} events in {time.perf_counter() - started:.1f} s.")


@metrics_cli.command("rebuild")
def rebuild() -> None:
    """Recompute every rollup from the whole event table."""
    started = time.perf_counter()
    count = rollup.rebuild()
    click.echo(f"Rebuilt from {count} events in {time.perf_counter() - started:.1f} s.")


@metrics_cli.command("seed-reviews")
@click.option("--count", default=60, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", "seed_value", default=7, show_default=True, type=int)
def seed_reviews(count: int, seed_value: int) -> None:
    """Record demo verdicts on sampled bot answers of the last 30 days."""
    rollup.refresh()
    done = review_seed.seed_reviews(count, seed=seed_value)
    click.echo(f"Recorded {done} demo reviews (notes say so; the CSV of reviews lists them).")


def _seed(days: int, visits_per_day: int) -> None:
    started = time.perf_counter()
    report = seed.seed_demo_activity(days, visits_per_day=visits_per_day)
    for problem in report.problems[:5]:
        click.echo(f"  {problem}")
    folded = rollup.refresh()
    click.echo(
        f"  {report.visits} visits, {report.searches} searches, {report.conversations} chats, "
        f"{report.tickets} tickets: {report.events} events backdated over {days} days, "
        f"{folded} folded into the metrics ({time.perf_counter() - started:.0f} s)."
    )


@click.command("seed")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 730))
@click.option("--visits-per-day", default=10, show_default=True, type=click.IntRange(1, 500))
def demo_seed(days: int, visits_per_day: int) -> None:
    """Generate realistic activity through the KB, chat and ticket services (backdated)."""
    _seed(days, visits_per_day)


def seed_demo_step() -> None:
    """The `demo setup` step: only on a portal with no activity yet."""
    if seed.has_activity():
        click.echo("  Activity already recorded: nothing seeded.")
        return
    _seed(90, 5)
    # Opt-in: a demo that should open on corrected figures sets how many reviews to fake.
    wanted = int(current_app.config.get("METRICS_REVIEW_SEED") or 0)
    if wanted > 0:
        done = review_seed.seed_reviews(wanted)
        click.echo(f"  {done} demo answer reviews recorded (METRICS_REVIEW_SEED).")
