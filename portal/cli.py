"""The `portal` console command: Flask's CLI bound to create_app."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from portal import create_app


@click.group(cls=FlaskGroup, create_app=create_app, set_debug_flag=False)
def main() -> None:
    """Manage and run the portal."""
