"""Tickets: hand-offs and form requests, the customer's view, the agent queue, SLAs, CSAT."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.tickets import admin_views, agent_views, views  # noqa: F401 - routes on bp
    from portal.tickets.blueprint import bp
    from portal.tickets.cli import tickets_cli
    from portal.tickets.mail import views as mail_views  # noqa: F401 - routes on bp
    from portal.tickets.mail.cli import mail_cli
    from portal.tickets.rendering import message_html

    app.register_blueprint(bp)
    app.cli.add_command(tickets_cli)
    app.cli.add_command(mail_cli)
    from portal.core.cli import DEMO_STEPS
    from portal.tickets.cli import demo_teams_step

    step = ("Teams and tiers", demo_teams_step)
    if step not in DEMO_STEPS:
        DEMO_STEPS.append(step)
    app.add_template_filter(message_html, "ticket_message")
