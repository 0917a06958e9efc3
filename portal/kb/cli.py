"""`portal kb sync` and `portal kb reindex`."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db
from portal.kb import search_index, sync
from portal.kb.engine import EngineApiError, EngineUnavailable
from portal.kb.models import KbArticle

kb_cli = AppGroup("kb", help="The knowledge base: content sync and the search index.")


@kb_cli.command("sync")
@click.option("--content", "content_dir", type=click.Path(file_okay=False), default=None,
              help="Content directory (default: CONTENT_DIR).")
@click.option("--no-chunks", is_flag=True, help="Keyword index only: skip the chatbot's chunks.")
def sync_command(content_dir: str | None, no_chunks: bool) -> None:
    """Load changed Markdown into the database and the search indexes."""
    report = sync.sync_content(content_dir, progress=True, chunks=False if no_chunks else None,
                               wait=True)
    for problem in report.problems:
        click.echo(str(problem), err=True)
    click.echo(report.summary())
    if report.errors:
        raise SystemExit(1)


@kb_cli.command("reindex")
@click.option("--content", "content_dir", type=click.Path(file_okay=False), default=None)
@click.option("--no-chunks", is_flag=True,
              help="Articles index only: leave the chatbot's passages as they are.")
def reindex_command(content_dir: str | None, no_chunks: bool) -> None:
    """Rebuild the search indexes from the database, e.g. on a new Meilisearch server.

    The articles index is built anew and swapped in (search never goes empty); then the
    chatbot's passages are refreshed, reusing the vectors already in their index.
    """
    started = time.perf_counter()
    root = sync.content_root(content_dir)
    staging = search_index.index_uid(f"_rebuild_{int(time.time())}")
    try:
        synonyms, stop_words = search_index.load_synonyms(root), search_index.load_stop_words(root)
        tasks = search_index.ensure_index(search_index.index_uid(), synonyms, stop_words)
        tasks += search_index.ensure_index(staging, synonyms, stop_words)
        rows = list(db.session.scalars(select(KbArticle).where(KbArticle.status == "published")))
        documents = []
        with click.progressbar(rows, label="Preparing documents", show_pos=True) as bar:
            for row in bar:
                documents.append(sync.document_for_row(row))
        tasks += search_index.upsert_documents(documents, staging)
        click.echo(f"Indexing {len(documents)} articles into {staging}…")
        errors = search_index.wait(tasks, timeout=900)
        if errors:
            raise click.ClickException("indexing failed: " + "; ".join(errors))
        search_index.swap_in(staging)
        # A key scoped to the portal's indexes cannot see swap tasks (they belong to no
        # single index). Deleting the staging index is queued behind the swap on the same
        # index, so its end means the swap ended; the count shows whether it took.
        search_index.wait(search_index.delete_index(staging), timeout=120)
        live_count = search_index.document_count()
        if live_count != len(documents):
            raise click.ClickException(
                f"the swap did not take: the live index holds {live_count} articles, "
                f"expected {len(documents)}"
            )
    except (EngineUnavailable, EngineApiError) as exc:
        raise click.ClickException(f"Meilisearch is unreachable, nothing changed: {exc}") from exc
    click.echo(f"Swapped in a fresh index of {len(documents)} articles "
               f"in {time.perf_counter() - started:.1f} s.")
    if no_chunks:
        return
    from portal.kb.chunks import index_article_chunks

    click.echo(f"Embedding {len(rows)} articles for the chatbot…")
    try:
        index_article_chunks([sync.parsed_from_row(row) for row in rows])
    except (EngineUnavailable, EngineApiError) as exc:
        raise click.ClickException(f"the chatbot's passages were not rebuilt: {exc}") from exc
    click.echo("The chatbot's passages are up to date.")
