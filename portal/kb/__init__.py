from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.cli import DEMO_STEPS
    from portal.kb import (  # noqa: F401 - routes, tables
        category_views,
        editor_views,
        engine,
        models,
        services,
    )
    from portal.kb.cli import kb_cli
    from portal.kb.views import bp

    engine.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(kb_cli)
    step = ("Syncing the knowledge base", services.sync_demo_content)
    if step not in DEMO_STEPS:
        DEMO_STEPS.append(step)
