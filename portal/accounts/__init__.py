from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts.cli import users_cli
    from portal.accounts.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
