from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from portal.accounts.cli import DEMO_PASSWORD, ensure_demo_users
from portal.kb.meili_binary import BinaryError, fetch_binary, locate_binary

demo_cli = AppGroup("demo", help="Demo accounts and content for trying the portal.")
meili_cli = AppGroup("meili", help="The managed Meilisearch binary.")


@demo_cli.command("users")
def demo_users() -> None:
    """Create one demo account per role (idempotent) and print the logins."""
    logins = ensure_demo_users()
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for email, role in logins:
        click.echo(f"  {role:<9} {email}")


# Other packages add their demo steps (content sync, activity) to this list.
DEMO_STEPS: list[tuple[str, Callable[[], None]]] = []


@demo_cli.command("setup")
def demo_setup() -> None:
    """Everything `make run` needs: demo accounts, the KB synced, demo activity."""
    # Accounts first: the steps put the demo agents in teams and let them work tickets.
    ensure_demo_users()
    for title, step in DEMO_STEPS:
        click.echo(f"== {title}")
        step()
    logins = ensure_demo_users()
    click.echo("")
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for email, role in logins:
        click.echo(f"  {role:<9} {email}")


@meili_cli.command("fetch")
def fetch() -> None:
    """Fetch and verify the pinned Meilisearch binary unless one is already available."""
    instance = Path(current_app.config["INSTANCE_DIR"]).resolve()
    found = locate_binary(current_app.config.get("MEILI_BIN", ""), instance)
    if found:
        click.echo(f"Meilisearch: {found}")
        return
    try:
        path = fetch_binary(instance)
    except BinaryError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Meilisearch fetched and verified: {path}")


@meili_cli.command("create-key")
@click.option("--url", envvar="MEILI_URL", required=True, help="The Meilisearch server.")
@click.option("--master-key", prompt=True, hide_input=True,
              help="Used once to create the key; asked for when not given.")
def create_key(url: str, master_key: str) -> None:
    """Print an API key for MEILI_API_KEY, scoped to this portal's indexes."""
    from portal.kb.engine import EngineApiError, EngineUnavailable, create_scoped_key

    prefix = current_app.config["MEILI_INDEX_PREFIX"]
    try:
        key = create_scoped_key(url, master_key, prefix)
    except EngineUnavailable as error:
        raise click.ClickException(str(error)) from error
    except EngineApiError as error:
        raise click.ClickException(f"Meilisearch refused: {error.message}") from error
    click.echo(f"# Scoped to indexes {prefix}_*; set it on every portal node:", err=True)
    click.echo(f"MEILI_API_KEY={key}")
