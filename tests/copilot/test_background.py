"""The copilot's worker thread and the commands that leave it work."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask.cli import ScriptInfo

from portal.cli import main
from portal.copilot import background
from portal.tickets import services as tickets


def test_a_command_ends_only_after_the_copilot_work_it_queued(app: Any, monkeypatch: Any
                                                              ) -> None:
    # `portal demo setup` seeds tickets and the worker computes their copilots: the process
    # ending under it aborted `make run` ("terminate called without an active exception").
    finished = threading.Event()

    def slow_job(change: Any, ticket_id: int) -> None:
        time.sleep(0.5)
        finished.set()

    monkeypatch.setattr(background, "run_job", slow_job)
    app.config["COPILOT_BACKGROUND"] = "thread"

    @main.command("queue-copilot-work")
    def queue_copilot_work() -> None:
        background.on_ticket_change(tickets.TicketChange.CUSTOMER_WROTE, 1)

    try:
        result = app.test_cli_runner().invoke(main, ["queue-copilot-work"],
                                              obj=ScriptInfo(create_app=lambda: app))
    finally:
        main.commands.pop("queue-copilot-work", None)
    assert result.exit_code == 0, result.output
    assert finished.is_set()
