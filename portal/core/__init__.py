"""Cross-cutting pages: health, the layout's context, the demo setup command."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.cli import demo_cli, meili_cli
    from portal.core.views import bp, layout_context

    app.register_blueprint(bp)
    app.context_processor(layout_context)
    app.cli.add_command(demo_cli)
    app.cli.add_command(meili_cli)
