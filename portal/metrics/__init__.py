"""Deflection metrics: rollups of the event stream, the manager dashboard, exports, demo data."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.metrics import models  # noqa: F401 - registers the rollup tables
    from portal.metrics.cli import metrics_cli
    from portal.metrics.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(metrics_cli)
