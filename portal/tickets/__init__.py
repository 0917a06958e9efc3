"""Tickets: hand-offs and form requests, the customer's view, the agent queue, SLAs, CSAT."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.tickets import agent_views  # noqa: F401 - registers the agent routes on bp
    from portal.tickets.cli import tickets_cli
    from portal.tickets.rendering import message_html
    from portal.tickets.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(tickets_cli)
    app.add_template_filter(message_html, "ticket_message")
