"""`portal copilot reindex`: the similar-tickets index from the tickets already solved."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from portal.copilot import similar
from portal.kb.services import EngineApiError, EngineUnavailable
from portal.tickets import services as tickets

copilot_cli = AppGroup("copilot", help="The agent copilot.")


@copilot_cli.command("reindex")
@click.option("--batch", type=click.IntRange(1, 1000), default=64, show_default=True,
              help="Tickets embedded and sent to Meilisearch at a time.")
def reindex_command(batch: int) -> None:
    """Build the similar-tickets index from every solved or closed ticket an agent replied to.

    New solutions are added as tickets are solved; this is for the tickets solved before,
    a new Meilisearch server or a restored database. It empties the index first, so it can
    be rerun.
    """
    started = time.perf_counter()
    ids = tickets.solved_ticket_ids()
    try:
        with click.progressbar(length=len(ids), label="Indexing solved tickets",
                               show_pos=True) as bar:
            done = similar.reindex(ids, batch=batch, progress=bar.update)
    except (EngineUnavailable, EngineApiError) as exc:
        raise click.ClickException(f"Meilisearch is not available: {exc}") from exc
    click.echo(f"{done} solved tickets indexed in {time.perf_counter() - started:.1f}s.")
