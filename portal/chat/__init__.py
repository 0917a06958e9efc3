from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.chat import models  # noqa: F401 - registers the tables
    from portal.chat.cli import eval_command
    from portal.chat.transcripts import for_ticket
    from portal.chat.views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals["chat_transcript"] = for_ticket  # ticket pages show the chat
    app.cli.add_command(eval_command)
