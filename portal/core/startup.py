"""Checks run before serving, so a bad setting fails loudly at start-up, not per request."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from portal.config import ConfigError
from portal.extensions import db


def check_database(app: Flask) -> None:
    raw = app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        shown = make_url(raw).render_as_string(hide_password=True)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {raw!r}") from exc
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            original = getattr(exc, "orig", None)
            reason = str(original or exc).strip().splitlines()[0]
            raise ConfigError(
                f"DATABASE_URL: cannot connect to {shown} ({reason}). "
                "Check the setting and that the database server is running."
            ) from exc
