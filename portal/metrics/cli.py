from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from portal.metrics import rollup

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
