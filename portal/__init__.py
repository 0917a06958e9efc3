"""Portal: the application factory and nothing else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from portal.config import Settings


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = Settings.from_env(os.environ, overrides)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.from_mapping(settings.flask_config())
    app.extensions["portal.settings"] = settings
    if settings.TRUSTED_PROXIES:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind a reverse proxy every request comes from the proxy: per-address rate
        # limits and logs need the client address it forwards.
        hops = settings.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    from portal import errors, ratelimit, security, visitor, web
    from portal.extensions import csrf, db, login_manager, migrate, use_write_ahead_log

    db.init_app(app)
    use_write_ahead_log(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    web.init_app(app)
    security.init_app(app)
    visitor.init_app(app)
    ratelimit.init_app(app)
    errors.init_app(app)

    from portal import accounts, chat, copilot, core, kb, metrics, tickets

    for feature in (core, accounts, kb, chat, tickets, copilot, metrics):
        feature.init_app(app)
    return app
