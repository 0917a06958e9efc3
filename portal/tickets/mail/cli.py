from __future__ import annotations

import imaplib
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from portal.tickets.mail import imap, intake

mail_cli = AppGroup("mail", help="Email intake: mail to the support address becomes tickets.")


@mail_cli.command("fetch")
def fetch() -> None:
    """Turn unseen mail in the IMAP folder into tickets and replies (run from cron)."""

    def with_bar(uids: list[bytes]) -> Iterator[bytes]:
        with click.progressbar(uids, label="Fetching mail", show_pos=True) as bar:
            yield from bar

    try:
        report = imap.fetch(progress=with_bar)
    except (imap.MailboxError, imaplib.IMAP4.error, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Mail fetch: {report.summary()}.")
    if report.failed:
        raise SystemExit(1)


@mail_cli.command("serve")
@click.option("--host", default=None, help="Address to listen on (MAIL_LISTEN_HOST).")
@click.option("--port", default=None, type=int, help="Port (MAIL_LISTEN_PORT).")
@click.option("--lmtp", is_flag=True, help="Speak LMTP (for delivery from Postfix) not SMTP.")
def serve(host: str | None, port: int | None, lmtp: bool) -> None:
    """Receive mail directly over SMTP or LMTP until stopped."""
    from portal.tickets.mail.listener import start_listener

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    host = host or app.config["MAIL_LISTEN_HOST"]
    port = port or int(app.config["MAIL_LISTEN_PORT"])
    controller = start_listener(app, host, port, lmtp=lmtp)
    click.echo(f" * Mail intake listening for {'LMTP' if lmtp else 'SMTP'} on {host}:{port}")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@mail_cli.command("stats")
@click.option("--days", default=7, show_default=True, help="Look back this many days.")
def stats(days: int) -> None:
    """How received mail ended: tickets, replies, and what was ignored and why."""
    counts = intake.counts(timedelta(days=days))
    if not counts:
        click.echo(f"No mail in the last {days} days.")
        return
    for outcome, total in sorted(counts.items()):
        click.echo(f"{outcome:12} {total}")
