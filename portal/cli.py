"""The `portal` console command: Flask's CLI bound to create_app."""

from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, run_command, with_appcontext

from portal import create_app
from portal.config import ConfigError


def _create_app() -> object:
    try:
        return create_app()
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_create_app, set_debug_flag=False)
def main() -> None:
    """Manage and run the portal."""


def _checked_app():
    from portal.core.startup import check_database

    try:
        check_database(current_app._get_current_object())  # type: ignore[attr-defined]
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


@main.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--reload/--no-reload", default=False)
@click.pass_context
@with_appcontext
def run(ctx: click.Context, host: str, port: int, reload: bool) -> None:
    """Development server (threaded), after checking the database and starting search."""
    _checked_app()
    _start_search()
    click.echo(f" * Portal on http://{host}:{port}/")
    ctx.invoke(run_command, host=host, port=port, reload=reload, debugger=False,
               with_threads=True)


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, type=int, show_default=True)
@click.option("--threads", default=16, type=int, show_default=True)
@with_appcontext
def serve(bind: str, workers: int, threads: int) -> None:
    """Production server: gunicorn with gthread workers (streamed chat answers hold a thread)."""
    _checked_app()
    engine = _start_search()
    env = dict(os.environ)
    if engine is not None and engine.is_managed and engine.url:
        # Workers share the child this process started instead of starting their own.
        env["MEILI_URL"], env["MEILI_MASTER_KEY"] = engine.url, engine.api_key
    args = [
        sys.executable, "-m", "gunicorn", "portal.wsgi:app",
        "--bind", bind, "--worker-class", "gthread", "--workers", str(workers),
        "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "30",
        "--access-logfile", "-",
    ]
    import subprocess

    raise SystemExit(subprocess.call(args, env=env))


def _start_search():
    from portal.kb.engine import EngineUnavailable, get_engine

    engine = get_engine()
    try:
        engine.start()
        click.echo(f" * Search: Meilisearch at {engine.url}")
    except EngineUnavailable as error:
        click.echo(f" * Search: {error}", err=True)
    return engine

