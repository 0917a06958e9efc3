from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.tickets import services

tickets_cli = AppGroup("tickets", help="Ticket maintenance.")


@tickets_cli.command("sweep")
def sweep() -> None:
    """Record SLA breaches, escalate them, and close long-solved tickets (run from cron)."""
    report = services.sweep_slas()
    click.echo(
        f"SLA sweep: {report.breaches} new breach(es), {report.escalated} ticket(s) escalated, "
        f"{report.closed} solved ticket(s) closed."
    )
