"""The copilot's work done when the customer writes, not when the agent opens the ticket.

Tickets tell the copilot after a change is committed (`tickets.register_listener`). The
listener only puts the ticket on a queue: one worker thread per process computes the
copilot for the customer's new message (so the agent's first open reads the cached row) and
adds a solved ticket to the similar-tickets index. The customer's request pays for a queue
put; opening the ticket still computes the copilot when the worker has not got to it yet
(or the process restarted with work queued: the queue is in memory, the fallback is not).

`COPILOT_BACKGROUND`: "thread" (the default), "inline" (in the request, for tests and
single-shot scripts), "off" (the default under TESTING: other packages' tests create
tickets and must not start embedding in a thread behind them).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from flask import Flask, current_app

from portal.extensions import db
from portal.tickets import services as tickets

log = logging.getLogger(__name__)

_QUEUES_KEY = "portal.copilot.background"
# How long a command ending waits for the jobs already queued (portal.cli: a few seconds'
# work after a seeding).
EXIT_WAIT_SECONDS = 60.0


class _Worker:
    """One thread and its queue of (change, ticket id); the same job queued twice runs once."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.jobs: queue.Queue[tuple[tickets.TicketChange, int]] = queue.Queue()
        self.pending: set[tuple[tickets.TicketChange, int]] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def put(self, job: tuple[tickets.TicketChange, int]) -> None:
        with self.lock:
            if job in self.pending:
                return
            self.pending.add(job)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="copilot-background",
                                               daemon=True)
                self.thread.start()
        self.jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            with self.lock:
                self.pending.discard(job)
            try:
                with self.app.app_context():
                    try:
                        run_job(*job)
                    finally:
                        db.session.remove()
            except Exception:  # noqa: BLE001 - the ticket page computes it on open instead
                log.warning("copilot background job %s failed", job, exc_info=True)
            finally:
                self.jobs.task_done()

    def idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.jobs.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def run_job(change: tickets.TicketChange, ticket_id: int) -> None:
    from portal.copilot import services, similar

    if change == tickets.TicketChange.SOLVED:
        similar.index_ticket(ticket_id)
        return
    ticket = tickets.ticket_by_id(ticket_id)
    if ticket is not None:
        services.assist(ticket)


def chosen(app: Flask, setting: str, default: str, under_tests: str) -> str:
    """A copilot setting's value: the configured one, else its default (another one under
    TESTING, where other packages' tests must not start the copilot's work behind them)."""
    return str(app.config.get(setting) or (under_tests if app.testing else default))


def mode(app: Flask) -> str:
    return chosen(app, "COPILOT_BACKGROUND", "thread", "off")


def on_ticket_change(change: tickets.TicketChange, ticket_id: int) -> None:
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    how = mode(app)
    if how == "off":
        return
    if how == "inline":
        try:
            run_job(change, ticket_id)
        except Exception:  # noqa: BLE001 - as in the thread: never the customer's problem
            db.session.rollback()
            log.warning("copilot job for ticket %s failed", ticket_id, exc_info=True)
        return
    # Built once: a customer's request costs only the put.
    worker = app.extensions.get(_QUEUES_KEY) or app.extensions.setdefault(_QUEUES_KEY,
                                                                          _Worker(app))
    worker.put((change, ticket_id))


def wait_idle(app: Flask, timeout: float = 30.0) -> bool:
    """Until the worker has nothing left to do (benchmarks and tests); False on timeout."""
    worker: _Worker | None = app.extensions.get(_QUEUES_KEY)
    return worker is None or worker.idle(timeout)
