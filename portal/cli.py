"""The `portal` console command: Flask's CLI bound to create_app."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

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


@main.result_callback()
def _finish_background_work(*_: object, **__: object) -> None:
    """A command that wrote tickets (`portal demo setup` seeds a hundred, `portal mail
    fetch` files mail) leaves the copilot's worker thread busy: it must finish before the
    interpreter tears down the thread pools and the managed Meilisearch under it (that
    aborted `make run` once: "terminate called without an active exception")."""
    from flask.cli import ScriptInfo

    from portal.copilot import background

    info = click.get_current_context().find_object(ScriptInfo)
    if info is None:
        return
    if not background.wait_idle(info.load_app(), background.EXIT_WAIT_SECONDS):
        click.echo("The copilot's background work did not finish; the ticket page computes "
                   "what is left when a ticket is opened.", err=True)


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
    # kill, systemd and container runtimes stop a process with SIGTERM, whose default
    # action skips the atexit handlers: the managed Meilisearch child would outlive us.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    click.echo(f" * Portal on http://{host}:{port}/")
    ctx.invoke(run_command, host=host, port=port, reload=reload, debugger=False,
               with_threads=True)


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, type=int, show_default=True,
              help="Processes; about one per core.")
@click.option("--threads", default=16, type=int, show_default=True,
              help="Requests served at once by each process, streams included.")
@click.option("--timeout", default=60, type=int, show_default=True,
              help="Seconds a silent worker process may hang before it is replaced.")
@click.option("--keep-alive", default=75, type=int, show_default=True,
              help="Seconds an idle client connection stays open; above the proxy's own idle "
                   "timeout, so the proxy never sends on a connection the portal just closed.")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@with_appcontext
def serve(bind: str, workers: int, threads: int, timeout: int, keep_alive: int,
          access_log: bool) -> None:
    """Production server: gunicorn with gthread workers.

    A streamed chat answer keeps its request open for seconds. With gthread it holds one
    thread, so the other threads of the process go on serving pages; a sync worker would
    be blocked whole, and gevent would need every library (psycopg, onnxruntime, the
    OpenAI client) to cooperate with its monkey-patching.
    """
    _checked_app()
    engine = _start_search()
    args = [
        sys.executable, "-m", "gunicorn", "portal.wsgi:app",
        "--bind", bind, "--worker-class", "gthread", "--workers", str(workers),
        "--threads", str(threads), "--timeout", str(timeout), "--graceful-timeout", "30",
        # gthread parks idle connections in its poller, so a long keep-alive costs no thread.
        "--keep-alive", str(keep_alive),
        # No control socket: its default path is per user, so two portals on one
        # machine would fight over it, and nothing here uses it.
        "--no-control-socket",
    ]
    if access_log:
        args += ["--access-logfile", "-"]
    if engine is None or not engine.is_managed:
        # gunicorn takes over this process, so signals from a supervisor reach it directly.
        os.execv(sys.executable, args)  # noqa: S606 - an argument list, no shell
    env = dict(os.environ)
    if engine.url:
        # Workers share the child this process started instead of starting their own.
        env["MEILI_URL"], env["MEILI_API_KEY"] = engine.url, engine.api_key
    raise SystemExit(_supervise(args, env))


def _supervise(args: list[str], env: dict[str, str]) -> int:
    """Run gunicorn as a child, passing on stop and reload signals.

    This process stays because it owns the managed Meilisearch, which it stops on exit.
    """
    import signal
    import subprocess

    child = subprocess.Popen(args, env=env)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return child.wait()


def _start_search():
    from portal.kb.engine import EngineUnavailable, get_engine

    engine = get_engine()
    try:
        engine.start()
        click.echo(f" * Search: Meilisearch at {engine.url}")
    except EngineUnavailable as error:
        click.echo(f" * Search: {error}", err=True)
    return engine



@main.command("init", with_appcontext=False)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The business's name, as customers know it.")
def init(folder: Path, name: str) -> None:
    """Start a new help center: a content folder with its site file, example articles in
    two categories, synonyms, routing rules and macros, each commented."""
    from portal.core.starter import StarterError, write_starter

    try:
        written = write_starter(folder, name)
    except StarterError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Wrote {len(written)} files for {' '.join(name.split())} in {folder}/")
    click.echo("Next:")
    click.echo(f"  CONTENT_DIR={folder} portal kb sync     # load it")
    click.echo(f"  CONTENT_DIR={folder} make run           # or serve it with the demo logins")
    click.echo(f"Then edit {folder}/_site.yml for the colours, logo, footer and categories.")
