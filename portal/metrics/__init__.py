"""Deflection metrics: rollups of the event stream, the manager dashboard, exports, demo data."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.cli import DEMO_STEPS, demo_cli
    from portal.metrics import models  # noqa: F401 - registers the rollup tables
    from portal.metrics.cli import demo_seed, metrics_cli, seed_demo_step
    from portal.metrics.gaps import bp as gaps_bp
    from portal.metrics.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(gaps_bp)
    app.cli.add_command(metrics_cli)
    if "seed" not in demo_cli.commands:
        demo_cli.add_command(demo_seed)
    step = ("Seeding 90 days of demo activity", seed_demo_step)
    if step not in DEMO_STEPS:
        DEMO_STEPS.append(step)
