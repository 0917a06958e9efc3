"""Agent copilot: on every ticket page a summary, the KB sections that fit the customer's
latest message, a drafted reply the agent edits before sending, similar solved tickets, and
the tone of each customer message.

It sits above both tickets and chat (it uses the chat's retrieval and answer composition for
tickets' messages), so neither of them imports it: the ticket page includes its partial
template, and tickets ask for a message's tone through the scorer registered here.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.copilot import views  # noqa: F401 - routes on bp
    from portal.copilot.background import on_ticket_change
    from portal.copilot.cli import copilot_cli
    from portal.copilot.sentiment import score_message
    from portal.copilot.views import bp
    from portal.tickets import services as tickets

    app.register_blueprint(bp)
    app.cli.add_command(copilot_cli)
    tickets.register_scorer(app, score_message)
    # Copilot computed when the customer writes, solved tickets indexed when solved.
    tickets.register_listener(app, on_ticket_change)
    from portal.chat.services import EVAL_SCORERS
    from portal.copilot.evaluation import CopilotScorer

    app.extensions.setdefault(EVAL_SCORERS, []).append(CopilotScorer())
